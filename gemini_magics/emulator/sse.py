"""An interaction's event log served as Server-Sent Events: from any position (a resumed stream), cut or
stalled where a fault directive says, and in the pre-GA shape for 1.x clients (``legacy.py``).

``app.py`` decides where a stream starts and which fault applies; this module only sends frames.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from . import legacy
from .store import Record

DONE_FRAME = b"event: done\ndata: [DONE]\n\n"


async def tail(record: Record, start: int, limit: int | None, hang: int | None) -> AsyncIterator[bytes]:
    """The event log from ``start`` on, as SSE frames, batched as they become available.

    ``limit`` closes the connection after that many events (a cut); ``hang`` stops sending after that
    event and keeps the connection open (a stall). A stream that reaches the end of a finished log ends
    with ``event: done`` / ``data: [DONE]``, as the service's do.
    """
    translator = legacy.LegacyEventTranslator() if record.legacy else None
    if translator is not None:
        for event in record.events[:start]:
            translator.translate(event)  # bring the translator's state up to the resume point
    pos = start
    while True:
        await record.wait_for_events(pos)
        end = len(record.events)
        for bound in (limit, hang):
            if bound is not None:
                end = min(end, bound)
        cut = (limit is not None and end >= limit) or (hang is not None and end >= hang)
        last = record.finished and end >= len(record.events) and not cut
        if end > pos or last:
            if translator is None:
                chunk = b"".join(record.frames[pos:end])
            else:
                chunk = b"".join(legacy_frames(translator, record.events[pos:end]))
            yield chunk + DONE_FRAME if last else chunk  # every stream ends with the terminator
            pos = end
        if last or (limit is not None and pos >= limit):
            return
        if hang is not None and pos >= hang:
            await asyncio.Event().wait()  # never set: the client has to give up


def legacy_frames(translator: legacy.LegacyEventTranslator, events: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for event in events:
        for translated in translator.translate(event):
            data = json.dumps(translated, separators=(",", ":"), ensure_ascii=False)
            out.append(f"event: {translated['event_type']}\ndata: {data}\n\n".encode())
    return out
