"""This notebook's background runs: follow them, re-attach after a restart, settle the chain, wait, show.

One ``Tasks`` per cell runner (``tasks_of(runner)``). It owns the trackers of this kernel, keyed by
interaction id, and the rule by which a finished run joins its chain:

* The run's turn was recorded (with its interaction id) the moment the service created it, with the
  chain's head at that time as its parent, so after a kernel restart ``attach`` finds every run still
  ``in_progress`` in the store and follows it again.
* A completed run becomes the chain's head through ``Chain.adopt``: as usual when the head has not moved;
  and also when cells ran meanwhile and moved the head, as long as it finished after the head's turn was
  sent: the next ``%%gemini`` cell then asks about the report. The turns in between stay in the history
  and the result says how to continue them (``--from``). A reset chain (``--new``) is never taken over.
* A run that ended ``idle`` succeeded (``statuses.py``) and joins its chain as a completed one does.
* Failed, cancelled and ``budget_exceeded`` runs only update their turn; the head stays.
* Deep Research plans (``--plan``) are remembered in ``plans`` (``planning.py``): which run proposed which
  plan on which chain, and whether it was revised or approved since.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..backend import Backend, BackendError
from ..chain import PENDING, STATUSES, ChainStore
from ..turn import Result, absorb_interaction
from .planning import Plans
from .state import Listeners, Timing, epoch
from .tracker import Tracker


class Runner(Protocol):
    """What ``Tasks`` uses of the cell runner (``cell.CellRunner``, which imports this module): its backend,
    chain store and notebook key; ``tracking`` (a ``Timing``) when the magics set one."""

    backend: Backend
    store: ChainStore
    notebook: str


def tasks_of(runner: Runner) -> Tasks:
    """The runner's ``Tasks``, created on first use."""
    tasks = getattr(runner, "research_tasks", None)
    if tasks is None:
        tasks = Tasks(runner)
        runner.research_tasks = tasks  # type: ignore[attr-defined]
    return tasks


@dataclass
class Row:
    """One background run as the panel and ``%gemini tasks`` list it."""

    interaction_id: str
    agent: str
    status: str
    started: float
    elapsed: float | None
    chain: str
    prompt: str
    tracker: Tracker | None
    finished: float | None = None
    """When it ended (seconds since the epoch), if known."""
    turn_id: int | None = None


