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
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

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
)
"""
# Added later, nullable or with defaults, so files of earlier releases keep working both ways.
_OWNER_COLUMNS = {"notebook": "TEXT NOT NULL DEFAULT ''", "model": "TEXT NOT NULL DEFAULT ''"}
_OWNER_COLUMNS["factor"] = "REAL NOT NULL DEFAULT 1.0"


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

    def put_batch(self, job: str, name: str, row_keys: list[str], notebook: str, label: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO map_batches (job, name, row_keys, notebook, label, submitted, state) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (job, name, json.dumps(row_keys), notebook, label, time.time()),
            )

    def end_batch(self, job: str, state: str) -> None:
        """The batch ended and its answers are in ``map_rows``: nothing left to collect."""
        with self._lock, self._db:
            self._db.execute("UPDATE map_batches SET state = ? WHERE job = ?", (state, job))

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

    def close(self) -> None:
        with self._lock:
            self._db.close()
