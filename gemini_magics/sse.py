"""Server-sent events as the magics read them: plain dicts from an SDK stream's HTTP lines.

The wire side of ``backend.EventStream`` and of ``--map`` rows (``mapping/answer.py``), kept apart from the
client so either can read a stream without owning one. ``typed()`` gives the SDK's own model of an event
when a caller wants one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import blocks_compat


def lines_of(sdk_stream: Any) -> Iterator[dict[str, Any]]:
    """One SDK stream's events as dicts: its response's SSE lines, or (an SDK that changed its stream
    class) its typed events, slower but correct; older wire shapes made current (``blocks_compat``)."""
    response = getattr(sdk_stream, "response", None)
    if response is not None and hasattr(response, "iter_lines"):
        yield from blocks_compat.current(sse_events(response.iter_lines()))
    else:
        yield from blocks_compat.current(blocks_compat.plain(e) for e in sdk_stream)


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
        elif not line and data:
            payload = "\n".join(data)
            data = []
            if payload == "[DONE]":
                return
            event = json.loads(payload)
            if isinstance(event, dict):
                yield event
    if data and (payload := "\n".join(data)) != "[DONE]":
        event = json.loads(payload)
        if isinstance(event, dict):
            yield event


_ADAPTER: Any = None


def typed(event: dict[str, Any]) -> Any:
    """The SDK's own model of one stream event (validated leniently, as the SDK itself does)."""
    global _ADAPTER
    from google.genai._gaos.types.interactions import InteractionSSEEvent
    from google.genai._gaos.utils import serializers

    if _ADAPTER is None:
        from pydantic import TypeAdapter

        _ADAPTER = TypeAdapter(InteractionSSEEvent)
    return _ADAPTER.validate_python(event, context={serializers.ALLOW_UNKNOWN_UNION_VARIANTS: True})
