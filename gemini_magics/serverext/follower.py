"""Following background runs from the server: research runs and batch jobs outlive their kernels here.

The rules are the kernels' own, reused rather than re-implemented: each research run is followed by a
``research.tracker.Tracker`` (resume, poll with capped backoff, stall watchdog), created through
``research.tasks.Tasks.follow``, whose finish hook settles the run's turn on its chain exactly as the kernel
would (``Tasks._settle``: ``Chain.adopt`` or the failed status). A batch job is followed by the map
package's ``BatchEngine``, which collects its rows into the map store as the kernel would.

What changes is *who* settles. A scan (every ``interval`` seconds, in a daemon thread of its own, never on
the server's event loop) reads the stores:

* A pending research turn whose kernel (host and pid of the process that recorded it) is gone is followed
  and settled here. One whose kernel is alive is followed read-only (``follow_live``: the sidebar shows
  its status and latest thought), and settled by that kernel; if the kernel dies before the end, the next
  scan follows the run again and settles it. A turn whose owner cannot be told (another host) is left alone.
* Before following a run whose kernel is gone, the service is asked once whether it knows the id: a run
  made on another backend (a kernel's own emulator, which died with it, or another endpoint) must not be
  settled as "gone" by a server that talks to a different one. Unknown ids are asked again after
  ``RECHECK`` seconds.
* A running batch job whose kernel is gone is followed until it ends; its rows are stored as answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..backend import Backend, BackendError
from ..chain import ChainStore, Turn
from ..mapping import cost, explainer, reader
from ..mapping.batch import BatchEngine
from ..mapping.engine import Outcome
from ..mapping.job import JobError
from ..mapping.store import JobInfo, MapStore
from ..research.state import Timing
from ..research.tasks import Tasks
from ..research.tracker import Tracker
from ..turn import Result

RECHECK = 300.0  # seconds before asking again about a run the service did not know
FORGET = 600.0  # seconds after its end a settled run's tracker (and its report) is let go; the store stays
log = logging.getLogger("gemini_magics.serverext")


@dataclass
class Runner:
    """What ``Tasks`` needs of a cell runner: one per notebook, all sharing the server's backend and store."""

    backend: Backend
    store: ChainStore
    notebook: str
    tracking: Timing


class ServerTasks(Tasks):
    """A notebook's runs as the server follows them: settled here only when their kernel is gone."""

    def _settle(self, chain_name: str, turn_id: int, tracker: Tracker, result: Result) -> str:
        if self.store.owner_alive(turn_id) is not False:
            return ""  # its kernel settles it (a later scan settles it if the kernel dies first)
        note = super()._settle(chain_name, turn_id, tracker, result)
        log.info(
            "gemini-magics: %s ended %s; its chain is updated (its kernel was gone)",
            tracker.id,
            result.status,
        )
        return note


class ServerBatch(BatchEngine):
    """A stored ``--batch`` job followed to its end; it never submits anything."""

    model = ""

    async def _submit(self) -> str:
        raise JobError("the batch no longer runs: nothing to follow")

    def _collect(self, job: Any, order: list[str]) -> None:
        self.model = str(getattr(job, "model", "") or "").removeprefix("models/")
        super()._collect(job, order)


