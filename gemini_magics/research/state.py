"""What a tracker knows and tells: its patience (``Timing``), its knowledge of the run (``State``), and
the callbacks it tells about changes (``Listeners``). Plain data, shared by the tracker, the widgets and
``tasks.py``; nothing here talks to the network.
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
from ..turn import Result

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
    hops: list[str] = field(default_factory=list)
    """Interactions that continued this one past a decode limit (``requires_continuation``), in order."""
    result: Result | None = None

    @property
    def done(self) -> bool:
        return self.mode == "done"

    @property
    def current(self) -> str:
        """The interaction being followed now: the latest continuation hop, else the run itself."""
        return self.hops[-1] if self.hops else self.interaction_id

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished if self.finished is not None else (time.time() if now is None else now)
        return max(0.0, end - self.started)


Listener = Callable[["Observed"], None]
"""Called with the tracker (an ``Observed``) after each visible change."""


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

    def call(self, tracker: Observed) -> None:
        with self._lock:
            items = list(self._items)
        for listener in items:
            with contextlib.suppress(Exception):
                listener(tracker)


class Observed:
    """A followed run's ``State`` behind a lock, its listeners, and the two events of its life: what views
    and waiters use, apart from how the tracker learns things (``tracker.py``). Any thread may call these.

    ``lock`` guards ``state``; ``ended`` is set once the run's end is known, ``halt`` once this kernel
    stops following it (the run itself goes on).
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.ended = threading.Event()
        self.halt = threading.Event()
        self._listeners = Listeners()
        self._last_notify = 0.0

    @property
    def done(self) -> bool:
        return self.ended.is_set()

    @property
    def stopped(self) -> bool:
        return self.halt.is_set()

    @property
    def result(self) -> Result | None:
        return self.state.result

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(tracker)`` on every visible change; returns the function that unsubscribes."""
        return self._listeners.add(listener)

    def snapshot(self) -> State:
        with self.lock:
            return replace(self.state, thoughts=list(self.state.thoughts), hops=list(self.state.hops))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the interaction ended (True) or ``timeout`` passed; Ctrl-C interrupts the wait only.

        Waits in short slices so that KeyboardInterrupt reaches the caller promptly.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ended.is_set():
            if self.halt.is_set():
                return False
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            self.ended.wait(left)
        return True

    def set_state(self, bump: str | None = None, **fields: Any) -> None:
        """Change ``state`` (``bump``: a counter to add one to) and tell the listeners."""
        with self.lock:
            if "mode" in fields and (self.ended.is_set() or self.state.mode in ("stopped", "lost")):
                fields.pop("mode")  # the end, or this kernel let go: final
            for name, value in fields.items():
                setattr(self.state, name, value)
            if bump:
                setattr(self.state, bump, getattr(self.state, bump) + 1)
        self.notify(force=True)

    def notify(self, force: bool = False) -> None:
        """Tell the listeners; report text deltas are coalesced to at most ten calls a second."""
        now = time.monotonic()
        if not force and now - self._last_notify < 0.1:
            return
        self._last_notify = now
        self._listeners.call(self)


def thoughts_of(block_list: list[b.Block]) -> list[str]:
    return [x.summary for x in block_list if isinstance(x, b.ThoughtBlock) and x.summary.strip()]


def epoch(stamp: Any) -> float | None:
    """An RFC 3339 timestamp (or datetime) as seconds since the epoch; None if it cannot be read."""
    if stamp is None:
        return None
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
