"""One row's answer, read fast: the row is sent as a stream and its SSE lines parsed by the magics' own
reader (``backend.sse_events``), not unmarshalled by the SDK.

google-genai 3.6.1 builds new pydantic model classes for every response it unmarshals (about 20 ms of CPU a
row, measured by ``bench/map_throughput.py``'s profile), which caps a map at a few dozen rows a second on
one core. The stream carries the same answer, and the magics already read streams this way
(``backend.EventStream``, pinned by ``tests/unit/test_event_stream.py``). A row whose stream stops at the
service's decode limit (``requires_continuation``) is sent again without streaming, so the SDK's own
continuation assembles the long answer. The request side skips the SDK's per-request marshalling once
the SDK has vouched for the body's shape (``wire.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import blocks as b
from .. import blocks_compat
from ..sse import sse_events
from .wire import FastPath


@dataclass
class Answer:
    status: str
    text: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def of_events(events: list[dict[str, Any]]) -> Answer:
    assembler = b.Assembler()
    said = Answer("in_progress")
    for event in events:
        kind = event.get("event_type")
        info = event.get("interaction") if isinstance(event.get("interaction"), dict) else {}
        if kind in ("interaction.created", "interaction.completed") and info.get("status"):
            said.status = str(info["status"])
            if isinstance(info.get("usage"), dict):
                said.usage = info["usage"]
            errors = info.get("errors") if isinstance(info.get("errors"), list) else []
            said.error = "; ".join(
                str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")
            )
        elif kind == "interaction.status_update" and event.get("status"):
            said.status = str(event["status"])
        elif kind == "error":
            error = event.get("error") if isinstance(event.get("error"), dict) else {}
            said.status, said.error = "failed", str(error.get("message") or "the service reported an error")
        assembler.feed(event)
    said.text = "".join(x.text for x in assembler.blocks if isinstance(x, b.TextBlock))
    return said


def of_interaction(interaction: Any) -> Answer:
    """The same from an SDK ``Interaction`` (the non-streamed fallback)."""
    status = str(getattr(interaction, "status", "") or "")
    errors = getattr(interaction, "errors", None) or []
    error = "; ".join(str(getattr(e, "message", "")) for e in errors if getattr(e, "message", ""))
    steps = blocks_compat.steps_of(interaction)
    text = "".join(x.text for x in b.from_steps(steps) if isinstance(x, b.TextBlock))
    usage = interaction.usage.model_dump(exclude_none=True) if interaction.usage is not None else {}
    return Answer(status, text, usage, error)


def sender(client: Any) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    interactions = client.aio.interactions  # built once: the SDK makes a new resource object per access
    path = FastPath(interactions)

    async def send(params: dict[str, Any]) -> Any:
        lines = [line async for line in path.open(params)]
        said = of_events(list(blocks_compat.current(sse_events(iter(lines)))))
        if said.status == "requires_continuation":  # a long answer: the SDK continues it
            return await interactions.create(**params)
        return said

    return send
