"""The rows of a ``--map`` job sent through the SDK's async client, at an adaptive concurrency.

One event loop in one thread of its own (the kernel's loop is never touched) runs ``ceiling`` workers;
each takes the next row, waits for a slot from the ``Limiter`` and sends it. The limiter is AIMD, as TCP
does congestion control: every answer widens the window by 1/window (one more request per round trip), a
429 or 503 halves it (once per congestion event) and pauses new requests for the Retry-After the
service sent (else an exponential backoff with jitter). A row is tried ``attempts`` times at most; then it
gets its one-line error and the job goes on. The SDK's own retries are off for these requests: two
retry loops would multiply waits and hide the throttling from the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
THROTTLING = frozenset({429, 503})


@dataclass
class Outcome:
    """One row's end: its text (and usage), or its error."""

    number: int
    text: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 1
    cached: bool = False  # answered by an earlier run (the map store)


@dataclass
class Failure:
    """What a failed request says: the message for the row, the HTTP status, the Retry-After."""

    message: str
    status: int | None
    retry_after: float | None


class Limiter:
    """An AIMD window over concurrent requests, between 1 and ``ceiling``."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.window = float(ceiling)
        self.active = 0
        self.throttled = 0
        self._paused_until = 0.0
        self._last_cut = 0.0
        self._changed = asyncio.Condition()

    @property
    def concurrency(self) -> int:
        return max(1, int(self.window))

    async def acquire(self) -> None:
        async with self._changed:
            while True:
                pause = self._paused_until - time.monotonic()
                if pause <= 0 and self.active < self.concurrency:
                    self.active += 1
                    return
                with contextlib.suppress(TimeoutError):  # a pause ended: look again
                    await asyncio.wait_for(self._changed.wait(), timeout=pause if pause > 0 else None)

    async def release(self, ok: bool, throttled: bool = False, wait: float = 0.0) -> None:
        async with self._changed:
            self.active -= 1
            now = time.monotonic()
            if throttled:
                self.throttled += 1
                if now - self._last_cut > max(wait, 0.2):  # one cut per congestion event
                    self.window = max(1.0, self.window / 2)
                    self._last_cut = now
                self._paused_until = max(self._paused_until, now + wait)
            elif ok:
                self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
            self._changed.notify_all()


class Engine:
    """Sends ``rows`` — (number, params) pairs — and reports each ``Outcome`` to ``done``."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[Any]],
        read: Callable[[Any], tuple[str, dict[str, Any]]],
        explain: Callable[[BaseException], Failure],
        done: Callable[[Outcome], None],
        ceiling: int = 8,
        attempts: int = 6,
        backoff: float = 0.5,
    ) -> None:
        self.send, self.read, self.explain, self.done = send, read, explain, done
        self.limiter = Limiter(ceiling)
        self.attempts, self.backoff = attempts, backoff
        self.cancelled = False
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self, rows: Iterator[tuple[int, dict[str, Any]]]) -> None:
        self._tasks = [asyncio.create_task(self._worker(rows)) for _ in range(self.limiter.ceiling)]
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> None:
        """Stop sending: no new row starts; requests in flight are abandoned (nothing of them is kept)."""
        self.cancelled = True
        for task in self._tasks:
            task.cancel()

    async def _worker(self, rows: Iterator[tuple[int, dict[str, Any]]]) -> None:
        for number, params in rows:  # one shared iterator: each row goes to one worker
            if self.cancelled:
                return
            outcome = await self._row(number, params)
            if outcome is not None:
                self.done(outcome)

    async def _row(self, number: int, params: dict[str, Any]) -> Outcome | None:
        for attempt in range(1, self.attempts + 1):
            await self.limiter.acquire()
            try:
                interaction = await self.send(params)
            except asyncio.CancelledError:
                await self.limiter.release(ok=False)
                raise
            except Exception as exc:
                failure = self.explain(exc)
                retry = failure.status in RETRYABLE or failure.status is None
                wait = failure.retry_after
                if wait is None:
                    wait = self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                await self.limiter.release(ok=False, throttled=failure.status in THROTTLING, wait=wait)
                if not retry or attempt == self.attempts or self.cancelled:
                    return Outcome(number, error=failure.message, attempts=attempt)
                await asyncio.sleep(wait)
                continue
            await self.limiter.release(ok=True)
            try:
                text, usage = self.read(interaction)
            except ValueError as exc:
                return Outcome(number, error=str(exc), attempts=attempt)
            return Outcome(number, text=text, usage=usage, attempts=attempt)
        return None
