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

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .. import blocks as b
from ..backend import Backend, BackendError
from ..turn import Result, _absorb

TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete", "requires_action"})
RUNNING = frozenset({"in_progress", "queued"})
CANCELLING = "cancelling…"


@dataclass(frozen=True)
class Timing:
    """How patient the tracker is (the magics' ``research_*`` settings)."""

    stall: float = 60.0
    """Seconds a stream may stay silent before the tracker falls back to polling."""
    poll_first: float = 1.0
    """First polling delay; it doubles after every poll up to ``poll_cap``."""
    poll_cap: float = 10.0
    """Longest wait between two polls: a finished interaction is noticed within this when streams fail."""
    quiet: float | None = None
    """Silence after which the widget says "nothing heard since …" (default: ``stall``)."""
    finish_tries: int = 4
    """Attempts at fetching the finished interaction before settling for what the stream carried."""

    @property
    def quiet_after(self) -> float:
        return self.stall if self.quiet is None else self.quiet


@dataclass
class State:
    """What is known about the followed interaction; listeners get a copy (``Tracker.snapshot``)."""

    interaction_id: str
    agent: str
    status: str = "in_progress"
    started: float = field(default_factory=time.time)
    """When the interaction was created (seconds since the epoch)."""
    finished: float | None = None
    mode: str = "stream"
    """``stream``, ``poll``, ``done``, ``stopped`` (this kernel stopped following) or ``lost`` (a bug)."""
    thoughts: list[str] = field(default_factory=list)
    """Thought summaries, oldest first."""
    report_chars: int = 0
    last_news: float = field(default_factory=time.time)
    """When something new was last heard: an event, or a poll that saw a change."""
    last_contact: float = field(default_factory=time.time)
    """When the service last answered at all."""
    next_poll: float | None = None
    note: str = ""
    """The latest thing the tracker did about the connection ("stream cut: resumed", ...)."""
    cancel_note: str = ""
    error: str | None = None
    chain_note: str = ""
    events: int = 0
    resumes: int = 0
    polls: int = 0
    poll_errors: int = 0
    stalls: int = 0
    result: Result | None = None

    @property
    def done(self) -> bool:
        return self.mode == "done"

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished if self.finished is not None else (time.time() if now is None else now)
        return max(0.0, end - self.started)


Listener = Callable[["Tracker"], None]


class Listeners:
    """Callbacks for tracker changes, safe to add, remove and call from any thread.

    A listener that raises is skipped: a broken view must stop neither the tracking nor the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns the function that unsubscribes it."""
        with self._lock:
            self._items.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)

        return unsubscribe

    def call(self, tracker: Tracker) -> None:
        with self._lock:
            items = list(self._items)
        for listener in items:
            with contextlib.suppress(Exception):
                listener(tracker)


FinishHook = Callable[["Tracker", Result], str]


