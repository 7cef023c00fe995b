"""Per-notebook interaction chains, persisted in SQLite.

``%%gemini`` continues a conversation through the service's ``previous_interaction_id``; the id of the
last completed interaction (the chain's *head*) must therefore survive a kernel restart, and everything
the user sent or received must stay readable even when a call failed. This module keeps that state in one
SQLite file shared by every kernel of the user:

* WAL mode, a busy timeout and short ``BEGIN IMMEDIATE`` transactions, so several kernels (processes) can
  write at once and a kernel killed mid-write leaves the file consistent (SQLite's own atomic commit).
* Only a completed interaction advances a chain, and only by compare-and-set against the head it was sent
  with: two kernels continuing the same chain never silently interleave, the loser is told.
* Every turn is recorded, whatever its outcome; ``reset`` starts a new *segment* without deleting history.
* A ``meta`` table carries the schema version, so later releases can migrate, and a file written by a
  newer release is refused rather than damaged.
* Each turn remembers the kernel (host and pid) that sent it, so a turn left ``in_progress`` by a kernel
  that died mid-call (SIGKILL, out of memory) can later be shown as ``interrupted``, not as still running.
* A turn whose interaction was deleted on the service (``%gemini delete``) keeps its row, with the time of
  the deletion in ``deleted``: the history stays readable and says what is gone.
* Each turn keeps the service's whole ``usage`` (JSON: ``%gemini usage``, the budget), and for ``%gemini
  export`` the static view its answer was shown with (``view``: Markdown and text) and the cell's flags a
  re-run can repeat (``flags``).
* A turn that leaves a pending status keeps when it did (``finished``): a run's elapsed time stays known
  after its kernel is gone (the Jupyter server extension lists it).

Nothing here logs, and no API key ever reaches this module.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEFAULT_CHAIN",
    "ENV_VAR",
    "PENDING",
    "SCHEMA_VERSION",
    "STATUSES",
    "Chain",
    "ChainInfo",
    "ChainStore",
    "ChainStoreError",
    "Status",
    "Turn",
    "default_store_path",
]

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
_UPDATABLE = frozenset(
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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (
    id INTEGER PRIMARY KEY,
    notebook TEXT NOT NULL,
    name TEXT NOT NULL,
    head TEXT,
    segment INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    UNIQUE (notebook, name)
);
CREATE TABLE IF NOT EXISTS active (notebook TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    chain_id INTEGER NOT NULL REFERENCES chains (id) ON DELETE CASCADE,
    segment INTEGER NOT NULL,
    interaction_id TEXT,
    parent_id TEXT,
    rebuilt_from TEXT,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT NOT NULL,
    background INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER,
    output_tokens INTEGER,
    thought_tokens INTEGER,
    total_tokens INTEGER
);
CREATE INDEX IF NOT EXISTS turns_by_chain ON turns (chain_id, id);
CREATE INDEX IF NOT EXISTS turns_by_interaction ON turns (interaction_id) WHERE interaction_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS turns_background ON turns (chain_id, id) WHERE background = 1;
"""
# Added within schema version 1 (a table of its own, so earlier releases read and write the file as before;
# their turns simply have no owner).
_OWNERS = """
CREATE TABLE IF NOT EXISTS owners (
    turn_id INTEGER PRIMARY KEY REFERENCES turns (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
)
"""
# Added within schema version 1 as a nullable column that no earlier release names, so they read and
# write the file as before (their INSERTs list their columns; the new one stays NULL).
_DELETED_COLUMN = "ALTER TABLE turns ADD COLUMN deleted REAL"
_LATER_COLUMNS = {name: f"ALTER TABLE turns ADD COLUMN {name} TEXT" for name in ("usage", "view", "flags")}
_LATER_COLUMNS["finished"] = "ALTER TABLE turns ADD COLUMN finished REAL"
_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a reused pid reads as alive: the safe side)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# Migrations from version N to N + 1, run inside the opening transaction. Empty until version 2 exists.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}

_TURN_COLUMNS = (
    "t.id, c.name, t.segment, t.interaction_id, t.parent_id, t.rebuilt_from, t.created, t.model, "
    "t.prompt, t.answer, t.status, t.background, t.input_tokens, t.output_tokens, t.thought_tokens, "
    "t.total_tokens, t.deleted, t.usage, t.flags, t.finished"
)


