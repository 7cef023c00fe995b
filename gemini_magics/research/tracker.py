"""Following one background interaction to its end, whatever the connection does.

One stream is never trusted: the service's streams get cut (about every ten minutes) and a resumed stream
may replay a couple of events and then hang. The tracker therefore runs a small state machine in a
daemon thread (the kernel's main thread is never blocked; the thread sleeps in socket reads):

``stream``
    Follow ``interactions.get(stream=True)``, resuming with ``last_event_id`` after the last event seen.
    Every read has a deadline (``Timing.stall``): a stream that sends nothing within it is abandoned.
    A stream that ends without the interaction's end is resumed at once; one that ends twice in a row
    without news, stalls, or fails, hands over to polling.
``poll``
    ``interactions.get`` with capped exponential backoff (``poll_first`` doubling up to ``poll_cap``;
    429/5xx/network errors just back off further). The wait between two polls is spent listening on a
    resumed stream whose reads time out at the poll delay, so a finished interaction is noticed within
    the poll cap even when every stream hangs. When such a listening stream keeps delivering new events
    past the poll delay, the stream works again and the tracker returns to ``stream``.

Events seen twice (a replaying resume) are dropped by ``event_id``. Whatever the mode, ``State.last_news``
says when something new was last heard (an event, or a poll that saw a change), so a status that stops
changing is shown as "nothing heard since …" rather than "running" forever. When the interaction ends,
the full interaction is fetched once (its steps are the report) and the finish hooks run (the chain is
settled there), then the listeners, then waiters are released.

Listeners are called from the tracker's thread (or from whoever called ``cancel``): widgets must update
traits only, never write to an ``Output`` context (see DESIGN.md's ipykernel 7 pitfalls).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import blocks as b
from .. import blocks_compat, statuses
from ..backend import Backend, BackendError
from ..turn import Result, absorb_interaction
from .hops import Hops
from .state import CANCELLING, Listener, Listeners, Observed, State, Timing, epoch, thoughts_of

__all__ = ["CANCELLING", "ENDS", "RUNNING", "TERMINAL", "Listener", "Listeners", "State", "Timing"]

TERMINAL = statuses.ENDED
RUNNING = statuses.RUNNING
ENDS = TERMINAL | {statuses.HOP}  # what ends the interaction followed now (a hop is continued)
_epoch = epoch  # the name earlier callers used


FinishHook = Callable[["Tracker", Result], str]


class Tracker(Observed):
    """Follows one background interaction in a daemon thread; ``wait``, ``cancel``, ``stop``, listeners."""

    def __init__(
        self,
        backend: Backend,
        interaction_id: str,
        agent: str,
        *,
        started: float | None = None,
        timing: Timing | None = None,
        on_finish: FinishHook | None = None,
        notes: list[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(State(interaction_id, agent, started=started or time.time()))
        self.backend = backend
        self.timing = timing or Timing()
        self.notes = list(notes or [])  # shown with the final result (e.g. a model substitution)
        self.chain: str | None = None  # the chain it runs on, when this notebook's (output provenance)
        self._on_finish = on_finish
        self._finishing = False
        self._assembler = b.Assembler()
        self._rebuilder = b.StepRebuilder()
        self._seen: set[str] = set()
        self._last_event_id: str | None = None
        self._fresh = 0  # new events in the current stream
        self._last_event_at = time.monotonic()
        self._poll_steps = -1
        self._poll_updated: Any = None
        self._hops = Hops(backend, params)  # ``params``: the run's create request, for continuation hops
        self._offset = 0  # added to the step indexes of a continuation hop's events
        self._top = -1  # the highest (shifted) step index seen
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Tracker {self.id} {self.state.status} ({self.state.mode})>"

    # -- public -----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.state.interaction_id

    def start(self) -> Tracker:
        self._thread = threading.Thread(target=self._run, name=f"gemini-track-{self.id[:16]}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> str:
        """Ask the service to cancel; the outcome as one line (also shown in ``State.cancel_note``)."""
        if self.done:
            return f"nothing to cancel: the interaction already ended {self.state.status}"
        self.set_state(cancel_note=CANCELLING)
        try:
            interaction = self.backend.cancel(self.state.current)
        except BackendError as exc:
            note = f"cancel failed: {exc}"
            self.set_state(cancel_note=note)
            return note
        status = str(interaction.status)
        if status in TERMINAL:
            self._finish_from(interaction)
            note = "cancelled" if status == "cancelled" else f"it had already ended {status}"
        else:
            note = f"cancel requested; the service says {status}"
        self.set_state(cancel_note=note)
        return note

    def stop(self) -> None:
        """Stop following (this kernel goes away); the interaction itself goes on, the chain is untouched."""
        if self.ended.is_set():
            return
        self.halt.set()
        self.set_state(mode="stopped", note="this kernel stopped following it")

    # -- the loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug must not leave a widget saying "running" for ever
            if not self.halt.is_set() and not self.ended.is_set():
                note = f"tracking failed ({type(exc).__name__}: {exc}); %gemini tasks follows it again"
                self.set_state(mode="lost", note=note)
                self.halt.set()

    def _loop(self) -> None:
        timing = self.timing
        delay = timing.poll_first
        empty_ends = 0
        while not self.halt.is_set() and not self.ended.is_set():
            if self.state.mode == "stream":
                outcome = self._listen(timing.stall, deadline=None)
                if outcome in ("done", "stopped"):
                    continue
                if outcome == "ended":
                    empty_ends = 0 if self._fresh else empty_ends + 1
                    if empty_ends < 2:
                        note = f"stream closed after {self._fresh} events: resumed"
                        self.set_state(note=note, bump="resumes")
                        continue
                    self._to_poll("the stream keeps closing without news: polling")
                elif outcome == "stalled":
                    self._to_poll(f"no event for {timing.stall:g} s: polling", bump="stalls")
                else:
                    self._to_poll(f"stream failed ({outcome}): polling")
                delay = timing.poll_first
                empty_ends = 0
            else:
                self._poll()
                if self.ended.is_set() or self.halt.is_set():
                    break
                until = time.monotonic() + delay
                self.set_state(next_poll=time.time() + delay)
                # Reads time out a little before the next poll is due, so that a hanging stream never
                # pushes a poll past the cap.
                outcome = self._listen(max(0.05, delay * 0.9), deadline=until)
                if outcome == "healthy":
                    self.set_state(mode="stream", next_poll=None, note="the stream works again")
                    delay = timing.poll_first
                    continue
                left = until - time.monotonic()
                if left > 0:
                    self.halt.wait(left)
                delay = min(delay * 2, timing.poll_cap)

    def _to_poll(self, note: str, bump: str | None = None) -> None:
        self.set_state(mode="poll", note=note, bump=bump)

    def _listen(self, read_timeout: float, deadline: float | None) -> str:
        """Read one stream (resuming after the last event seen). Returns ``done``, ``stopped``,
        ``ended`` (closed without the end), ``stalled`` (a read timed out), ``healthy`` (still delivering
        new events at ``deadline``), ``gone`` (404) or a short error description."""
        self._fresh = 0
        try:
            stream = self.backend.follow(self.state.current, self._last_event_id, timeout=read_timeout)
        except BackendError as exc:
            return self._stream_error(exc)
        self._last_event_at = time.monotonic()
        try:
            for event in stream:
                if self.halt.is_set():
                    return "stopped"
                if self._absorb_event(event):
                    self._fresh += 1
                    self._last_event_at = time.monotonic()
                if self.ended.is_set():
                    return "done"
                if deadline is not None and self._fresh and time.monotonic() >= deadline:
                    return "healthy"
            return "stopped" if self.halt.is_set() else "ended"
        except BackendError as exc:
            if self.halt.is_set():
                return "stopped"
            if exc.status is None and time.monotonic() - self._last_event_at >= read_timeout * 0.9:
                return "stalled"
            return self._stream_error(exc)
        finally:
            stream.close()

    def _stream_error(self, exc: BackendError) -> str:
        if exc.status == 404:
            self._gone(exc)
            return "done"
        return f"HTTP {exc.status}" if exc.status else "connection lost"

    def _gone(self, exc: BackendError) -> None:
        """The service no longer knows the interaction (deleted or expired): nothing more will come."""
        result = self._result_from_stream("failed")
        result.error = f"the service no longer knows interaction {self.state.current} ({exc})"
        self._finish(result)

    def _poll(self) -> bool:
        try:
            interaction = self.backend.get(self.state.current)
        except BackendError as exc:
            if exc.status == 404:
                self._gone(exc)
                return False
            self.set_state(note=f"poll failed: {exc}", bump="poll_errors")
            return False
        now = time.time()
        steps = blocks_compat.steps_of(interaction)  # pre-GA ``outputs`` too
        status = blocks_compat.status_of(interaction, steps)
        changed = (
            status != self.state.status
            or len(steps) != self._poll_steps
            or interaction.updated != self._poll_updated
        )
        self._poll_steps, self._poll_updated = len(steps), interaction.updated
        thoughts = thoughts_of(b.from_steps(steps))
        with self.lock:
            self.state.polls += 1
            self.state.last_contact = now
            if changed:
                self.state.last_news = now
            if len(thoughts) >= len(self.state.thoughts):
                self.state.thoughts = thoughts
            if status not in TERMINAL:
                self.state.status = "in_progress" if status == statuses.HOP else status
        if status in ENDS:
            self._finish_from(interaction)
        else:
            self.notify(force=True)
        return True

    # -- events -----------------------------------------------------------------------------------

    def _absorb_event(self, event: dict[str, Any]) -> bool:
        """Apply one stream event; False for an event seen before (a replaying resume)."""
        event_id = event.get("event_id")
        if event_id is not None:
            event_id = str(event_id)
            if event_id in self._seen:
                return False
            self._seen.add(event_id)
            self._last_event_id = event_id
        kind = event.get("event_type")
        index = event.get("index")
        if isinstance(index, int) and not isinstance(index, bool):  # a later hop's steps come after
            index += self._offset
            self._top = max(self._top, index)
            event = {**event, "index": index} if self._offset else event
        changed = self._assembler.feed(event)
        self._rebuilder.feed(event)
        status = None
        if kind in ("interaction.created", "interaction.completed"):
            info = event.get("interaction") or {}
            status = info.get("status")
            if kind == "interaction.completed":
                self._rebuilder.finish(info)
        elif kind == "interaction.status_update":
            status = event.get("status")
        now = time.time()
        thoughts = thoughts_of(self._assembler.blocks)
        report = sum(len(x.text) for x in self._assembler.blocks if isinstance(x, b.TextBlock))
        with self.lock:
            state = self.state
            state.events += 1
            state.last_news = state.last_contact = now
            force = thoughts != state.thoughts or (status is not None and status != state.status)
            if len(thoughts) >= len(state.thoughts):
                state.thoughts = thoughts
            state.report_chars = report
            if kind == "error":
                error = event.get("error") or {}
                state.error = self.backend.scrub(str(error.get("message") or "the service reported an error"))
            if status and status not in TERMINAL:
                state.status = "in_progress" if status == statuses.HOP else str(status)
        if status in TERMINAL or (status == statuses.HOP and kind == "interaction.completed"):
            self._complete(str(status))
        elif changed or force:
            self.notify(force=force)
        return True

    def _complete(self, status: str) -> None:
        """The stream said the interaction ended: fetch it whole (the report is in its steps) and finish."""
        delay = self.timing.poll_first
        for attempt in range(self.timing.finish_tries):
            if self.halt.is_set() or self.ended.is_set():
                return
            try:
                interaction = self.backend.get(self.state.current)
            except BackendError as exc:
                if exc.status == 404:
                    break
                self.set_state(note=f"fetching the finished interaction failed: {exc}", bump="poll_errors")
                if attempt + 1 < self.timing.finish_tries:
                    self.halt.wait(delay)
                    delay = min(delay * 2, self.timing.poll_cap)
                continue
            if str(interaction.status) in ENDS:
                self._finish_from(interaction)
                return
            break
        if status == statuses.HOP:
            self._to_poll("fetching the hop that ended failed: polling")  # a poll continues it
            return
        self._finish(self._result_from_stream(status))

    def _result_from_stream(self, status: str) -> Result:
        result = self._new_result(status)
        result.blocks = list(self._assembler.blocks)
        result.interaction = self._rebuilder.interaction()
        result.id = self.state.current
        result.error = self.state.error
        if result.interaction is not None and result.interaction.usage is not None:
            result.usage = result.interaction.usage.model_dump(exclude_none=True)
        return result

    def _continue(self, interaction: Any) -> None:
        """A hop ended ``requires_continuation``: start the next one and follow it (``hops.py``)."""
        try:
            hop = self._hops.next(interaction)
        except (ValueError, BackendError) as exc:
            result = self._new_result("failed")
            absorb_interaction(result, self._hops.merged(interaction))
            result.status, result.error = "failed", self.backend.scrub(f"continuing the answer failed: {exc}")
            self._finish(result)
            return
        with self.lock:
            self.state.hops.append(hop)
            self.state.status = "in_progress"
            self._seen.clear()
            self._last_event_id, self._poll_steps, self._offset = None, -1, self._top + 1
        requests = len(self.state.hops) + 1
        self.set_state(note=f"the answer goes on in request {requests} (past the output limit)")

    def _finish_from(self, interaction: Any) -> None:
        if str(interaction.status) == statuses.HOP:
            self._continue(interaction)
            return
        interaction = self._hops.merged(interaction)
        result = self._new_result(str(interaction.status))
        absorb_interaction(result, interaction)
        if result.error:  # the service's own error text may quote the key
            result.error = self.backend.scrub(result.error)
        if result.error is None and self.state.error and result.status == "failed":
            result.error = self.state.error
        finished = _epoch(getattr(interaction, "updated", None))
        self._finish(result, finished)

    def _new_result(self, status: str) -> Result:
        return Result(
            self.id,
            status,
            self.state.agent,
            backend=self.backend.label_for(self.id),
            notes=list(self.notes),
        )

    def _finish(self, result: Result, finished: float | None = None) -> None:
        with self.lock:
            if self._finishing:
                return
            self._finishing = True
        now = time.time()
        finished = finished if finished is not None and finished <= now + 5 else now
        result.elapsed = max(0.0, finished - self.state.started)
        if result.status == "failed" and not result.error:
            result.error = "the interaction failed"
        chain_note = ""
        if self._on_finish is not None and not self.halt.is_set():
            try:
                chain_note = self._on_finish(self, result) or ""
            except Exception as exc:  # the report must still show
                chain_note = f"the chain could not be updated: {type(exc).__name__}: {exc}"
        if chain_note:
            result.notes.append(chain_note)
        with self.lock:
            state = self.state
            state.status, state.result, state.finished = result.status, result, finished
            state.mode, state.next_poll, state.chain_note = "done", None, chain_note
            state.error = result.error
            if state.cancel_note == CANCELLING:  # the end is the cancel's outcome; views stop listening now
                cancelled = result.status == "cancelled"
                state.cancel_note = "cancelled" if cancelled else f"it had already ended {result.status}"
            thoughts = thoughts_of(result.blocks)
            if len(thoughts) >= len(state.thoughts):
                state.thoughts = thoughts
        self.notify(force=True)
        self.ended.set()