class Tracker:
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
    ) -> None:
        self.backend = backend
        self.timing = timing or Timing()
        self.state = State(interaction_id, agent, started=started or time.time())
        self.notes = list(notes or [])  # shown with the final result (e.g. a model substitution)
        self._on_finish = on_finish
        self._lock = threading.RLock()
        self._listeners = Listeners()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._finishing = False
        self._assembler = b.Assembler()
        self._rebuilder = b.StepRebuilder()
        self._seen: set[str] = set()
        self._last_event_id: str | None = None
        self._fresh = 0  # new events in the current stream
        self._last_event_at = time.monotonic()
        self._poll_steps = -1
        self._poll_updated: Any = None
        self._last_notify = 0.0
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Tracker {self.id} {self.state.status} ({self.state.mode})>"

    # -- public -----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.state.interaction_id

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def result(self) -> Result | None:
        return self.state.result

    def start(self) -> Tracker:
        self._thread = threading.Thread(target=self._run, name=f"gemini-track-{self.id[:16]}", daemon=True)
        self._thread.start()
        return self

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(tracker)`` on every visible change; returns the function that unsubscribes."""
        return self._listeners.add(listener)

    def snapshot(self) -> State:
        with self._lock:
            return replace(self.state, thoughts=list(self.state.thoughts))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the interaction ended (True) or ``timeout`` passed; Ctrl-C interrupts the wait only.

        Waits in short slices so that KeyboardInterrupt reaches the caller promptly.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            if self._stop.is_set():
                return False
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            self._done.wait(left)
        return True

    def cancel(self) -> str:
        """Ask the service to cancel; the outcome as one line (also shown in ``State.cancel_note``)."""
        if self.done:
            return f"nothing to cancel: the interaction already ended {self.state.status}"
        self._set(cancel_note=CANCELLING)
        try:
            interaction = self.backend.cancel(self.id)
        except BackendError as exc:
            note = f"cancel failed: {exc}"
            self._set(cancel_note=note)
            return note
        status = str(interaction.status)
        if status in TERMINAL:
            self._finish_from(interaction)
            note = "cancelled" if status == "cancelled" else f"it had already ended {status}"
        else:
            note = f"cancel requested; the service says {status}"
        self._set(cancel_note=note)
        return note

    def stop(self) -> None:
        """Stop following (this kernel goes away); the interaction itself goes on, the chain is untouched."""
        if self._done.is_set():
            return
        self._stop.set()
        self._set(mode="stopped", note="this kernel stopped following it")

    # -- the loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug must not leave a widget saying "running" for ever
            if not self._stop.is_set() and not self._done.is_set():
                note = f"tracking failed ({type(exc).__name__}: {exc}); %gemini tasks follows it again"
                self._set(mode="lost", note=note)
                self._stop.set()

    def _loop(self) -> None:
        timing = self.timing
        delay = timing.poll_first
        empty_ends = 0
        while not self._stop.is_set() and not self._done.is_set():
            if self.state.mode == "stream":
                outcome = self._listen(timing.stall, deadline=None)
                if outcome in ("done", "stopped"):
                    continue
                if outcome == "ended":
                    empty_ends = 0 if self._fresh else empty_ends + 1
                    if empty_ends < 2:
                        self._set(note=f"stream closed after {self._fresh} events: resumed", bump="resumes")
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
                if self._done.is_set() or self._stop.is_set():
                    break
                until = time.monotonic() + delay
                self._set(next_poll=time.time() + delay)
                # Reads time out a little before the next poll is due, so that a hanging stream never
                # pushes a poll past the cap.
                outcome = self._listen(max(0.05, delay * 0.9), deadline=until)
                if outcome == "healthy":
                    self._set(mode="stream", next_poll=None, note="the stream works again")
                    delay = timing.poll_first
                    continue
                left = until - time.monotonic()
                if left > 0:
                    self._stop.wait(left)
                delay = min(delay * 2, timing.poll_cap)

    def _to_poll(self, note: str, bump: str | None = None) -> None:
        self._set(mode="poll", note=note, bump=bump)

    def _listen(self, read_timeout: float, deadline: float | None) -> str:
        """Read one stream (resuming after the last event seen). Returns ``done``, ``stopped``,
        ``ended`` (closed without the end), ``stalled`` (a read timed out), ``healthy`` (still delivering
        new events at ``deadline``), ``gone`` (404) or a short error description."""
        self._fresh = 0
        try:
            stream = self.backend.follow(self.id, self._last_event_id, timeout=read_timeout)
        except BackendError as exc:
            return self._stream_error(exc)
        self._last_event_at = time.monotonic()
        try:
            for event in stream:
                if self._stop.is_set():
                    return "stopped"
                if self._absorb_event(event):
                    self._fresh += 1
                    self._last_event_at = time.monotonic()
                if self._done.is_set():
                    return "done"
                if deadline is not None and self._fresh and time.monotonic() >= deadline:
                    return "healthy"
            return "stopped" if self._stop.is_set() else "ended"
        except BackendError as exc:
            if self._stop.is_set():
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
        result.error = f"the service no longer knows interaction {self.id} ({exc})"
        self._finish(result)

    def _poll(self) -> bool:
        try:
            interaction = self.backend.get(self.id)
        except BackendError as exc:
            if exc.status == 404:
                self._gone(exc)
                return False
            self._set(note=f"poll failed: {exc}", bump="poll_errors")
            return False
        now = time.time()
        status = str(interaction.status)
        steps = [s.model_dump(mode="json", exclude_none=True) for s in interaction.steps or []]
        changed = (
            status != self.state.status
            or len(steps) != self._poll_steps
            or interaction.updated != self._poll_updated
        )
        self._poll_steps, self._poll_updated = len(steps), interaction.updated
        thoughts = _thoughts(b.from_steps(steps))
        with self._lock:
            self.state.polls += 1
            self.state.last_contact = now
            if changed:
                self.state.last_news = now
            if len(thoughts) >= len(self.state.thoughts):
                self.state.thoughts = thoughts
            if status not in TERMINAL:
                self.state.status = status
        if status in TERMINAL:
            self._finish_from(interaction)
        else:
            self._notify(force=True)
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
        thoughts = _thoughts(self._assembler.blocks)
        report = sum(len(x.text) for x in self._assembler.blocks if isinstance(x, b.TextBlock))
        with self._lock:
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
                state.status = str(status)
        if status in TERMINAL:
            self._complete(str(status))
        elif changed or force:
            self._notify(force=force)
        return True

    def _complete(self, status: str) -> None:
        """The stream said the interaction ended: fetch it whole (the report is in its steps) and finish."""
        delay = self.timing.poll_first
        for attempt in range(self.timing.finish_tries):
            if self._stop.is_set() or self._done.is_set():
                return
            try:
                interaction = self.backend.get(self.id)
            except BackendError as exc:
                if exc.status == 404:
                    break
                self._set(note=f"fetching the finished interaction failed: {exc}", bump="poll_errors")
                if attempt + 1 < self.timing.finish_tries:
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.timing.poll_cap)
                continue
            if str(interaction.status) in TERMINAL:
                self._finish_from(interaction)
                return
            break
        self._finish(self._result_from_stream(status))

    def _result_from_stream(self, status: str) -> Result:
        result = self._new_result(status)
        result.blocks = list(self._assembler.blocks)
        result.interaction = self._rebuilder.interaction()
        result.error = self.state.error
        if result.interaction is not None and result.interaction.usage is not None:
            result.usage = result.interaction.usage.model_dump(exclude_none=True)
        return result

    def _finish_from(self, interaction: Any) -> None:
        result = self._new_result(str(interaction.status))
        _absorb(result, interaction)
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
            backend=self.backend.target().label,
            notes=list(self.notes),
        )

    def _finish(self, result: Result, finished: float | None = None) -> None:
        with self._lock:
            if self._finishing:
                return
            self._finishing = True
        now = time.time()
        finished = finished if finished is not None and finished <= now + 5 else now
        result.elapsed = max(0.0, finished - self.state.started)
        if result.status == "failed" and not result.error:
            result.error = "the interaction failed"
        chain_note = ""
        if self._on_finish is not None and not self._stop.is_set():
            try:
                chain_note = self._on_finish(self, result) or ""
            except Exception as exc:  # the report must still show
                chain_note = f"the chain could not be updated: {type(exc).__name__}: {exc}"
        if chain_note:
            result.notes.append(chain_note)
        with self._lock:
            state = self.state
            state.status, state.result, state.finished = result.status, result, finished
            state.mode, state.next_poll, state.chain_note = "done", None, chain_note
            state.error = result.error
            if state.cancel_note == CANCELLING:  # the end is the cancel's outcome; views stop listening now
                cancelled = result.status == "cancelled"
                state.cancel_note = "cancelled" if cancelled else f"it had already ended {result.status}"
            thoughts = _thoughts(result.blocks)
            if len(thoughts) >= len(state.thoughts):
                state.thoughts = thoughts
        self._notify(force=True)
        self._done.set()

    # -- state and listeners ----------------------------------------------------------------------

    def _set(self, bump: str | None = None, **fields: Any) -> None:
        with self._lock:
            if "mode" in fields and (self._done.is_set() or self.state.mode in ("stopped", "lost")):
                fields.pop("mode")  # the end, or this kernel let go: final
            for name, value in fields.items():
                setattr(self.state, name, value)
            if bump:
                setattr(self.state, bump, getattr(self.state, bump) + 1)
        self._notify(force=True)

    def _notify(self, force: bool = False) -> None:
        """Tell the listeners; report text deltas are coalesced to at most ten calls a second."""
        now = time.monotonic()
        if not force and now - self._last_notify < 0.1:
            return
        self._last_notify = now
        self._listeners.call(self)


def _thoughts(block_list: list[b.Block]) -> list[str]:
    return [x.summary for x in block_list if isinstance(x, b.ThoughtBlock) and x.summary.strip()]


def _epoch(stamp: Any) -> float | None:
    """An RFC 3339 timestamp (or datetime) as seconds since the epoch; None if it cannot be read."""
    if stamp is None:
        return None
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
