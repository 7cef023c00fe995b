"""Turns what a fake model or agent produces into the service's event log for one interaction.

Behaviours (``model.py``, ``agent.py``) are async generators that yield ``Emit`` (one output step and
the deltas that stream it), ``Pause`` (time passing, for agents and slow token rates) and at most one
``Finish``. This module owns the event grammar: ``interaction.created``, ``interaction.status_update``,
``step.start``/``step.delta``/``step.stop`` per step, then ``interaction.completed`` or ``error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .directives import number
from .errors import reason
from .store import Record, Store
from .usage import usage_for


@dataclass
class Emit:
    """One output step. ``deltas`` stream it; ``start`` is what ``step.start`` shows before them."""

    step: dict[str, Any]
    deltas: list[dict[str, Any]] = field(default_factory=list)
    start: dict[str, Any] | None = None
    delay: float = 0.0  # seconds between deltas (slow token rates, agents)


@dataclass
class Pause:
    seconds: float


@dataclass
class Finish:
    status: str = "completed"
    error: dict[str, Any] | None = None


Behaviour = AsyncIterator[Emit | Pause | Finish]

# Yield to the event loop every so many events so that one long stream never starves the others.
_FAIRNESS_EVERY = 64


def _start_of(emit: Emit, first: int = 0) -> dict[str, Any]:
    if emit.start is not None:
        return emit.start
    if not emit.deltas:
        return emit.step
    # Steps whose body is streamed start empty: content/summary arrive as deltas.
    return {k: v for k, v in emit.step.items() if k not in ("content", "summary")}


def partial_step(emit: Emit, first: int, last: int) -> dict[str, Any]:
    """The step a hop stores when it plays deltas ``first..last-1`` of ``emit`` (the text it sent)."""
    if first == 0 and last >= len(emit.deltas):
        return emit.step
    # Deep Research report deltas carry no ``type`` (as recorded): their text counts too.
    text = "".join(str(d.get("text", "")) for d in emit.deltas[first:last] if d.get("type", "text") == "text")
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


def begin(record: Record, status: str = "in_progress") -> None:
    """The two events every interaction's log opens with."""
    record.status = status
    record.emit({"event_type": "interaction.created", "interaction": record.lifecycle()})
    record.emit({"event_type": "interaction.status_update", "interaction_id": record.id, "status": status})


def status_update(record: Record, status: str, **extra: Any) -> None:
    record.status = status
    record.emit(
        {"event_type": "interaction.status_update", "interaction_id": record.id, "status": status, **extra}
    )


async def run(record: Record, store: Store, behaviour: Behaviour, history: list[dict[str, Any]]) -> None:
    """Drive ``behaviour`` to its end, writing events and final state into ``record``."""
    queued = number(record.directives, "queue")
    stop_as = record.directives.get("status")  # budget_exceeded / idle, asked for by a directive
    begin(record, "queued" if queued else "in_progress")
    finish = Finish()
    emitted = 0
    try:
        if queued:
            await asyncio.sleep(queued)
            status_update(record, "in_progress")
        async for item in behaviour:
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
            elif isinstance(item, Finish):
                finish = item
                break
            elif stop_as == "budget_exceeded" and item.step.get("type") == "model_output" and item.deltas:
                half = len(item.deltas) // 2  # the budget runs out part-way through the answer
                emitted = await emit_step(record, item, emitted, 0, half, partial_step(item, 0, half))
                finish = Finish("budget_exceeded")
                break
            else:
                emitted = await emit_step(record, item, emitted)
        if stop_as == "idle" and finish.status == "completed":
            finish = Finish("idle")
    except asyncio.CancelledError:
        end(record, store, history, Finish("cancelled"))
        raise
    except Exception as exc:  # a bug in a behaviour must still end the interaction, as the service would
        finish = Finish(
            "failed", {"code": "internal_error", "message": f"Internal error in the emulator: {exc}"}
        )
    end(record, store, history, finish)


async def emit_step(
    record: Record,
    emit: Emit,
    emitted: int,
    first: int = 0,
    last: int | None = None,
    stored: dict[str, Any] | None = None,
    after_delta: Callable[[int], None] | None = None,
) -> int:
    """Stream one step (deltas ``first..last-1`` of it) and store it (``stored``: the part that was sent).

    ``after_delta`` is called with each delta's position after it is sent (continuation checkpoints).
    """
    index = len(record.steps)
    last = len(emit.deltas) if last is None else last
    start = _start_of(emit) if first == 0 else {"type": emit.step.get("type")}
    record.emit({"event_type": "step.start", "index": index, "step": start})
    for position in range(first, last):
        record.emit({"event_type": "step.delta", "index": index, "delta": emit.deltas[position]})
        emitted += 1
        if after_delta is not None:
            after_delta(position + 1)
        if emit.delay:
            await asyncio.sleep(emit.delay)
        elif emitted % _FAIRNESS_EVERY == 0:
            await asyncio.sleep(0)
    record.steps.append(emit.step if stored is None else stored)
    record.emit({"event_type": "step.stop", "index": index})
    await asyncio.sleep(0)
    return emitted + 1


def end(record: Record, store: Store, history: list[dict[str, Any]], finish: Finish) -> None:
    """Close the log: usage and status, then ``interaction.completed`` — or, for a failure, the
    ``error`` event the service streams instead (real-samples/docs_stream_error_event.json)."""
    if record.finished:  # cancelled already by the cancel route
        record.close_log()
        return
    record.usage = usage_for(record.input_steps, history, record.steps, record)
    record.status = finish.status
    if finish.error is not None:
        # An interaction's Error has a string code (the SDK's type), unlike an HTTP status.
        error = {
            "message": finish.error.get("message", ""),
            "code": reason(finish.error.get("code", "internal_error")),
        }
        record.errors = [error]
        record.emit({"event_type": "error", "error": error})
    else:
        record.emit({"event_type": "interaction.completed", "interaction": record.lifecycle(final=True)})
    store.schedule_expiry(record)
    if not record.stored:
        store.forget(record.id)
    record.close_log()


def cancel(record: Record, store: Store) -> None:
    """Stop a running interaction now; its log ends with a ``cancelled`` completion."""
    if record.finished:
        return
    status_update(record, "cancelled")
    record.emit({"event_type": "interaction.completed", "interaction": record.lifecycle(final=True)})
    store.schedule_expiry(record)
    if record.task is not None and not record.task.done():
        record.task.cancel()
    record.close_log()
