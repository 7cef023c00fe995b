"""One ``--map`` job: its rows sent by the engine in a thread of its own, counted, persisted, and turned
into a DataFrame at the end; Cancel (or Ctrl-C) stops sending and keeps what finished.

The cell thread only starts the job and (in the foreground) waits for it; the engine thread records
each finished row in the map store and in the job's counters (under a lock) and nudges the progress view,
which reads a ``Snapshot``. Background jobs return the job itself as the handle: ``.wait()``, ``.result``,
``.cancel()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..prices import DEFAULT, PriceTable
from . import cost
from .engine import Engine, Outcome
from .store import MapStore


class JobError(Exception):
    """A failure of the whole job, already worded for the user (one line)."""


@dataclass(frozen=True)
class Snapshot:
    total: int
    done: int
    errors: int
    cached: int
    concurrency: int
    throttled: int
    input_tokens: int
    output_tokens: int
    usd: float
    elapsed: float
    state: str  # running, completed, cancelled, failed
    remote: str = ""  # a --batch job's state on the service

    @property
    def rate(self) -> float:
        sent = self.done - self.cached
        return sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done
        return left / self.rate if self.rate > 0 and left > 0 else None

    def line(self) -> str:
        parts = [f"{self.done:,}/{self.total:,} rows"]
        if self.state in ("cancelled", "failed"):
            parts.append(self.state)
        if self.remote and self.state == "running":
            parts.append(f"{self.remote} (answers come when the job ends)")
        elif self.state == "running":
            parts.append(f"{self.rate:,.1f} rows/s")
            if self.eta is not None:
                parts.append(f"ETA {int(self.eta) // 60}:{int(self.eta) % 60:02d}")
            parts.append(f"concurrency {self.concurrency}")
        if self.cached:
            parts.append(f"{self.cached:,} from an earlier run")
        parts.append(f"{self.input_tokens + self.output_tokens:,} tokens")
        parts.append(f"~${self.usd:,.4f}")
        parts.append(f"{self.errors:,} error{'s' if self.errors != 1 else ''}")
        if self.throttled:
            parts.append(f"{self.throttled:,} throttled")
        return " · ".join(parts)


class MapJob:
    """A running (then finished) ``--map`` job."""

    def __init__(
        self,
        job_key: str,
        model: str,
        rows: list[tuple[int, dict[str, Any], str]],
        engine_factory: Callable[[Callable[[Outcome], None]], Engine],
        store: MapStore,
        finish: Callable[[MapJob], Any],
        cached: dict[int, Outcome],
        price_factor: float = 1.0,
        prices: PriceTable | None = None,
        notebook: str = "",
    ) -> None:
        self.key, self.model, self.price_factor = job_key, model, price_factor
        self.prices, self.notebook = prices or DEFAULT, notebook  # rows are priced and filed in the store
        self.total = len(rows) + len(cached)
        self.outcomes: dict[int, Outcome] = dict(cached)
        self._keys = {number: key for number, _, key in rows}
        self._todo = [(number, params) for number, params, _ in rows]
        self._store, self._finish = store, finish
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._input = self._output = self._errors = self._cached = 0  # kept as rows end: a snapshot is O(1)
        self._usd = 0.0
        for outcome in cached.values():
            self._count(outcome)
        self.engine = engine_factory(self._row_done)
        if hasattr(self.engine, "notify"):  # a --batch engine: its state on the service changes too
            self.engine.notify = self._notify
        self.state = "running"
        self.error: str | None = None
        self.result: Any = None  # the DataFrame, once the job ended
        self._started = time.monotonic()
        self._ended: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"gemini-map-{job_key[:8]}", daemon=True)
        self._finished = threading.Event()

    def __repr__(self) -> str:
        """While it runs, a fixed line (its progress widget is live; a saved notebook stays the same on a
        re-run); once it ended, its figures."""
        name = getattr(self.engine, "name", None)
        if self.state == "running" and not self.done:
            kind = "a batch job" if name or hasattr(self.engine, "remote") else "running in the background"
            return f"<MapJob: {self.total:,} rows, {kind}: .wait(), .result, .cancel()>"
        return f"<MapJob {self.summary()} · {self.snapshot().line()}{f' · {name}' if name else ''}>"

    # -- control ---------------------------------------------------------------------------------------

    def start(self) -> MapJob:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends; its DataFrame. Ctrl-C stops waiting only (``cancel()`` stops it)."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"the map job is still running after {timeout} s")
        return self.result

    def cancel(self) -> None:
        """Stop sending; what finished is kept (and stays in the store for the next run)."""
        if self.state != "running":
            return
        self.state = "cancelled"
        self.engine.cancelled = True  # no worker takes another row
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: the job has ended anyway
                loop.call_soon_threadsafe(self.engine.cancel)  # and requests in flight are abandoned

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        self._listeners.append(listener)

    # -- the engine thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            rows = iter(self._todo)
            loop.run_until_complete(self.engine.run(rows))
            if self.state == "running":
                self.state = "completed"
        except Exception as exc:
            said = str(exc) if isinstance(exc, JobError) else f"{type(exc).__name__}: {exc}"
            self.state, self.error = "failed", (said.strip().splitlines() or [said])[0]
        finally:
            loop.close()
            self._ended = time.monotonic()
            try:
                self.result = self._finish(self)
            except Exception as exc:
                self.state, self.error = "failed", str(exc)
            self._finished.set()
            self._notify()

    def _row_done(self, outcome: Outcome) -> None:
        if outcome.text is not None:
            row_key = self._keys[outcome.number]
            owner = (self.notebook, self.model, self.price_factor)
            self._store.put(self.key, row_key, outcome.text, outcome.usage, *owner)
        with self._lock:
            earlier = self.outcomes.get(outcome.number)
            if earlier is not None:  # a row ends once; never count one twice
                self._count(earlier, -1)
            self.outcomes[outcome.number] = outcome
            self._count(outcome)
        self._notify()

    def _count(self, outcome: Outcome, sign: int = 1) -> None:
        inp, out = cost.usage_tokens(outcome.usage)
        self._input += sign * inp
        self._output += sign * out
        self._errors += sign * bool(outcome.error)
        self._cached += sign * outcome.cached
        self._usd += sign * self.prices.cost(self.model, outcome.usage, self.price_factor)

    def _notify(self) -> None:
        if not self._listeners:
            return
        snapshot = self.snapshot()
        for listener in list(self._listeners):
            listener(snapshot)

    # -- what it says --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            done, errors, cached = len(self.outcomes), self._errors, self._cached
            inp, out, usd = self._input, self._output, self._usd
        end = self._ended if self._ended is not None else time.monotonic()
        return Snapshot(
            total=self.total,
            done=done,
            errors=errors,
            cached=cached,
            concurrency=self.engine.limiter.concurrency,
            throttled=self.engine.limiter.throttled,
            input_tokens=inp,
            output_tokens=out,
            usd=usd,
            elapsed=end - self._started,
            state=self.state,
            remote=str(getattr(self.engine, "remote", "") or ""),
        )

    def summary(self) -> str:
        """``9,998 answers, 2 errors`` (and what was not run)."""
        snap = self.snapshot()
        answers = snap.done - snap.errors
        errors = f"{snap.errors:,} error{'s' if snap.errors != 1 else ''}"
        text = f"{answers:,} answer{'s' if answers != 1 else ''}, {errors}"
        if snap.done < snap.total:
            text += f", {snap.total - snap.done:,} not run ({snap.state})"
        return text
