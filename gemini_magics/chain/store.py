"""The SQLite file every kernel of the user shares: its schema and migrations, connections and short
transactions, the notebooks' chains and active chain, and lookups across chains (background runs, orphaned
turns, deletions, usage). One chain's own rules are ``conversation.py``'s.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .conversation import Chain
from .records import (
    DEFAULT_CHAIN,
    ENV_VAR,
    HOST,
    PENDING,
    SCHEMA_VERSION,
    TURN_COLUMNS,
    ChainInfo,
    ChainStoreError,
    Turn,
    check_name,
    json_or_none,
    pid_alive,
    turn_from_row,
)

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


# Migrations from version N to N + 1, run inside the opening transaction. Empty until version 2 exists.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


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
    def transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A short transaction; writers take the write lock up front so they never fail mid-way on BUSY (the
        chains of this store open theirs here)."""
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
        check_name("notebook key", notebook)
        check_name("chain name", name)
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
        with self.transaction(write=True) as db:
            chain_id = self._ensure(db, notebook, name)
        return Chain(self, chain_id, notebook, name)

    def chains(self, notebook: str) -> list[ChainInfo]:
        """The notebook's chains, by name."""
        with self.transaction(write=False) as db:
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
        with self.transaction(write=False) as db:
            return self._active(db, notebook)

    def set_active(self, notebook: str, name: str) -> Chain:
        """Persist ``name`` as the notebook's active chain (creating it), so a restart continues it."""
        with self.transaction(write=True) as db:
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
            f"SELECT {TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
            "WHERE c.notebook = ? AND t.background = 1"
        )
        params: list[object] = [notebook]
        if pending_only:
            sql += " AND t.status IN ({})".format(", ".join("?" * len(PENDING)))
            params += sorted(PENDING)
        with self.transaction(write=False) as db:
            rows = db.execute(sql + " ORDER BY t.id", params).fetchall()
        return [turn_from_row(r) for r in rows]

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
        params = [notebook, *sorted(PENDING), HOST, os.getpid()]
        with self.transaction(write=False) as db:
            candidates = db.execute(select, params).fetchall()
        orphans = [turn_id for turn_id, pid in candidates if not pid_alive(pid)]
        if not orphans:
            return 0
        with self.transaction(write=True) as db:
            for turn_id in orphans:
                db.execute(
                    "UPDATE turns SET status = 'interrupted', finished = ? "
                    f"WHERE id = ? AND status IN ({pending})",
                    (time.time(), turn_id, *sorted(PENDING)),
                )
        return len(orphans)

    def notebooks(self) -> list[str]:
        """Every notebook key with a chain, sorted (the Jupyter server extension lists them all)."""
        with self.transaction(write=False) as db:
            return [row[0] for row in db.execute("SELECT DISTINCT notebook FROM chains ORDER BY notebook")]

    def pending_background(self) -> list[tuple[str, Turn]]:
        """``(notebook, turn)`` of every background turn of every notebook still in a ``PENDING`` status,
        oldest first: what a follower outside the kernels (the server extension) may pick up."""
        pending = ", ".join("?" * len(PENDING))
        with self.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT c.notebook, {TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                f"WHERE t.background = 1 AND t.status IN ({pending}) ORDER BY t.id",
                sorted(PENDING),
            ).fetchall()
        return [(row[0], turn_from_row(row[1:])) for row in rows]

    def owner_alive(self, turn_id: int) -> bool | None:
        """Whether the kernel that recorded the turn still runs; None when that cannot be told (another
        host, or a turn recorded before owners were kept)."""
        with self.transaction(write=False) as db:
            row = db.execute("SELECT host, pid FROM owners WHERE turn_id = ?", (turn_id,)).fetchone()
        if row is None or row[0] != HOST:
            return None
        return pid_alive(row[1])

    def mark_deleted(self, interaction_id: str, when: float | None = None) -> int:
        """Record that the service no longer holds ``interaction_id`` (deleted, or already gone): its turns
        stay in the history, marked. How many turns were marked now."""
        with self.transaction(write=True) as db:
            cursor = db.execute(
                "UPDATE turns SET deleted = ? WHERE interaction_id = ? AND deleted IS NULL",
                (time.time() if when is None else when, interaction_id),
            )
            return cursor.rowcount

    def find(self, interaction_id: str) -> tuple[str, str, Turn] | None:
        """``(notebook, chain name, turn)`` of the (latest) turn with that interaction id, if any."""
        with self.transaction(write=False) as db:
            row = db.execute(
                f"SELECT c.notebook, {TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                "WHERE t.interaction_id = ? ORDER BY t.id DESC LIMIT 1",
                (interaction_id,),
            ).fetchone()
        if row is None:
            return None
        turn = turn_from_row(row[1:])
        return row[0], turn.chain or "", turn

    def usages(self, notebook: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(chain name, model, usage)`` of every turn of ``notebook`` that reported usage, oldest first;
        turns recorded before whole usages were kept give their token columns."""
        with self.transaction(write=False) as db:
            rows = db.execute(
                "SELECT c.name, t.model, t.usage, t.input_tokens, t.output_tokens, t.thought_tokens "
                "FROM turns t JOIN chains c ON c.id = t.chain_id WHERE c.notebook = ? ORDER BY t.id",
                (notebook,),
            ).fetchall()
        out = []
        for name, model, usage, *tokens in rows:
            found = json_or_none(usage)
            if not isinstance(found, dict) and any(n is not None for n in tokens):
                keys = ("total_input_tokens", "total_output_tokens", "total_thought_tokens")
                found = {key: n for key, n in zip(keys, tokens, strict=True) if n is not None}
            if isinstance(found, dict) and found:
                out.append((name, model, found))
        return out
