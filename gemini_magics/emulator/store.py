"""Server-side state of the emulator: interactions, their event logs, chains and expiry.

Every interaction keeps the full list of events it emitted. Streaming a create, streaming a ``get`` and
resuming with ``last_event_id`` are then one mechanism: tail the log from a position. A background run,
a synchronous run and a streamed run differ only in who waits for the log to end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Every status after which an interaction produces nothing more (until a client sends a follow-up).
TERMINAL_STATUSES = frozenset(
    {
        "completed",
        "failed",
        "cancelled",
        "requires_action",
        "incomplete",
        "budget_exceeded",
        "idle",
        "requires_continuation",
    }
)
_ID_FIELD = re.compile(rb"\n\x17([A-Za-z0-9_-]{23})\x12\x17([A-Za-z0-9_-]{23})")


def now_iso() -> str:
    """The service's timestamp format: RFC 3339 in UTC to the second, with a ``Z`` (2026-06-24T11:13:57Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_interaction_id(previous_id: str | None = None, stored: bool = True) -> str:
    """An id shaped like the service's: ``v1_`` + unpadded base64url of a small protobuf.

    Real ids (real-samples/preGA_droidnext_notebook_outputs.json) hold two length-prefixed 23-character
    tokens: the chain's first interaction and this one, so ids of one chain share their first segment.
    Interactions created with ``store=false`` get ``v2_`` (real-samples/docs_quickstart_stream_and_stateless).
    """
    root = chain_root(previous_id) if previous_id else None
    token = secrets.token_urlsafe(17)[:23].encode()
    raw = b"\n\x17" + (root or token) + b"\x12\x17" + token
    prefix = "v1_" if stored else "v2_"
    return prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def chain_root(interaction_id: str) -> bytes | None:
    """The chain token inside an id of ours (None for any other id)."""
    body = interaction_id[3:] if interaction_id[:3] in ("v1_", "v2_") else interaction_id
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None
    found = _ID_FIELD.fullmatch(raw)
    return found.group(1) if found else None


@dataclass
class Record:
    """One interaction as the emulator holds it."""

    id: str
    request: dict[str, Any]
    input_steps: list[dict[str, Any]]
    stored: bool
    legacy: bool = False
    status: str = "in_progress"
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    steps: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    # The event log: dicts (for translation to other wire shapes) and their encoded SSE frames.
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)
    expires_at: float | None = None
    task: asyncio.Task[None] | None = None
    streams_served: int = 0
    polls_failed: int = 0
    continuation_token: str | None = None
    # Hops of one answer (continuation.py): which hop this is, and the turn's one-shot fault gate.
    hop: int = 1
    gate: dict[str, bool] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further fields a behaviour adds (environment_id)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def model(self) -> str | None:
        return self.request.get("model")

    @property
    def agent(self) -> str | None:
        return self.request.get("agent")

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def emit(self, event: dict[str, Any]) -> None:
        """Append an event to the log (numbering it) and wake every reader."""
        event["event_id"] = str(len(self.events) + 1)
        self.events.append(event)
        self.frames.append(b"event: %s\ndata: %s\n\n" % (event["event_type"].encode(), _dumps(event)))
        self.updated = now_iso()
        self._wake()

    def close_log(self) -> None:
        """Wake readers once more after the final event so they notice the end."""
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for_events(self, seen: int, timeout: float | None = None) -> bool:
        """Wait until the log holds more than ``seen`` events or the run ended; False on timeout."""
        while len(self.events) <= seen and not self.finished:
            waiter = self._changed
            try:
                await asyncio.wait_for(waiter.wait(), timeout)
            except TimeoutError:
                return False
        return True

    @property
    def service_tier(self) -> str:
        return str(self.request.get("service_tier") or "standard")

    def resource(self, include_input: bool = False, stored_view: bool = False) -> dict[str, Any]:
        """The Interaction as the service returns it from create/get/cancel.

        ``stored_view`` (a ``get``) lists the stored steps from the leading ``user_input`` on, as the service
        does; a create's reply holds only what this interaction produced.
        """
        body = self._envelope()
        for key in ("previous_interaction_id", "system_instruction", "response_mime_type"):
            if self.request.get(key) is not None:
                body[key] = self.request[key]
        body["steps"] = [*self.input_steps, *self.steps] if stored_view else self.steps
        if self.errors:
            body["errors"] = self.errors
        if include_input:
            body["input"] = self.input_steps
        return body

    def lifecycle(self, final: bool = False) -> dict[str, Any]:
        """The partial interaction carried by ``interaction.created`` (``final=False``) and
        ``interaction.completed``: the recorded streams show no timestamps, tier or usage on the first."""
        if not final:
            body: dict[str, Any] = {"id": self.id, "status": self.status, "object": "interaction"}
            body.update(self._owner())
            return body
        return self._envelope()

    def _owner(self) -> dict[str, Any]:
        return {"agent": self.agent} if self.agent else {"model": self.model}

    def _envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.usage is not None:
            body["usage"] = self.usage
        body["created"], body["updated"] = self.created, self.updated
        if self.continuation_token:
            body["continuation_token"] = self.continuation_token
        if not self.agent:
            body["service_tier"] = self.service_tier
        body["object"] = "interaction"
        body.update(self._owner())
        body.update(self.extra)
        return body


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Store:
    """All interactions of one emulator, with the expiry rule of the service's stored interactions."""

    def __init__(self, expire_after: float | None = None) -> None:
        self._records: dict[str, Record] = {}
        self.expire_after = expire_after

    def add(self, record: Record) -> None:
        self._records[record.id] = record

    def get(self, interaction_id: str) -> Record | None:
        """A retrievable record: stored, not deleted, not expired."""
        record = self._records.get(interaction_id)
        if record is None or not record.stored:
            return None
        if record.expires_at is not None and time.monotonic() >= record.expires_at:
            return None
        return record

    def forget(self, interaction_id: str) -> None:
        """Drop a finished ``store=false`` interaction: the service keeps nothing of it."""
        self._records.pop(interaction_id, None)

    def delete(self, interaction_id: str) -> bool:
        """Delete a retrievable interaction; an expired or unknown one is not found (404) (service)."""
        found = self.get(interaction_id) is not None
        record = self._records.pop(interaction_id, None)
        if record is not None and record.task is not None and not record.task.done():
            record.task.cancel()
        return found

    def expire(self, interaction_id: str | None = None) -> int:
        """Make one interaction (or all) expire now, as the service's retention limit would."""
        targets = [interaction_id] if interaction_id else list(self._records)
        count = 0
        for key in targets:
            record = self._records.get(key)
            if record is not None:
                record.expires_at = time.monotonic()
                count += 1
        return count

    def schedule_expiry(self, record: Record) -> None:
        seconds = record.directives.get("expire")
        delay = float(seconds) if seconds is not None else self.expire_after
        if delay is not None:
            record.expires_at = time.monotonic() + delay

    def history(self, interaction_id: str) -> list[dict[str, Any]]:
        """Every step of a chain up to and including ``interaction_id``, oldest first.

        Raises KeyError with the id that could not be found (deleted or expired links break a chain).
        """
        chain: list[Record] = []
        cursor: str | None = interaction_id
        while cursor:
            record = self.get(cursor)
            if record is None:
                raise KeyError(cursor)
            chain.append(record)
            cursor = record.request.get("previous_interaction_id")
        steps: list[dict[str, Any]] = []
        for record in reversed(chain):
            steps.extend(record.input_steps)
            steps.extend(record.steps)
        return steps

    def __len__(self) -> int:
        return len(self._records)