class Follower:
    """The stores' pending runs, followed; ``tasks_for`` gives the notebook's ``Tasks`` to the API too."""

    def __init__(
        self,
        backend: Backend,
        store: ChainStore,
        maps: MapStore,
        timing: Timing,
        interval: float = 2.0,
        follow_live: bool = True,
    ) -> None:
        self.backend, self.store, self.maps, self.timing = backend, store, maps, timing
        self.interval, self.follow_live = interval, follow_live
        self.batches: dict[str, ServerBatch] = {}  # job key → its engine, while followed here
        self._loops: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = {}
        self._tasks: dict[str, ServerTasks] = {}
        self._unknown: dict[str, float] = {}  # interaction id → when the service did not know it
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def tasks_for(self, notebook: str) -> ServerTasks:
        with self._lock:
            tasks = self._tasks.get(notebook)
            if tasks is None:
                tasks = ServerTasks(Runner(self.backend, self.store, notebook, self.timing))  # type: ignore[arg-type]
                self._tasks[notebook] = tasks
            return tasks

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self._run, name="gemini-server-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following (the server goes away); the runs go on on the service, the stores stay pending."""
        self._halt.set()
        with self._lock:
            tasks = list(self._tasks.values())
            loops = list(self._loops.values())
        for notebook_tasks in tasks:
            notebook_tasks.close()
        for loop, task in loops:  # stop following (never cancel the batch itself)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                self.scan()
            except Exception as exc:  # a bad row or a locked file must not end the following
                log.warning("gemini-magics: scanning the stores failed: %s", self.backend.scrub(str(exc)))
            self._halt.wait(self.interval)

    # -- one pass --------------------------------------------------------------------------------------

    def scan(self) -> None:
        pending = self.store.pending_background()
        for notebook, turn in pending:
            if self._halt.is_set():
                return
            self._consider(notebook, turn)
        self._forget({turn.interaction_id for _, turn in pending})
        for info in self.maps.jobs():
            if info.kind == "batch" and info.state == "running" and info.owner_alive is False:
                self._follow_batch(info)

    def _consider(self, notebook: str, turn: Turn) -> None:
        if not turn.interaction_id or turn.id is None:
            return
        tasks = self.tasks_for(notebook)
        tracker = tasks.trackers.get(turn.interaction_id)
        if tracker is not None and not tracker.done and not tracker.stopped:
            return
        alive = self.store.owner_alive(turn.id)
        if alive is None or (alive and (tracker is not None or not self.follow_live)):
            return  # another host's, or its kernel follows it (and settles it)
        if not self._known(turn.interaction_id):
            return
        if tracker is not None:  # it ended while its kernel lived, which died before settling it
            tasks.trackers.pop(turn.interaction_id, None)
        if not alive:
            log.info("gemini-magics: following %s (its kernel is gone)", turn.interaction_id)
        tasks.follow(turn.interaction_id, turn.model, turn.chain, turn.id, started=turn.created)

    def _forget(self, pending: set[str | None]) -> None:
        """Let go of trackers of runs that ended long ago and are settled (the list reads the store then)."""
        now = time.time()
        with self._lock:
            tasks = list(self._tasks.values())
        for notebook_tasks in tasks:
            for interaction_id, tracker in list(notebook_tasks.trackers.items()):
                finished = tracker.state.finished
                if finished is not None and now - finished > FORGET and interaction_id not in pending:
                    notebook_tasks.trackers.pop(interaction_id, None)

    def _known(self, interaction_id: str) -> bool:
        """Whether the server's backend knows the run (asked once, again after ``RECHECK`` if not)."""
        asked = self._unknown.get(interaction_id)
        if asked is not None and time.monotonic() - asked < RECHECK:
            return False
        try:
            self.backend.get(interaction_id)
        except BackendError as exc:
            if exc.status != 404:
                return False  # the service is unreachable now: ask on the next scan
            self._unknown[interaction_id] = time.monotonic()
            return False
        self._unknown.pop(interaction_id, None)
        return True

    def unknown(self, interaction_id: str) -> bool:
        """The server's backend did not know this run when last asked."""
        return interaction_id in self._unknown

    # -- batch jobs ------------------------------------------------------------------------------------

    def _follow_batch(self, info: JobInfo) -> None:
        with self._lock:
            if info.job in self.batches:
                return
            found = self.maps.batch_of(info.job)
            if found is None:
                return
            order = found[1]
            rows = [(number, {}, key) for number, key in enumerate(order)]

            def done(outcome: Outcome) -> None:
                if outcome.text is not None:
                    key = order[outcome.number]
                    usage = outcome.usage
                    self.maps.put(
                        info.job, key, outcome.text, usage, info.notebook, engine.model, cost.BATCH_DISCOUNT
                    )

            engine = ServerBatch(
                self.backend.async_client(attempts=1),
                self.maps,
                info.job,
                rows,
                info.notebook,
                info.label,
                reader(None),
                done,
                explainer(self.backend),
            )
            self.batches[info.job] = engine
        log.info("gemini-magics: following batch %s (its kernel is gone)", info.name)
        threading.Thread(
            target=self._run_batch, args=(info, engine), name="gemini-server-batch", daemon=True
        ).start()

    def _run_batch(self, info: JobInfo, engine: ServerBatch) -> None:
        loop = asyncio.new_event_loop()
        task = loop.create_task(engine.run(None))
        with self._lock:
            self._loops[info.job] = (loop, task)
        if self._halt.is_set():  # the server stopped meanwhile
            task.cancel()
        try:
            loop.run_until_complete(task)
            log.info("gemini-magics: batch %s ended %s; its rows are stored", info.name, engine.remote)
        except asyncio.CancelledError:
            pass  # the server stops
        except Exception as exc:
            said = " ".join(self.backend.scrub(str(exc)).split())
            log.warning("gemini-magics: following batch %s failed: %s", info.name, said)
        finally:
            loop.close()
            with self._lock:
                self.batches.pop(info.job, None)
                self._loops.pop(info.job, None)
