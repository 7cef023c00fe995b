"""One chain's rules: record every turn, move the head only by compare-and-set, reset into a new segment,
and read the path back from the head (the transcript a lost head is rebuilt from).

``Chain`` gets its store as a ``Transactions``: anything that opens the store's short transactions
(``store.ChainStore``, which makes the chains and so imports this module).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .records import (
    HOST,
    PENDING,
    TURN_COLUMNS,
    UPDATABLE,
    Turn,
    check_status,
    json_or_none,
    turn_from_row,
)


class Transactions(Protocol):
    """What a chain needs of its store: a short transaction (``write``: the write lock taken up front)."""

    def transaction(self, write: bool) -> AbstractContextManager[sqlite3.Connection]: ...


class Chain:
    """A handle on one chain. It caches nothing: ``head`` and ``turns()`` read the file each time, because
    another kernel may have moved the chain meanwhile."""

    def __init__(self, store: Transactions, chain_id: int, notebook: str, name: str) -> None:
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
        with self.store.transaction(write=False) as db:
            return self._state(db)[0]

    @property
    def segment(self) -> int:
        """How many times the chain was reset; turns of earlier segments are history only."""
        with self.store.transaction(write=False) as db:
            return self._state(db)[1]

    def turns(self) -> list[Turn]:
        """Every turn ever recorded on this chain, all segments and outcomes, in the order recorded."""
        with self.store.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
                "WHERE t.chain_id = ? ORDER BY t.id",
                (self._id,),
            ).fetchall()
        return [turn_from_row(r) for r in rows]

    def views(self, turn_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The static views (``{"markdown", "plain"}``) the turns' answers were shown with, by turn id."""
        if not turn_ids:
            return {}
        marks = ", ".join("?" * len(turn_ids))
        with self.store.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT id, view FROM turns WHERE chain_id = ? AND id IN ({marks}) AND view IS NOT NULL",
                (self._id, *turn_ids),
            ).fetchall()
        return {turn_id: view for turn_id, text in rows if isinstance(view := json_or_none(text), dict)}

    def stored_ids(self) -> list[str]:
        """The interaction ids of every turn of the chain (all segments) not marked deleted, oldest first:
        what the service may still hold of it (the API cannot list a conversation, this store can)."""
        with self.store.transaction(write=False) as db:
            rows = db.execute(
                "SELECT interaction_id FROM turns WHERE chain_id = ? AND interaction_id IS NOT NULL "
                "AND deleted IS NULL GROUP BY interaction_id ORDER BY MIN(id)",
                (self._id,),
            ).fetchall()
        return [row[0] for row in rows]

    def turn(self, turn_id: int) -> Turn:
        """One turn of this chain; KeyError if the id belongs to no turn of it."""
        with self.store.transaction(write=False) as db:
            return self._turn(db, turn_id)

    def _turn(self, db: sqlite3.Connection, turn_id: int) -> Turn:
        row = db.execute(
            f"SELECT {TURN_COLUMNS} FROM turns t JOIN chains c ON c.id = t.chain_id "
            "WHERE t.id = ? AND t.chain_id = ?",
            (turn_id, self._id),
        ).fetchone()
        if row is None:
            raise KeyError(f"no turn {turn_id} in {self!r}")
        return turn_from_row(row)

    def record(self, turn: Turn) -> int:
        """Store ``turn`` in the current segment, whatever its status, and return its row id.

        Record before sending (status ``in_progress``) so that a kernel dying mid-call loses nothing; the
        head does not move until ``advance``/``complete``.
        """
        check_status(turn.status)
        with self.store.transaction(write=True) as db:
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
                (cursor.lastrowid, HOST, os.getpid()),
            )
            self._touch(db)
            return cursor.lastrowid

    def update(self, turn_id: int, **fields: Any) -> Turn:
        """Change a recorded turn (answer streamed so far, final status, id, tokens) and return it.

        Refuses to un-complete the head or change its id: the head must stay a completed interaction.
        """
        with self.store.transaction(write=True) as db:
            return self._update(db, turn_id, fields)

    def _update(self, db: sqlite3.Connection, turn_id: int, fields: dict[str, Any]) -> Turn:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise TypeError(f"cannot update {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
        if "status" in fields:
            check_status(fields["status"])
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
        with self.store.transaction(write=True) as db:
            return self._advance(db, turn_id)

    def complete(self, turn_id: int, *, fresh: bool = False, **fields: Any) -> bool:
        """``update(turn_id, status="completed", **fields)`` and ``advance(turn_id)`` in one transaction,
        so a kernel killed in between cannot leave a completed turn that never became the head.

        ``fresh``: the turn starts a new conversation (``--new``): the chain is reset with it, only now
        that it completed, so a ``--new`` cell that fails leaves the chain where it was."""
        with self.store.transaction(write=True) as db:
            if fresh:
                self._begin(db, turn_id)
            self._update(db, turn_id, {**fields, "status": "completed"})
            return self._advance(db, turn_id)

    def begin(self, turn_id: int) -> None:
        """Reset the chain (head None, a new segment) with ``turn_id`` as the new segment's first turn: a
        ``--new`` background run once the service accepted it (it becomes the head when it completes)."""
        with self.store.transaction(write=True) as db:
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
        with self.store.transaction(write=True) as db:
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
        with self.store.transaction(write=True) as db:
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
        with self.store.transaction(write=False) as db:
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
