"""Turns what a fake model or agent produces into the service's event log for one interaction.

Behaviours (``model.py``, ``agent.py``) are async generators that yield ``Emit`` (one output step and
the deltas that stream it), ``Pause`` (time passing, for agents and slow token rates) and at most one
``Finish``. This module owns the event grammar: ``interaction.created``, ``interaction.status_update``,
``step.start``/``step.delta``/``step.stop`` per step, then ``interaction.completed`` or ``error``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .store import Record, Store


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


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def step_text(step: dict[str, Any]) -> str:
    """All text a step carries (content, summaries, arguments, results), for usage figures."""
    parts: list[str] = []
    for key in ("content", "summary"):
        for block in step.get(key) or []:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(block.get("text", ""))
    for key in ("arguments", "result"):
        if key in step:
            parts.append(str(step[key]))
    return "".join(parts)


def usage_for(
    input_steps: list[dict[str, Any]], history: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    prompt = sum(count_tokens(step_text(s)) for s in history + input_steps)
    thought = sum(count_tokens(step_text(s)) for s in outputs if s.get("type") == "thought")
    tool = sum(count_tokens(step_text(s)) for s in outputs if s.get("type", "").endswith("_result"))
    output = sum(count_tokens(step_text(s)) for s in outputs) - thought - tool
    images = sum(1 for s in outputs for b in s.get("content") or [] if b.get("type") == "image")
    output += 1290 * images  # what one generated image costs in the service's accounting
    return {
        "total_input_tokens": prompt,
        "total_output_tokens": output,
        "total_thought_tokens": thought,
        "total_tool_use_tokens": tool,
        "total_cached_tokens": 0,
        "total_tokens": prompt + output + thought + tool,
    }


def _start_of(emit: Emit) -> dict[str, Any]:
    if emit.start is not None:
        return emit.start
    if not emit.deltas:
        return emit.step
    # Steps whose body is streamed start empty: content/summary arrive as deltas.
    return {k: v for k, v in emit.step.items() if k not in ("content", "summary")}


async def run(record: Record, store: Store, behaviour: Behaviour, history: list[dict[str, Any]]) -> None:
    """Drive ``behaviour`` to its end, writing events and final state into ``record``."""
    record.emit({"event_type": "interaction.created", "interaction": record.lifecycle()})
    record.emit(
        {"event_type": "interaction.status_update", "interaction_id": record.id, "status": "in_progress"}
    )
    finish = Finish()
    emitted = 0
    try:
        async for item in behaviour:
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
            elif isinstance(item, Finish):
                finish = item
                break
            else:
                emitted = await _emit_step(record, item, emitted)
    except asyncio.CancelledError:
        _end(record, store, history, Finish("cancelled"))
        raise
    except Exception as exc:  # a bug in a behaviour must still end the interaction, as the service would
        finish = Finish("failed", {"code": "500", "message": f"Internal error in the emulator: {exc}"})
    _end(record, store, history, finish)


async def _emit_step(record: Record, emit: Emit, emitted: int) -> int:
    index = len(record.steps)
    record.emit({"event_type": "step.start", "index": index, "step": _start_of(emit)})
    for delta in emit.deltas:
        record.emit({"event_type": "step.delta", "index": index, "delta": delta})
        emitted += 1
        if emit.delay:
            await asyncio.sleep(emit.delay)
        elif emitted % _FAIRNESS_EVERY == 0:
            await asyncio.sleep(0)
    record.steps.append(emit.step)
    record.emit({"event_type": "step.stop", "index": index})
    await asyncio.sleep(0)
    return emitted + 1


def _end(record: Record, store: Store, history: list[dict[str, Any]], finish: Finish) -> None:
    if record.finished:  # cancelled already by the cancel route
        record.close_log()
        return
    record.usage = usage_for(record.input_steps, history, record.steps)
    record.status = finish.status
    if finish.error is not None:
        # An interaction's Error has a string code (the SDK's type), unlike the HTTP error envelope.
        error = {**finish.error, "code": str(finish.error.get("code", "500"))}
        record.errors = [error]
        record.emit({"event_type": "error", "error": error})
    record.emit({"event_type": "interaction.completed", "interaction": record.lifecycle()})
    store.schedule_expiry(record)
    if not record.stored:
        store.forget(record.id)
    record.close_log()


def cancel(record: Record, store: Store) -> None:
    """Stop a running interaction now; its log ends with a ``cancelled`` completion."""
    if record.finished:
        return
    record.status = "cancelled"
    record.emit(
        {"event_type": "interaction.status_update", "interaction_id": record.id, "status": "cancelled"}
    )
    record.emit({"event_type": "interaction.completed", "interaction": record.lifecycle()})
    store.schedule_expiry(record)
    if record.task is not None and not record.task.done():
        record.task.cancel()
    record.close_log()