def _turn(row: tuple[Any, ...]) -> Turn:
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
        usage=_json(row[17]),
        flags=row[18] or "",
        finished=row[19],
    )


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _check_status(status: object) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown turn status {status!r}; expected one of {sorted(STATUSES)}")


def _check_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")


class ChainStore:
    """All chains of all notebooks of one user, in one SQLite file shared by every kernel.

    One connection per store and process (re-opened after a fork), guarded by a lock so a kernel's
    threads (e.g. a background poller) can share it.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._stale: list[sqlite3.Connection] = []
        self._db = self._open()

    # -- connection and transactions -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Prompts and answers are private: create the file owner-only (SQLite gives -wal/-shm the same).
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            self._retry(lambda: db.execute("PRAGMA journal_mode = WAL").fetchone())
            # NORMAL in WAL mode: a committed turn survives a killed kernel (SIGKILL) and the file is never
            # corrupted; only a power cut may lose the last turns. FULL would add an fsync to every cell.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _retry(self, op: Callable[[], object]) -> None:
        """Run ``op``, retrying while the database is locked (switching to WAL may bypass busy_timeout)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                op()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            has_meta = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            row = (
                db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if has_meta
                else None
            )
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ChainStoreError(
                    f"{self.path} has schema version {version}, newer than this release understands "
                    f"({SCHEMA_VERSION}); upgrade gemini-magics or point {ENV_VAR} elsewhere"
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                version = SCHEMA_VERSION
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](db)
                version += 1
            db.execute(_OWNERS)
            columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
            if "deleted" not in columns:
                db.execute(_DELETED_COLUMN)
            for name, statement in _LATER_COLUMNS.items():
                if name not in columns:
                    db.execute(statement)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must not use its parent's connection. Keep the old object referenced so its
            # finaliser never runs (closing it here could checkpoint or unlink the parent's WAL).
            self._stale.append(self._db)
            self._pid = os.getpid()
            self._db = self._open()
        return self._db

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A short transaction; writers take the write lock up front so they never fail mid-way on BUSY."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ChainStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chains ----------------------------------------------------------------------------------

    def _ensure(self, db: sqlite3.Connection, notebook: str, name: str) -> int:
        _check_name("notebook key", notebook)
        _check_name("chain name", name)
        now = time.time()
        db.execute(
            "INSERT INTO chains (notebook, name, created, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (notebook, name) DO NOTHING",
            (notebook, name, now, now),
        )
        return db.execute(
            "SELECT id FROM chains WHERE notebook = ? AND name = ?", (notebook, name)
        ).fetchone()[0]

    def chain(self, notebook: str, name: str = DEFAULT_CHAIN) -> Chain:
        """The chain ``name`` of ``notebook``, created (empty, head None) if it does not exist yet."""
        with self._transaction(write=True) as db:
            chain_id = self._ensure(db, notebook, name)
        return Chain(self, chain_id, notebook, name)

    def chains(self, notebook: str) -> list[ChainInfo]:
        """The notebook's chains, by name."""
        with self._transaction(write=False) as db:
            active = self._active(db, notebook)
            rows = db.execute(
                "SELECT c.name, c.head, (SELECT COUNT(*) FROM turns t WHERE t.chain_id = c.id), "
                "c.updated, c.segment FROM chains c WHERE c.notebook = ? ORDER BY c.name",
                (notebook,),
            ).fetchall()
        return [ChainInfo(r[0], r[1], r[2], r[3], r[4], r[0] == active) for r in rows]

    @staticmethod
    def _active(db: sqlite3.Connection, notebook: str) -> str:
        row = db.execute("SELECT name FROM active WHERE notebook = ?", (notebook,)).fetchone()
        return row[0] if row else DEFAULT_CHAIN

    def active_name(self, notebook: str) -> str:
        """The chain ``%%gemini`` continues in this notebook (``"default"`` until another is chosen)."""
        with self._transaction(write=False) as db:
            return self._active(db, notebook)

    def set_active(self, notebook: str, name: str) -> Chain:
        """Persist ``name`` as the notebook's active chain (creating it), so a restart continues it."""
        with self._transaction(write=True) as db:
            chain_id = self._ensure(db, notebook, name)
            db.execute(
                "INSERT INTO active (notebook, name) VALUES (?, ?) "
                "ON CONFLICT (notebook) DO UPDATE SET name = excluded.name",
                (notebook, name),
            )
        return Chain(self, chain_id, notebook, name)

    def reset(self, notebook: str, name: str = DEFAULT_CHAIN) -> Chain:
        """Start the chain afresh (head None, new segment); its turns stay as readable history."""
        chain = self.chain(notebook, name)
        chain.reset()
        return chain

    # -- cross-chain lookups ---------------------------------------------------------------------

    def background(self, notebook: str, *, pending_only: bool = False) -> list[Turn]:
        """Background turns of every chain of ``notebook``, oldest first: what to re-attach to after a
        restart (``pending_only``: just those still in a ``PENDING`` status)."""
        sql = (
            f"SELECT {_TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
            "WHERE c.notebook = ? AND t.background = 1"
        )
        params: list[object] = [notebook]
        if pending_only:
            sql += " AND t.status IN ({})".format(", ".join("?" * len(PENDING)))
            params += sorted(PENDING)
        with self._transaction(write=False) as db:
            rows = db.execute(sql + " ORDER BY t.id", params).fetchall()
        return [_turn(r) for r in rows]

    def settle_orphans(self, notebook: str) -> int:
        """Mark ``interrupted`` the foreground turns of ``notebook`` still ``in_progress`` whose kernel on
        this host is gone (killed mid-call, so nobody will ever finish them); how many were marked.

        Background turns are left alone: the service finishes them and a restarted kernel re-attaches.
        """
        pending = ", ".join("?" * len(PENDING))
        select = (
            "SELECT t.id, o.pid FROM turns t JOIN chains c ON c.id = t.chain_id "
            "JOIN owners o ON o.turn_id = t.id "
            f"WHERE c.notebook = ? AND t.background = 0 AND t.status IN ({pending}) "
            "AND o.host = ? AND o.pid != ?"
        )
        params = [notebook, *sorted(PENDING), _HOST, os.getpid()]
        with self._transaction(write=False) as db:
            candidates = db.execute(select, params).fetchall()
        orphans = [turn_id for turn_id, pid in candidates if not _alive(pid)]
        if not orphans:
            return 0
        with self._transaction(write=True) as db:
            for turn_id in orphans:
                db.execute(
                    "UPDATE turns SET status = 'interrupted', finished = ? "
                    f"WHERE id = ? AND status IN ({pending})",
                    (time.time(), turn_id, *sorted(PENDING)),
                )
        return len(orphans)

    def notebooks(self) -> list[str]:
        """Every notebook key with a chain, sorted (the Jupyter server extension lists them all)."""
        with self._transaction(write=False) as db:
            return [row[0] for row in db.execute("SELECT DISTINCT notebook FROM chains ORDER BY notebook")]

    def pending_background(self) -> list[tuple[str, Turn]]:
        """``(notebook, turn)`` of every background turn of every notebook still in a ``PENDING`` status,
        oldest first: what a follower outside the kernels (the server extension) may pick up."""
        pending = ", ".join("?" * len(PENDING))
        with self._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT c.notebook, {_TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                f"WHERE t.background = 1 AND t.status IN ({pending}) ORDER BY t.id",
                sorted(PENDING),
            ).fetchall()
        return [(row[0], _turn(row[1:])) for row in rows]

    def owner_alive(self, turn_id: int) -> bool | None:
        """Whether the kernel that recorded the turn still runs; None when that cannot be told (another
        host, or a turn recorded before owners were kept)."""
        with self._transaction(write=False) as db:
            row = db.execute("SELECT host, pid FROM owners WHERE turn_id = ?", (turn_id,)).fetchone()
        if row is None or row[0] != _HOST:
            return None
        return _alive(row[1])

    def mark_deleted(self, interaction_id: str, when: float | None = None) -> int:
        """Record that the service no longer holds ``interaction_id`` (deleted, or already gone): its turns
        stay in the history, marked. How many turns were marked now."""
        with self._transaction(write=True) as db:
            cursor = db.execute(
                "UPDATE turns SET deleted = ? WHERE interaction_id = ? AND deleted IS NULL",
                (time.time() if when is None else when, interaction_id),
            )
            return cursor.rowcount

    def find(self, interaction_id: str) -> tuple[str, str, Turn] | None:
        """``(notebook, chain name, turn)`` of the (latest) turn with that interaction id, if any."""
        with self._transaction(write=False) as db:
            row = db.execute(
                f"SELECT c.notebook, {_TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                "WHERE t.interaction_id = ? ORDER BY t.id DESC LIMIT 1",
                (interaction_id,),
            ).fetchone()
        if row is None:
            return None
        turn = _turn(row[1:])
        return row[0], turn.chain or "", turn

    def usages(self, notebook: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(chain name, model, usage)`` of every turn of ``notebook`` that reported usage, oldest first;
        turns recorded before whole usages were kept give their token columns."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT c.name, t.model, t.usage, t.input_tokens, t.output_tokens, t.thought_tokens "
                "FROM turns t JOIN chains c ON c.id = t.chain_id WHERE c.notebook = ? ORDER BY t.id",
                (notebook,),
            ).fetchall()
        out = []
        for name, model, usage, *tokens in rows:
            found = _json(usage)
            if not isinstance(found, dict) and any(n is not None for n in tokens):
                keys = ("total_input_tokens", "total_output_tokens", "total_thought_tokens")
                found = {key: n for key, n in zip(keys, tokens, strict=True) if n is not None}
            if isinstance(found, dict) and found:
                out.append((name, model, found))
        return out


