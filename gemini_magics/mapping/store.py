"""Finished rows of ``--map`` jobs, persisted as each one finishes, in the chain store's SQLite file.

A row is keyed by its job (the cell's template and settings) and by its own request (the prompt the row
made, its model and config): re-running the same cell after a crash, a kernel restart or a Cancel finds
the rows already answered and sends only the others. Only answers are kept — a row that failed is asked
again. Each write is its own short transaction (WAL, as the chain store), so a kernel killed mid-job
loses at most the rows in flight.

Each row also names its notebook, model and price factor (the Batch discount), so ``%gemini usage`` and the
notebook's ``budget`` count what ``--map`` spent. ``--fresh`` forgets a job's answers but not what they
cost: their usage moves to ``map_spent``. Files written before these columns existed read as rows of no
notebook (counted nowhere).

Jobs themselves are listed too, for ``%gemini tasks`` and the Jupyter server extension's sidebar: an
interactive job in ``map_jobs`` (started, ended, its state), a ``--batch`` job in ``map_batches``. Both
remember the kernel (host and pid) that started them, so a job whose kernel died reads as ``interrupted``
(interactive rows are sent by the kernel) or can be followed by the server (a batch runs on the service).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chain import pid_alive

SCHEMA = """
CREATE TABLE IF NOT EXISTS map_rows (
    job TEXT NOT NULL,
    row_key TEXT NOT NULL,
    text TEXT NOT NULL,
    usage TEXT NOT NULL DEFAULT '{}',
    finished REAL NOT NULL,
    PRIMARY KEY (job, row_key)
);
CREATE TABLE IF NOT EXISTS map_batches (
    job TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    row_keys TEXT NOT NULL,
    notebook TEXT NOT NULL,
    label TEXT NOT NULL,
    submitted REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS map_spent (
    notebook TEXT NOT NULL,
    model TEXT NOT NULL,
    factor REAL NOT NULL,
    usage TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS map_jobs (
    job TEXT PRIMARY KEY,
    notebook TEXT NOT NULL,
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    rows INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
)
"""
# Added later, nullable or with defaults, so files of earlier releases keep working both ways.
_OWNER_COLUMNS = {"notebook": "TEXT NOT NULL DEFAULT ''", "model": "TEXT NOT NULL DEFAULT ''"}
_OWNER_COLUMNS["factor"] = "REAL NOT NULL DEFAULT 1.0"
_BATCH_COLUMNS = {"host": "TEXT", "pid": "INTEGER", "model": "TEXT NOT NULL DEFAULT ''", "finished": "REAL"}
_HOST = socket.gethostname()


@dataclass(frozen=True)
class JobInfo:
    """A ``--map`` job (``kind`` ``map``) or ``--batch`` job (``batch``) as listed: ``state`` as stored
    (``running``, then the end: ``completed``/``cancelled``/``failed``, a batch's ``succeeded``/``expired``…);
    ``owner_alive`` None when it cannot be told (another host, or written before owners were kept)."""

    kind: str
    job: str
    notebook: str
    label: str
    model: str
    rows: int
    started: float
    finished: float | None
    state: str
    error: str | None
    name: str
    owner_alive: bool | None


class MapStore:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crashed kernel loses nothing committed
        with self._db:
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(map_rows)")}
            for name, kind in _OWNER_COLUMNS.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE map_rows ADD COLUMN {name} {kind}")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(map_batches)")}
            for name, kind in _BATCH_COLUMNS.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE map_batches ADD COLUMN {name} {kind}")

    def __repr__(self) -> str:
        return f"<MapStore {self.path.name}>"

    def done(self, job: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Row key → (answer text, usage) of every row of ``job`` answered so far."""
        with self._lock:
            rows = self._db.execute(
                "SELECT row_key, text, usage FROM map_rows WHERE job = ?", (job,)
            ).fetchall()
        return {key: (text, json.loads(usage or "{}")) for key, text, usage in rows}

    def put(
        self,
        job: str,
        row_key: str,
        text: str,
        usage: dict[str, Any],
        notebook: str = "",
        model: str = "",
        factor: float = 1.0,
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO map_rows (job, row_key, text, usage, finished, notebook, model, "
                "factor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job, row_key, text, json.dumps(usage), time.time(), notebook, model, factor),
            )

    def forget(self, job: str) -> int:
        """``--fresh``: drop what earlier runs of ``job`` finished (what they cost stays counted)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM map_batches WHERE job = ?", (job,))
            self._db.execute(
                "INSERT INTO map_spent (notebook, model, factor, usage) "
                "SELECT notebook, model, factor, usage FROM map_rows WHERE job = ? AND notebook != ''",
                (job,),
            )
            return self._db.execute("DELETE FROM map_rows WHERE job = ?", (job,)).rowcount

    def usages(self, notebook: str) -> list[tuple[str, float, dict[str, Any]]]:
        """(model, price factor, usage) of every row ``--map`` jobs of ``notebook`` had answered."""
        with self._lock:
            rows = self._db.execute(
                "SELECT model, factor, usage FROM map_rows WHERE notebook = ? "
                "UNION ALL SELECT model, factor, usage FROM map_spent WHERE notebook = ?",
                (notebook, notebook),
            ).fetchall()
        return [(model, factor, json.loads(usage or "{}")) for model, factor, usage in rows]

    def count(self, job: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM map_rows WHERE job = ?", (job,)).fetchone()[0])

    # -- --batch jobs: their names, stored the moment they are created --------------------------------

    def batch_of(self, job: str) -> tuple[str, list[str]] | None:
        """The name and row keys (in request order) of ``job``'s batch still to collect, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, row_keys FROM map_batches WHERE job = ? AND state = 'running'", (job,)
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def put_batch(
        self, job: str, name: str, row_keys: list[str], notebook: str, label: str, model: str = ""
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO map_batches (job, name, row_keys, notebook, label, submitted, state, "
                "host, pid, model) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (job, name, json.dumps(row_keys), notebook, label, time.time(), _HOST, os.getpid(), model),
            )

    def end_batch(self, job: str, state: str) -> None:
        """The batch ended and its answers are in ``map_rows``: nothing left to collect."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE map_batches SET state = ?, finished = ? WHERE job = ?", (state, time.time(), job)
            )

    def batches(self, notebook: str) -> list[tuple[str, str, int, float, str]]:
        """(name, label, rows, submitted, state) of the notebook's batch jobs, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, label, row_keys, submitted, state FROM map_batches WHERE notebook = ? "
                "ORDER BY submitted DESC",
                (notebook,),
            ).fetchall()
        return [
            (name, label, len(json.loads(keys)), submitted, state)
            for name, label, keys, submitted, state in rows
        ]

    # -- jobs as listed (``%gemini tasks``, the server extension) ------------------------------------------

    def start_job(self, job: str, notebook: str, label: str, model: str, rows: int) -> None:
        """An interactive ``--map`` job starts in this kernel (a re-run of the same cell replaces it)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO map_jobs (job, notebook, label, model, rows, started, state, host, "
                "pid) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (job, notebook, label, model, rows, time.time(), _HOST, os.getpid()),
            )

    def end_job(self, job: str, state: str, error: str | None = None) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE map_jobs SET state = ?, error = ?, finished = ? WHERE job = ?",
                (state, error, time.time(), job),
            )

    def jobs(self, notebook: str | None = None) -> list[JobInfo]:
        """Interactive and ``--batch`` jobs of ``notebook`` (None: of every notebook), oldest first."""
        where, params = ("WHERE notebook = ?", (notebook,)) if notebook is not None else ("", ())
        with self._lock:
            maps = self._db.execute(
                "SELECT job, notebook, label, model, rows, started, finished, state, error, host, pid "
                f"FROM map_jobs {where}",
                params,
            ).fetchall()
            batches = self._db.execute(
                "SELECT job, notebook, label, model, row_keys, submitted, finished, state, name, host, pid "
                f"FROM map_batches {where}",
                params,
            ).fetchall()
        found = []
        for job, nb, label, model, rows, started, finished, state, error, host, pid in maps:
            owner = _owner(host, pid)
            found.append(
                JobInfo("map", job, nb, label, model, rows, started, finished, state, error, "", owner)
            )
        for job, nb, label, model, keys, submitted, finished, state, name, host, pid in batches:
            rows, owner = len(json.loads(keys)), _owner(host, pid)
            found.append(
                JobInfo("batch", job, nb, label, model, rows, submitted, finished, state, None, name, owner)
            )
        return sorted(found, key=lambda info: info.started)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _owner(host: str | None, pid: int | None) -> bool | None:
    return pid_alive(pid) if host == _HOST and pid is not None else None
