"""Server-side state of the emulator: interactions, their event logs, chains and expiry.

Every interaction keeps the full list of events it emitted. Streaming a create, streaming a ``get`` and
resuming with ``last_event_id`` are then one mechanism: tail the log from a position. A background run,
a synchronous run and a streamed run differ only in who waits for the log to end.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "requires_action", "incomplete"})


def now_iso() -> str:
    """The service's timestamp format: RFC 3339 in UTC with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_interaction_id() -> str:
    return "v1_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


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

    def resource(self, include_input: bool = False, with_steps: bool = True) -> dict[str, Any]:
        """The Interaction as the service returns it from create/get/cancel."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "interaction",
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
        }
        for key in ("model", "agent", "previous_interaction_id", "system_instruction", "response_mime_type"):
            if self.request.get(key) is not None:
                body[key] = self.request[key]
        if with_steps:
            body["steps"] = self.steps
        if self.usage is not None:
            body["usage"] = self.usage
        if self.errors:
            body["errors"] = self.errors
        if include_input:
            body["input"] = self.input_steps
        return body

    def lifecycle(self) -> dict[str, Any]:
        """The partial interaction carried by ``interaction.created`` / ``interaction.completed``."""
        body = self.resource(with_steps=False)
        body.pop("previous_interaction_id", None)
        body.pop("system_instruction", None)
        body.pop("response_mime_type", None)
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
        record = self._records.pop(interaction_id, None)
        if record is not None and record.task is not None and not record.task.done():
            record.task.cancel()
        return record is not None and record.stored

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