class Chain:
    """A handle on one chain. It caches nothing: ``head`` and ``turns()`` read the file each time, because
    another kernel may have moved the chain meanwhile."""

    def __init__(self, store: ChainStore, chain_id: int, notebook: str, name: str) -> None:
        self.store = store
        self.notebook = notebook
        self.name = name
        self._id = chain_id

    def __repr__(self) -> str:
        return f"Chain(notebook={self.notebook!r}, name={self.name!r})"

    def _state(self, db: sqlite3.Connection) -> tuple[str | None, int]:
        head, segment = db.execute("SELECT head, segment FROM chains WHERE id = ?", (self._id,)).fetchone()
        return head, segment

    @property
    def head(self) -> str | None:
        """Interaction id to send as ``previous_interaction_id`` next; None to start a conversation."""
        with self.store._transaction(write=False) as db:
            return self._state(db)[0]

    @property
    def segment(self) -> int:
        """How many times the chain was reset; turns of earlier segments are history only."""
        with self.store._transaction(write=False) as db:
            return self._state(db)[1]

    def turns(self) -> list[Turn]:
        """Every turn ever recorded on this chain, all segments and outcomes, in the order recorded."""
        with self.store._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                "WHERE t.chain_id = ? ORDER BY t.id",
                (self._id,),
            ).fetchall()
        return [_turn(r) for r in rows]

    def views(self, turn_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The static views (``{"markdown", "plain"}``) the turns' answers were shown with, by turn id."""
        if not turn_ids:
            return {}
        marks = ", ".join("?" * len(turn_ids))
        with self.store._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT id, view FROM turns WHERE chain_id = ? AND id IN ({marks}) AND view IS NOT NULL",
                (self._id, *turn_ids),
            ).fetchall()
        return {turn_id: view for turn_id, text in rows if isinstance(view := _json(text), dict)}

    def stored_ids(self) -> list[str]:
        """The interaction ids of every turn of the chain (all segments) not marked deleted, oldest first:
        what the service may still hold of it (the API cannot list a conversation, this store can)."""
        with self.store._transaction(write=False) as db:
            rows = db.execute(
                "SELECT interaction_id FROM turns WHERE chain_id = ? AND interaction_id IS NOT NULL "
                "AND deleted IS NULL GROUP BY interaction_id ORDER BY MIN(id)",
                (self._id,),
            ).fetchall()
        return [row[0] for row in rows]

    def turn(self, turn_id: int) -> Turn:
        """One turn of this chain; KeyError if the id belongs to no turn of it."""
        with self.store._transaction(write=False) as db:
            return self._turn(db, turn_id)

    def _turn(self, db: sqlite3.Connection, turn_id: int) -> Turn:
        row = db.execute(
            f"SELECT {_TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
            "WHERE t.id = ? AND t.chain_id = ?",
            (turn_id, self._id),
        ).fetchone()
        if row is None:
            raise KeyError(f"no turn {turn_id} in {self!r}")
        return _turn(row)

    def record(self, turn: Turn) -> int:
        """Store ``turn`` in the current segment, whatever its status, and return its row id.

        Record before sending (status ``in_progress``) so that a kernel dying mid-call loses nothing; the
        head does not move until ``advance``/``complete``.
        """
        _check_status(turn.status)
        with self.store._transaction(write=True) as db:
            _, segment = self._state(db)
            cursor = db.execute(
                "INSERT INTO turns (chain_id, segment, interaction_id, parent_id, rebuilt_from, created, "
                "model, prompt, answer, status, background, input_tokens, output_tokens, thought_tokens, "
                "total_tokens, usage, flags, finished) "
                f"VALUES ({', '.join('?' * 18)})",
                (
                    self._id,
                    segment,
                    turn.interaction_id,
                    turn.parent_id,
                    turn.rebuilt_from,
                    turn.created,
                    turn.model,
                    turn.prompt,
                    turn.answer,
                    turn.status,
                    int(turn.background),
                    turn.input_tokens,
                    turn.output_tokens,
                    turn.thought_tokens,
                    turn.total_tokens,
                    None if turn.usage is None else json.dumps(turn.usage),
                    turn.flags,
                    None if turn.status in PENDING else time.time(),
                ),
            )
            assert cursor.lastrowid is not None
            db.execute(
                "INSERT INTO owners (turn_id, host, pid) VALUES (?, ?, ?)",
                (cursor.lastrowid, _HOST, os.getpid()),
            )
            self._touch(db)
            return cursor.lastrowid

    def update(self, turn_id: int, **fields: Any) -> Turn:
        """Change a recorded turn (answer streamed so far, final status, id, tokens) and return it.

        Refuses to un-complete the head or change its id: the head must stay a completed interaction.
        """
        with self.store._transaction(write=True) as db:
            return self._update(db, turn_id, fields)

    def _update(self, db: sqlite3.Connection, turn_id: int, fields: dict[str, Any]) -> Turn:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"cannot update {sorted(unknown)}; updatable: {sorted(_UPDATABLE)}")
        if "status" in fields:
            _check_status(fields["status"])
        current = self._turn(db, turn_id)
        head, segment = self._state(db)
        is_head = current.segment == segment and head is not None and current.interaction_id == head
        keeps_head = (
            fields.get("status", "completed") == "completed" and fields.get("interaction_id", head) == head
        )
        if is_head and not keeps_head:
            raise ValueError(f"turn {turn_id} is the head of {self!r}; its status and id are final")
        if fields.get("status", current.status) not in PENDING and current.status in PENDING:
            fields = {**fields, "finished": time.time()}
        if fields:
            if "background" in fields:
                fields = {**fields, "background": int(bool(fields["background"]))}
            for name in ("usage", "view"):
                if fields.get(name) is not None and not isinstance(fields[name], str):
                    fields = {**fields, name: json.dumps(fields[name])}
            assignments = ", ".join(f"{name} = ?" for name in fields)
            db.execute(f"UPDATE turns SET {assignments} WHERE id = ?", (*fields.values(), turn_id))
            self._touch(db)
        return self._turn(db, turn_id)

    def advance(self, turn_id: int) -> bool:
        """Make the turn's interaction the head, if the head is still what the turn was sent after.

        Only a completed interaction advances a chain (ValueError otherwise). Returns False, leaving the
        head alone, when another kernel advanced the chain meanwhile or it was reset since: the turn then
        stays in the history only. Advancing to the current head again is a no-op returning True.
        """
        with self.store._transaction(write=True) as db:
            return self._advance(db, turn_id)

    def complete(self, turn_id: int, *, fresh: bool = False, **fields: Any) -> bool:
        """``update(turn_id, status="completed", **fields)`` and ``advance(turn_id)`` in one transaction,
        so a kernel killed in between cannot leave a completed turn that never became the head.

        ``fresh``: the turn starts a new conversation (``--new``): the chain is reset with it, only now
        that it completed, so a ``--new`` cell that fails leaves the chain where it was."""
        with self.store._transaction(write=True) as db:
            if fresh:
                self._begin(db, turn_id)
            self._update(db, turn_id, {**fields, "status": "completed"})
            return self._advance(db, turn_id)

    def begin(self, turn_id: int) -> None:
        """Reset the chain (head None, a new segment) with ``turn_id`` as the new segment's first turn: a
        ``--new`` background run once the service accepted it (it becomes the head when it completes)."""
        with self.store._transaction(write=True) as db:
            self._begin(db, turn_id)

    def _begin(self, db: sqlite3.Connection, turn_id: int) -> None:
        self._turn(db, turn_id)  # KeyError for a turn of another chain
        db.execute(
            "UPDATE chains SET head = NULL, segment = segment + 1, updated = ? WHERE id = ?",
            (time.time(), self._id),
        )
        db.execute(
            "UPDATE turns SET segment = (SELECT segment FROM chains WHERE id = ?) WHERE id = ?",
            (self._id, turn_id),
        )

    def adopt(self, turn_id: int, finished: float, **fields: Any) -> bool:
        """Complete a background turn (a research run) and make it the head, in one transaction.

        It advances like ``complete`` when the head is still what it was sent after. When other turns moved
        the head while it ran, it still becomes the head if it finished after the current head's turn was
        sent (``finished``: seconds since the epoch): the newest answer is what the next cell asks about,
        and the turns in between stay in the history (``--from`` continues them). Never across a reset.
        """
        with self.store._transaction(write=True) as db:
            self._update(db, turn_id, {**fields, "status": "completed"})
            turn = self._turn(db, turn_id)
            head, segment = self._state(db)
            if turn.segment != segment or turn.interaction_id is None:
                return False
            if head is None or head in (turn.interaction_id, turn.predecessor):
                return self._advance(db, turn_id)
            row = db.execute(
                "SELECT MAX(created) FROM turns WHERE chain_id = ? AND segment = ? AND interaction_id = ?",
                (self._id, segment, head),
            ).fetchone()
            if row[0] is not None and row[0] > finished:
                return False
            db.execute(
                "UPDATE chains SET head = ?, updated = ? WHERE id = ?",
                (turn.interaction_id, time.time(), self._id),
            )
            return True

    def _advance(self, db: sqlite3.Connection, turn_id: int) -> bool:
        turn = self._turn(db, turn_id)
        if turn.status != "completed":
            raise ValueError(
                f"only a completed interaction advances a chain; turn {turn_id} is {turn.status}"
            )
        if turn.interaction_id is None:
            raise ValueError(f"turn {turn_id} is completed but has no interaction id")
        head, segment = self._state(db)
        if turn.segment != segment:
            return False
        if head == turn.interaction_id:
            return True
        if head != turn.predecessor:
            return False
        db.execute(
            "UPDATE chains SET head = ?, updated = ? WHERE id = ?",
            (turn.interaction_id, time.time(), self._id),
        )
        return True

    def reset(self) -> None:
        """Head None and a new segment: the next prompt starts a new conversation, history stays."""
        with self.store._transaction(write=True) as db:
            db.execute(
                "UPDATE chains SET head = NULL, segment = segment + 1, updated = ? WHERE id = ?",
                (time.time(), self._id),
            )

    def transcript(self) -> list[tuple[str, str]]:
        """``("user", prompt)``/``("model", answer)`` pairs from the segment's start to the head, in order.

        Follows each turn's predecessor back from the head, so completed turns that lost a
        compare-and-set are left out. Used to re-send the context when the service expired the head.
        Turns deleted on the service (``%gemini delete``) are left out too: deleting them meant it.
        """
        pairs: list[tuple[str, str]] = []
        for row in self._path():
            if row[5] is None:
                pairs += [("user", row[3]), ("model", row[4])]
        return pairs

    def path_ids(self) -> list[str]:
        """The interaction ids the head continues, oldest first, head last (deleted ones included): the
        service needs every one of them to continue the chain."""
        return [row[0] for row in self._path()]

    def _path(self) -> list[tuple[Any, ...]]:
        """Rows ``(interaction_id, parent_id, rebuilt_from, prompt, answer, deleted)`` from the segment's
        start to the head."""
        with self.store._transaction(write=False) as db:
            head, segment = self._state(db)
            if head is None:
                return []
            rows = db.execute(
                "SELECT interaction_id, parent_id, rebuilt_from, prompt, answer, deleted FROM turns "
                "WHERE chain_id = ? AND segment = ? AND status = 'completed' AND interaction_id IS NOT NULL "
                "ORDER BY id",
                (self._id, segment),
            ).fetchall()
        by_id = {r[0]: r for r in rows}
        path: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        current: str | None = head
        while current is not None and current in by_id and current not in seen:
            seen.add(current)
            row = by_id[current]
            path.append(row)
            current = row[1] if row[1] is not None else row[2]
        return path[::-1]

    def _touch(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE chains SET updated = ? WHERE id = ?", (time.time(), self._id))
