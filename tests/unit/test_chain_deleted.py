"""The chain store's ``deleted`` mark: the column added to files written before it, and what it changes
(the history keeps the turn; the transcript re-sent for an expired head leaves it out)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gemini_magics.chain import ChainStore, Turn

NB = "notebook.ipynb"


def _completed(store: ChainStore, prompt: str, interaction_id: str) -> None:
    chain = store.chain(NB)
    turn_id = chain.record(Turn(prompt=prompt, parent_id=chain.head))
    assert chain.complete(turn_id, interaction_id=interaction_id, answer=f"re: {prompt}")


def test_an_older_file_gets_the_column_and_older_writers_still_work(tmp_path: Path) -> None:
    db = tmp_path / "chains.sqlite3"
    with ChainStore(db) as store:
        _completed(store, "one", "v1_a")
    with sqlite3.connect(db) as raw:
        raw.execute("ALTER TABLE turns DROP COLUMN deleted")  # as a release before the column wrote it
    with ChainStore(db) as store:
        assert [t.deleted for t in store.chain(NB).turns()] == [None]
        assert store.mark_deleted("v1_a", when=123.0) == 1
        assert store.mark_deleted("v1_a") == 0  # marked once
        assert [t.deleted for t in store.chain(NB).turns()] == [123.0]
    with sqlite3.connect(db) as raw:  # an older release's INSERT names its own columns only
        chain_id = raw.execute("SELECT id FROM chains").fetchone()[0]
        raw.execute(
            "INSERT INTO turns (chain_id, segment, interaction_id, created, model, prompt, answer, status) "
            "VALUES (?, 0, 'v1_b', 0, 'm', 'two', '', 'completed')",
            (chain_id,),
        )
    with ChainStore(db) as store:
        assert [(t.interaction_id, t.deleted) for t in store.chain(NB).turns()] == [
            ("v1_a", 123.0),
            ("v1_b", None),
        ]


def test_deleted_turns_leave_the_transcript_and_stored_ids(tmp_path: Path) -> None:
    with ChainStore(tmp_path / "c.sqlite3") as store:
        for n, prompt in enumerate(("first", "second", "third")):
            _completed(store, prompt, f"v1_{n}")
        chain = store.chain(NB)
        assert chain.stored_ids() == ["v1_0", "v1_1", "v1_2"]
        store.mark_deleted("v1_1")
        assert chain.stored_ids() == ["v1_0", "v1_2"]
        assert chain.path_ids() == ["v1_0", "v1_1", "v1_2"]  # the service needs them all
        assert chain.transcript() == [
            ("user", "first"),
            ("model", "re: first"),
            ("user", "third"),
            ("model", "re: third"),
        ]
        assert len(chain.turns()) == 3
