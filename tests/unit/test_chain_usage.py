"""What the chain store keeps of each turn for ``%gemini usage`` and ``%gemini export``: the whole usage, the
static view and the repeatable flags — added to files of earlier releases without losing their turns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gemini_magics.chain import ChainStore, Turn

USAGE = {
    "total_input_tokens": 9,
    "total_output_tokens": 13,
    "total_thought_tokens": 37,
    "total_cached_tokens": 4,
}


def test_usage_view_and_flags_are_kept_per_turn(tmp_path: Path) -> None:
    with ChainStore(tmp_path / "c.sqlite3") as store:
        chain = store.chain("nb", "default")
        first = chain.record(Turn(prompt="Hi", model="m", flags="--thinking low"))
        chain.complete(first, interaction_id="v1_a", usage=USAGE, view={"markdown": "**Hi**", "plain": "Hi"})
        second = chain.record(Turn(prompt="Again", model="m", parent_id="v1_a"))
        chain.update(second, status="failed", usage=None)
        other = store.chain("nb", "side")
        other.record(Turn(prompt="x", model="agent", usage={"total_output_tokens": 5}))
        store.chain("elsewhere").record(Turn(prompt="y", model="m", usage={"total_output_tokens": 1}))

        turns = chain.turns()
        assert turns[0].usage == USAGE and turns[0].flags == "--thinking low" and turns[1].usage is None
        assert chain.views([first, second]) == {first: {"markdown": "**Hi**", "plain": "Hi"}}
        assert store.usages("nb") == [("default", "m", USAGE), ("side", "agent", {"total_output_tokens": 5})]


def test_a_file_of_an_earlier_release_gains_the_columns_and_its_token_counts_count(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with ChainStore(path) as store:
        store.chain("nb", "default")
    with sqlite3.connect(path) as db:  # as an earlier release left it: no usage, view or flags
        for column in ("usage", "view", "flags"):
            db.execute(f"ALTER TABLE turns DROP COLUMN {column}")
        db.execute(
            "INSERT INTO turns (chain_id, segment, interaction_id, created, model, prompt, answer, status, "
            "input_tokens, output_tokens, thought_tokens, total_tokens) "
            "VALUES (1, 0, 'v1_old', 0, 'm', 'Hi', 'Hello', 'completed', 3, 5, 7, 15)"
        )
    with ChainStore(path) as store:
        [turn] = store.chain("nb", "default").turns()
        assert turn.answer == "Hello" and turn.usage is None and turn.flags == ""
        expected = {"total_input_tokens": 3, "total_output_tokens": 5, "total_thought_tokens": 7}
        assert store.usages("nb") == [("default", "m", expected)]