class Tasks:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.trackers: dict[str, Tracker] = {}
        self.plans = Plans()
        self._lock = threading.RLock()
        self._listeners = Listeners()

    @property
    def backend(self) -> Any:
        return self.runner.backend

    @property
    def store(self) -> Any:
        return self.runner.store

    @property
    def notebook(self) -> str:
        return self.runner.notebook

    def timing(self) -> Timing:
        return getattr(self.runner, "tracking", None) or Timing()

    # -- following --------------------------------------------------------------------------------

    def follow(
        self,
        interaction_id: str,
        agent: str,
        chain_name: str | None,
        turn_id: int | None,
        started: float | None = None,
        notes: list[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Tracker:
        """Follow a background interaction (once per kernel: an existing live tracker is returned).
        ``params``: the request that created it, which continuation hops build on (``hops.py``)."""
        with self._lock:
            existing = self.trackers.get(interaction_id)
            if existing is not None and not existing.stopped:
                return existing

            def on_finish(tracker: Tracker, result: Result) -> str:
                result.chain = chain_name  # the report's provenance (render/view.py)
                notes = [self.plans.finished(result, interaction_id)]
                if chain_name is not None and turn_id is not None:
                    notes.insert(0, self._settle(chain_name, turn_id, tracker, result))
                return " ".join(n for n in notes if n)

            tracker = Tracker(
                self.backend,
                interaction_id,
                agent,
                started=started,
                timing=self.timing(),
                on_finish=on_finish,
                notes=notes,
                params=params,
            )
            tracker.chain = chain_name  # for the widget's provenance
            self.trackers[interaction_id] = tracker
        tracker.subscribe(self._changed)
        tracker.start()
        self._changed(tracker)
        return tracker

    def started(
        self,
        result: Result,
        wait: bool = False,
        show_thoughts: bool = True,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """A cell created a background interaction (with ``params``): follow it; the live handle, or the
        end with ``wait``."""
        assert result.id is not None
        found = self.store.find(result.id)
        chain_name, turn = (found[1], found[2]) if found else (None, None)
        parent = turn.parent_id if turn else None
        self.plans.started(result.id, result.model or "?", chain_name, parent, params)
        tracker = self.follow(
            result.id,
            result.model or "?",
            chain_name,
            turn.id if turn else None,
            started=turn.created if turn else None,
            notes=result.notes,
            params=params,
        )
        run = Research(tracker, self, show_thoughts)
        if not wait:
            return run
        try:
            return run.wait()
        except KeyboardInterrupt:
            print(stopped_waiting(tracker.id))
            return run

    def attach(self) -> list[Tracker]:
        """Follow every run of this notebook the store still lists as running (after a restart)."""
        attached = []
        for turn in self.store.background(self.notebook, pending_only=True):
            if not turn.interaction_id:
                continue
            tracker = self.trackers.get(turn.interaction_id)
            if tracker is None or tracker.stopped:
                attached.append(
                    self.follow(turn.interaction_id, turn.model, turn.chain, turn.id, started=turn.created)
                )
        return attached

    def close(self) -> None:
        """Stop following (the kernel or the extension goes away); the runs go on on the service."""
        with self._lock:
            trackers = list(self.trackers.values())
        for tracker in trackers:
            tracker.stop()

    # -- listeners (the panel) --------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Tracker], None]) -> Callable[[], None]:
        """Hear about every run's changes (the panel); returns the function that unsubscribes."""
        return self._listeners.add(listener)

    def _changed(self, tracker: Tracker) -> None:
        for hop in tracker.state.hops:  # a run continued past the output limit answers to each hop's id
            self.trackers.setdefault(hop, tracker)
        self._listeners.call(tracker)

    # -- the chain --------------------------------------------------------------------------------

    def _settle(self, chain_name: str, turn_id: int, tracker: Tracker, result: Result) -> str:
        """Record the outcome on the run's turn; a note for the user when the chain's story is unusual."""
        chain = self.store.chain(self.notebook, chain_name)
        fields = result.turn_fields()
        if result.status not in ("completed", "idle") or result.error:  # idle: a success (statuses.py)
            status = result.status if result.status in STATUSES else "failed"
            chain.update(turn_id, status=status, **fields)
            return ""
        before = chain.head
        turn = chain.turn(turn_id)
        finished = tracker.state.started + result.elapsed
        if chain.adopt(turn_id, finished, **fields):
            if before is not None and before not in (turn.predecessor, result.id):
                return (
                    f"other cells moved chain '{chain_name}' on while this ran; the conversation now "
                    f"continues from this report (they stay in %gemini history: --from {before} "
                    "continues them)"
                )
            return ""
        return (
            f"not continued on chain '{chain_name}' (it was reset, or moved on after this finished): "
            f"ask about this report with %%gemini --from {result.id}"
        )

    # -- lookups ----------------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Every background run of this notebook, oldest first, with live status where followed."""
        rows: dict[str, Row] = {}
        for turn in self.store.background(self.notebook):
            if not turn.interaction_id:
                continue
            tracker = self.trackers.get(turn.interaction_id)
            state = tracker.snapshot() if tracker is not None else None
            # A run its chain has settled ended as the chain says, whatever a tracker that did not see
            # the end (the server's read-only one, stalled or stopped) last read.
            settled = turn.status not in PENDING
            status = state.status if state is not None and not settled else turn.status
            live = state is not None and (state.finished is not None or state.mode not in ("stopped", "lost"))
            elapsed = state.elapsed() if state is not None and live else None
            finished = state.finished if state is not None and state.finished is not None else turn.finished
            rows[turn.interaction_id] = Row(
                turn.interaction_id,
                turn.model,
                status,
                turn.created,
                elapsed,
                turn.chain or "",
                turn.prompt,
                tracker,
                finished,
                turn.id,
            )
        return list(rows.values())

    def find(self, interaction_id: str | None, running: bool = False) -> Tracker | None:
        """The tracker of ``interaction_id``, following it first if the store knows it as running;
        without an id, the newest (running, if asked) run of this notebook."""
        if interaction_id:
            tracker = self.trackers.get(interaction_id)
            if tracker is not None and not tracker.stopped:
                return tracker
            found = self.store.find(interaction_id)
            if found is not None and found[2].status in PENDING:
                notebook, chain_name, turn = found
                mine = notebook == self.notebook  # another notebook's run is followed, not settled
                return self.follow(
                    interaction_id,
                    turn.model,
                    chain_name if mine else None,
                    turn.id if mine else None,
                    started=turn.created,
                )
            return tracker
        self.attach()
        with self._lock:
            trackers = list(self.trackers.values())
        if running:
            trackers = [t for t in trackers if not t.done and not t.stopped]
        return max(trackers, key=lambda t: t.state.started, default=None)

    def report(self, interaction_id: str) -> Result:
        """A finished run's result: from this kernel's tracker, else from the service, else from the
        text the chain store kept (when the service no longer has it). Raises ``BackendError``."""
        tracker = self.trackers.get(interaction_id)
        if tracker is not None and tracker.result is not None:
            return tracker.result
        found = self.store.find(interaction_id)
        chain = found[1] if found is not None and found[0] == self.notebook else None  # for its provenance
        try:
            interaction = self.backend.get(interaction_id)
        except BackendError as exc:
            if found is None or not found[2].answer:
                raise
            turn = found[2]
            from .. import blocks as b

            return Result(
                interaction_id,
                turn.status,
                turn.model,
                blocks=[b.TextBlock(turn.answer)],
                backend=self.backend.label_for(interaction_id),
                notes=[f"the service no longer returns it ({exc}); this is the text this notebook kept"],
                chain=chain,
            )
        model = getattr(interaction, "agent", None) or getattr(interaction, "model", None)
        result = Result(
            interaction_id, str(interaction.status), model, backend=self.backend.label_for(interaction_id)
        )
        result.chain = chain
        absorb_interaction(result, interaction)
        if result.error:
            result.error = self.backend.scrub(result.error)
        created, updated = epoch(interaction.created), epoch(interaction.updated)
        if created is not None and updated is not None:
            result.elapsed = max(0.0, updated - created)
        return result


class Research:
    """What a background cell gives back: the run, followed by this kernel, shown as a live widget.

    ``wait()`` blocks until it ends and returns the final result (``.text``, ``.blocks`` …); ``cancel()``
    asks the service to stop it. ``result``/``text`` are there once it completed.
    """

    ok = True  # the cell that started it succeeded

    def __init__(self, tracker: Tracker, tasks: Tasks, show_thoughts: bool = True) -> None:
        self.tracker = tracker
        self.tasks = tasks
        self.show_thoughts = show_thoughts

    @property
    def id(self) -> str:
        return self.tracker.id

    @property
    def agent(self) -> str:
        return self.tracker.state.agent

    @property
    def status(self) -> str:
        return self.tracker.state.status

    @property
    def done(self) -> bool:
        return self.tracker.done

    @property
    def result(self) -> Result | None:
        return self.tracker.result

    @property
    def text(self) -> str:
        return self.result.text if self.result is not None else ""

    @property
    def thoughts(self) -> list[str]:
        return self.tracker.snapshot().thoughts

    @property
    def error(self) -> str | None:
        return self.tracker.state.error

    def wait(self, timeout: float | None = None) -> StaticResult:
        """Block until the run ends; its result, shown without widgets (deterministic for nbval).

        Ctrl-C raises KeyboardInterrupt here and leaves the run going. TimeoutError after ``timeout``.
        """
        if not self.tracker.wait(timeout):
            raise TimeoutError(f"{self.id} is still {self.status}")
        assert self.tracker.result is not None
        return static_result(self.tracker.result, self.show_thoughts)

    def cancel(self) -> str:
        return self.tracker.cancel()

    def widget(self) -> Any:
        """A new live progress widget for this run (``ipywidgets``)."""
        from .progress import ProgressWidget

        return ProgressWidget(self.tracker, self.show_thoughts).box

    def __repr__(self) -> str:
        return f"<gemini Research {self.id} {self.status}>"

    def _ipython_display_(self) -> None:
        from .progress import show

        show(self.tracker, self.show_thoughts)


class StaticResult(Result):
    """A result shown as static Markdown only (no widget): what ``--wait`` and ``%gemini wait`` give, so
    a notebook run by papermill or nbval holds the same output whatever front end ran it."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        from ..render import static, view

        data = static.bundle(view.markdown(self), self.blocks)
        data["text/plain"] = view.plain(self)
        return data, view.metadata(self)


def static_result(result: Result, show_thoughts: bool = True) -> StaticResult:
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(Result)}
    values["show_thoughts"] = show_thoughts
    return StaticResult(**values)


def stopped_waiting(interaction_id: str) -> str:
    return (
        f"Stopped waiting; {interaction_id} goes on in the background "
        f"(%gemini wait {interaction_id} waits again, %gemini panel shows it)."
    )
