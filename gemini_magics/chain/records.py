"""What the chain store holds: turns and chain listings, the statuses a turn can have, and the row shape.

The lowest module of ``chain/``: ``store.py`` (the SQLite file) and ``conversation.py`` (one chain's rules)
both read and write these; it imports nothing of the rest of the package.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_VAR = "GEMINI_MAGICS_CHAIN_DB"
DEFAULT_CHAIN = "default"
SCHEMA_VERSION = 1

Status = Literal[
    "completed", "failed", "cancelled", "interrupted", "requires_action", "in_progress", "budget_exceeded"
]
STATUSES: frozenset[str] = frozenset(
    {"completed", "failed", "cancelled", "interrupted", "requires_action", "in_progress", "budget_exceeded"}
)
# Statuses of work that may still change on the service: what a restarted kernel re-attaches to.
PENDING: frozenset[str] = frozenset({"in_progress", "requires_action"})

# Fields ``Chain.update`` may change. The prompt and the parent are what was *sent*: they are history.
UPDATABLE = frozenset(
    {
        "interaction_id",
        "status",
        "answer",
        "model",
        "background",
        "input_tokens",
        "output_tokens",
        "thought_tokens",
        "total_tokens",
        "usage",
        "view",
    }
)


class ChainStoreError(RuntimeError):
    """The store cannot be used safely (e.g. its schema is newer than this release understands)."""


def default_store_path() -> Path:
    """``$GEMINI_MAGICS_CHAIN_DB``, else ``<jupyter data dir>/gemini_magics/chains.sqlite3``.

    The Jupyter data dir is per user and outlives kernels and notebooks' working directories, which is
    what a conversation that must survive restarts needs.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    try:
        from jupyter_core.paths import jupyter_data_dir

        base = Path(jupyter_data_dir())
    except ImportError:
        base = Path.home() / ".local" / "share" / "jupyter"
    return base / "gemini_magics" / "chains.sqlite3"


@dataclass(frozen=True, kw_only=True, slots=True)
class Turn:
    """One request sent on a chain, and what came of it.

    Build one to ``Chain.record`` it; ``id``, ``chain`` and ``segment`` are assigned by the store and
    ignored on input. Turns read back are snapshots: change them with ``Chain.update``.
    """

    prompt: str
    """The input as sent, after interpolation (for a rebuilt context: the user's part only)."""
    model: str = ""
    """Model or agent id."""
    status: Status = "in_progress"
    answer: str = ""
    """Output text so far; partial unless completed."""
    interaction_id: str | None = None
    """None until the service assigned one (and forever for calls that failed before that)."""
    parent_id: str | None = None
    """The ``previous_interaction_id`` it was sent with."""
    rebuilt_from: str | None = None
    """When the head had expired and its transcript was re-sent as input instead (``parent_id`` is then
    None): that expired head. It takes the parent's place for compare-and-set and for ``transcript``."""
    background: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    thought_tokens: int | None = None
    total_tokens: int | None = None
    created: float = field(default_factory=time.time)
    """Seconds since the epoch."""
    deleted: float | None = None
    """When its interaction was deleted on the service (seconds since the epoch); None while stored."""
    finished: float | None = None
    """When it left ``in_progress``/``requires_action`` (seconds since the epoch); None while pending, and
    for turns recorded before this was kept. Set by the store, ignored on input."""
    usage: dict[str, Any] | None = None
    """The interaction's usage as the service reported it (all hops and tool rounds summed)."""
    flags: str = ""
    """The cell's flags a re-run can repeat as written (``export.repeatable_flags``), shell-quoted."""
    id: int | None = None
    chain: str | None = None
    segment: int | None = None

    @property
    def predecessor(self) -> str | None:
        """The interaction whose context this turn continues: what the head must be for it to advance."""
        return self.parent_id if self.parent_id is not None else self.rebuilt_from


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """A chain as listed by ``ChainStore.chains``."""

    name: str
    head: str | None
    turns: int
    updated: float
    segment: int
    active: bool


HOST = socket.gethostname()  # with the pid, who sent a turn (``owners``)

TURN_COLUMNS = (
    "t.id, c.name, t.segment, t.interaction_id, t.parent_id, t.rebuilt_from, t.created, t.model, "
    "t.prompt, t.answer, t.status, t.background, t.input_tokens, t.output_tokens, t.thought_tokens, "
    "t.total_tokens, t.deleted, t.usage, t.flags, t.finished"
)


def turn_from_row(row: tuple[Any, ...]) -> Turn:
    """A ``Turn`` from a row selected as ``TURN_COLUMNS``."""
    return Turn(
        id=row[0],
        chain=row[1],
        segment=row[2],
        interaction_id=row[3],
        parent_id=row[4],
        rebuilt_from=row[5],
        created=row[6],
        model=row[7],
        prompt=row[8],
        answer=row[9],
        status=row[10],
        background=bool(row[11]),
        input_tokens=row[12],
        output_tokens=row[13],
        thought_tokens=row[14],
        total_tokens=row[15],
        deleted=row[16],
        usage=json_or_none(row[17]),
        flags=row[18] or "",
        finished=row[19],
    )


def json_or_none(text: str | None) -> Any:
    """A JSON column's value; None for NULL or text that is not JSON."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def check_status(status: object) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown turn status {status!r}; expected one of {sorted(STATUSES)}")


def check_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a reused pid reads as alive: the safe side)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
