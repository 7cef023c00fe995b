"""Kills and concurrency at the product level: real kernels, real ``%%gemini`` cells, one chain store.

* A kernel SIGKILLed while a turn is in flight (just sent, mid-stream, during a ``--no-stream`` call)
  leaves a store that opens, passes SQLite's integrity check and whose head is the last completed
  interaction; a new kernel on the notebook continues from that head, and ``%gemini history`` shows the
  killed turn as interrupted.
* Two kernels on one notebook writing at the same time record every turn exactly once, the chain stays one
  sequence of completed interactions, and the kernel that loses a race is told so in its cell.
* Two notebooks at once never see each other's conversation.

The figures go to ``test-artifacts/reliability/kernels.json`` (``reliability_figures``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_testing import Kernel, collect
from reliability_figures import record

from gemini_magics.chain import ChainStore, Turn
from gemini_magics.emulator import EmulatorServer

pytestmark = pytest.mark.slow

PHIL = "Hi, my name is Phil."
# 200 text deltas at 20 a second: a 10 s answer, in flight long enough to kill it at leisure.
SLOW = "[emulator: rate=20, deltas=200]"
# A few words a delta at 40 deltas a second: a turn of about half a second, so two kernels overlap.
PACED = "[emulator: rate=40]"
RACE_NOTE = "another kernel continued this chain meanwhile"


# -- helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, Any]]:
    """The module's figures, filled by the tests and recorded once at the end (also after failures)."""
    data: dict[str, Any] = {
        "kills": None,
        "kills_consistent": None,
        "concurrent_kernels_same_notebook": None,
        "same_notebook_consistent": None,
        "race_losses": None,
        "outcome_race": None,
        "two_notebooks_turns": None,
        "mixed": None,
    }
    yield data
    record("kernels", data)


def integrity(path: Path) -> list[tuple[Any, ...]]:
    """SQLite's own check of the file, through a connection of its own."""
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def chain_of(path: Path, notebook: str) -> tuple[str | None, list[Turn]]:
    """(head, turns) of the notebook's default chain, read by a fresh store (as a new process would)."""
    with ChainStore(path) as store:
        chain = store.chain(notebook)
        return chain.head, chain.turns()


def sent(emulator: EmulatorServer, interaction_id: str) -> dict[str, Any]:
    """The create request's body as the emulator received it over HTTP."""
    held = emulator.emulator.store.get(interaction_id)
    assert held is not None, f"the emulator holds no stored interaction {interaction_id}"
    return held.request


def in_flight(emulator: EmulatorServer, marker: str) -> Any:
    """The emulator's record of the request whose input carries ``marker``, if it arrived."""
    try:
        records = list(emulator.emulator.store._records.values())
    except RuntimeError:  # the emulator's thread added one meanwhile: ask again
        return None
    for held in records:
        if marker in json.dumps(held.request.get("input"), ensure_ascii=False):
            return held
    return None


def results(kernel: Kernel, names: list[str]) -> list[dict[str, Any]]:
    """What the cells stored in ``names`` (``%%gemini NAME``) hold: id, status, text and notes."""
    listing = ", ".join(names)
    cell = kernel.run(
        "import json\n"
        "print(json.dumps([{'id': r.id, 'status': r.status, 'text': r.text, 'notes': r.notes} "
        f"for r in [{listing}]]))"
    )
    assert cell.status == "ok", cell.texts()
    return json.loads(cell.stdout())


def ok(cell: Any) -> None:
    assert cell.status == "ok", f"cell failed: {cell.error} {cell.texts()}"


def history_rows(cell: Any) -> list[list[str]]:
    """The body rows of ``%gemini history``'s Markdown table."""
    ok(cell)
    markdown = cell.result("text/markdown")
    rows = [
        [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        for line in markdown.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    assert rows and rows[0][:4] == ["#", "interaction", "model", "status"], markdown
    return rows[1:]


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# -- 1. SIGKILL mid-turn -------------------------------------------------------------------------------


def _waiting(kernel: Kernel, cell: Any, what: str, condition: Callable[[], bool]) -> None:
    kernel.wait_for(lambda: condition() or cell.done, what=what)
    assert not cell.done, f"the turn ended before it could be killed ({what}): {cell.texts()}"


def _recorded(store_path: Path, notebook: str, marker: str) -> Callable[[], bool]:
    def check() -> bool:
        return any(marker in t.prompt for t in chain_of(store_path, notebook)[1])

    return check


@pytest.mark.parametrize("moment", ["just sent", "mid-stream", "no-stream call"])
def test_sigkill_mid_turn_keeps_the_chain_at_its_last_completed_turn(
    kernels: Callable[..., list[Kernel]],
    emulator: EmulatorServer,
    store_path: Path,
    figures: dict[str, Any],
    moment: str,
) -> None:
    notebook = f"kill-{moment.replace(' ', '-')}-{uuid.uuid4().hex[:6]}.ipynb"
    [kernel] = kernels(notebook)
    prompts = [PHIL, "What is my name?", "Tell me about write-ahead logs."]
    for prompt in prompts:
        ok(kernel.run(f"%%gemini\n{prompt}"))
    head, before = chain_of(store_path, notebook)
    assert [t.status for t in before] == ["completed"] * 3 and head == before[-1].interaction_id

    marker = f"kill-{uuid.uuid4().hex[:8]}"
    flags = "--no-stream" if moment == "no-stream call" else ""
    slow = kernel.execute(f"%%gemini {flags}\nCount slowly ({marker}). {SLOW}")
    if moment == "just sent":
        # The turn is recorded before the request goes out: kill as soon as the row is there.
        _waiting(kernel, slow, "the turn's row", _recorded(store_path, notebook, marker))
    elif moment == "mid-stream":
        _waiting(kernel, slow, "streamed text", lambda: any("word0" in t for t in slow.texts()))
        assert _recorded(store_path, notebook, marker)()
    else:
        # No live view without streaming: the emulator tells when the request is being answered.
        def answering() -> bool:
            held = in_flight(emulator, marker)
            return held is not None and len(held.events) > 2 and not held.finished

        _waiting(kernel, slow, "the emulator answering", answering)
        assert _recorded(store_path, notebook, marker)()
    kernel.kill()
    figures["kills"] = (figures["kills"] or 0) + 1

    # The store as the next process finds it.
    assert integrity(store_path) == [("ok",)]
    after_head, after = chain_of(store_path, notebook)
    assert after_head == head, "the chain's head moved though no turn completed"
    assert after[:3] == before, "the completed turns changed"
    [killed] = after[3:]
    assert marker in killed.prompt and killed.status == "in_progress", killed
    assert killed.interaction_id != head and killed.parent_id == head

    # A new kernel on the same notebook and store continues from the last completed turn.
    [again] = kernels(notebook)
    ok(again.run("%%gemini r\nWhat did I say earlier?"))
    [answer] = results(again, ["r"])
    assert answer["status"] == "completed" and not answer["notes"], answer
    assert sent(emulator, answer["id"])["previous_interaction_id"] == head
    listed = re.findall(r"^\d+\. (.*)$", answer["text"], re.MULTILINE)
    assert listed == prompts, answer["text"]
    new_head, turns = chain_of(store_path, notebook)
    assert new_head == answer["id"] and turns[:4] == after and turns[4].parent_id == head

    # History reads the killed turn as interrupted (its kernel is gone), and the next cells still work.
    rows = history_rows(again.run("%gemini history"))
    assert len(rows) == 5, rows
    assert [r[3] for r in rows] == ["completed"] * 3 + ["interrupted", "completed"]
    assert chain_of(store_path, notebook)[1][3].status == "interrupted"
    assert rows[3][1] == "—" and marker in unescape(rows[3][5])
    assert unescape(rows[4][1]) == f"{answer['id']} ◀ head"
    assert [r for r in rows if "◀ head" in r[1]] == [rows[4]]
    ok(again.run("%%gemini r2\nWhat is my name?"))
    assert results(again, ["r2"])[0]["text"] == "Your name is **Phil**."
    assert integrity(store_path) == [("ok",)]
    figures["kills_consistent"] = (figures["kills_consistent"] or 0) + 1


# -- 2. two kernels, one notebook ----------------------------------------------------------------------


def test_two_kernels_on_one_notebook_write_concurrently(
    kernels: Callable[..., list[Kernel]],
    emulator: EmulatorServer,
    store_path: Path,
    figures: dict[str, Any],
) -> None:
    figures["same_notebook_consistent"] = False  # until every check below passed
    notebook = f"shared-{uuid.uuid4().hex[:6]}.ipynb"
    a, b = kernels(notebook, notebook)
    ok(b.run(f"%%gemini intro\n{PHIL}"))  # B's first turn also loads what its next turn needs
    intro = results(b, ["intro"])[0]

    # A race made sure of: A's turn is in flight (4 s) while B's completes first.
    marker = f"race-{uuid.uuid4().hex[:8]}"
    slow = a.execute(f"%%gemini late\nTell me about races ({marker}). [emulator: rate=20, deltas=80]")
    a.wait_for(lambda: any("word0" in t for t in slow.texts()), what="A's answer streaming")
    ok(b.run("%%gemini early\nWhat is my name?"))
    collect([a])
    ok(slow)
    late, early = results(a, ["late"])[0], results(b, ["early"])[0]
    assert early["text"] == "Your name is **Phil**." and not early["notes"]
    assert late["status"] == "completed" and RACE_NOTE in " ".join(late["notes"]), late
    note = next(n for n in late["notes"] if RACE_NOTE in n)
    shown = slow.result()
    assert note in shown and "word0" in shown, shown  # the answer is shown, with the note
    assert chain_of(store_path, notebook)[0] == early["id"]

    # Both kernels at once, K turns each, every cell sent before any is read.
    k = 8
    names = {a: [f"a{i}" for i in range(k)], b: [f"b{i}" for i in range(k)]}
    for i in range(k):
        for kernel in (a, b):
            tag = names[kernel][i]
            kernel.execute(f"%%gemini {tag}\nNote {tag}: tell me about topic {tag}. {PACED}")
    concurrent = [c for kernel in (a, b) for c in list(kernel.cells.values())[-k:]]
    collect([a, b])
    figures["concurrent_kernels_same_notebook"] = 2 * k
    failed = [(c.code, c.error, c.texts()) for c in concurrent if c.status != "ok"]
    assert not failed, failed
    answers = results(a, names[a]) + results(b, names[b])
    assert all(r["status"] == "completed" and r["id"] for r in answers), answers

    assert integrity(store_path) == [("ok",)]
    head, turns = chain_of(store_path, notebook)
    expected = [intro, early, late, *answers]
    # Every completed turn recorded exactly once, nothing else recorded, nothing lost.
    assert sorted(t.interaction_id or "" for t in turns) == sorted(r["id"] for r in expected)
    assert all(t.status == "completed" for t in turns)
    by_id = {t.interaction_id: t for t in turns}
    # Each turn records what it was really sent after, and that is a turn of this chain.
    for turn in turns:
        assert turn.parent_id == sent(emulator, turn.interaction_id or "").get("previous_interaction_id")
        assert turn.parent_id is None or turn.parent_id in by_id, turn
        assert turn.parent_id is None or by_id[turn.parent_id].id < turn.id  # recorded after its parent
    assert [t for t in turns if t.parent_id is None] == [turns[0]]
    # The head is a completed interaction; its ancestry is exactly the turns that advanced the chain, and
    # every other turn's cell said that it lost the race.
    assert head in by_id
    path, current = [], head
    while current is not None:
        path.append(current)
        current = by_id[current].parent_id
    lost = {r["id"] for r in expected if any(RACE_NOTE in n for n in r["notes"])}
    assert set(path) == set(by_id) - lost, "a turn that advanced the chain is off its path, or vice versa"
    assert path[-1] == intro["id"] and len(path) == len(set(path))
    figures["race_losses"] = len(lost)
    figures["outcome_race"] = (
        "Both cells succeed and show their answers; when both turns were sent after the same head, the one "
        f"that completes second also shows 'Note: {note}' — it stays in %gemini history off the chain, and "
        "the next cell of either kernel continues from the other kernel's turn "
        f"({len(lost)} of {len(expected) - 1} racing turns lost here)."
    )

    # A third kernel reads the chain, and its conversation is the head's path.
    [c] = kernels(notebook)
    rows = history_rows(c.run("%gemini history"))
    assert len(rows) == len(turns) and {r[3] for r in rows} == {"completed"}
    assert [unescape(r[1]) for r in rows if "◀ head" in r[1]] == [f"{head} ◀ head"]
    ok(c.run("%%gemini recap\nWhat did I say earlier?"))
    [recap] = results(c, ["recap"])
    assert sent(emulator, recap["id"])["previous_interaction_id"] == head
    listed = re.findall(r"^\d+\. (.*)$", recap["text"], re.MULTILINE)
    assert listed == [re.sub(r"\s*\[emulator:[^\]]*\]", "", by_id[i].prompt).strip() for i in reversed(path)]
    assert chain_of(store_path, notebook)[0] == recap["id"]
    figures["same_notebook_consistent"] = True


# -- 3. two notebooks at once ----------------------------------------------------------------------------


def test_two_notebooks_at_once_never_mix(
    kernels: Callable[..., list[Kernel]],
    emulator: EmulatorServer,
    store_path: Path,
    figures: dict[str, Any],
) -> None:
    tag = uuid.uuid4().hex[:6]
    people = {"Ada": f"ada-{tag}.ipynb", "Bob": f"bob-{tag}.ipynb"}
    started = dict(zip(people, kernels(*people.values()), strict=True))
    asks = 5
    names: dict[str, list[str]] = {}
    for person, kernel in started.items():
        kernel.execute(f"%%gemini {person.lower()}0\nHi, my name is {person}. {PACED}")
        names[person] = [f"{person.lower()}0"]
    for i in range(1, asks + 1):
        for person, kernel in started.items():
            name = f"{person.lower()}{i}"
            kernel.execute(f"%%gemini {name}\nWhat is my name? (asked by {person}, {i}) {PACED}")
            names[person].append(name)
    collect(list(started.values()))
    for kernel in started.values():
        for cell in kernel.cells.values():
            ok(cell)

    mixed = 0
    ids: dict[str, set[str]] = {}
    for person, kernel in started.items():
        other = next(p for p in people if p != person)
        answers = results(kernel, names[person])
        mixed += not answers[0]["text"].startswith(f"Nice to meet you, {person}!")
        mixed += sum(1 for r in answers[1:] if r["text"] != f"Your name is **{person}**.")
        mixed += sum(1 for r in answers if r["notes"])  # e.g. "another kernel continued this chain"
        mixed += sum(1 for r in answers if other in r["text"])
        head, turns = chain_of(store_path, people[person])
        ids[person] = {t.interaction_id or "" for t in turns}
        mixed += sum(1 for t in turns if person not in t.prompt or other in t.prompt)
        mixed += sum(1 for r in answers if r["id"] not in ids[person])
        mixed += sum(
            1
            for t in turns
            if t.parent_id is not None
            and (
                t.parent_id not in ids[person]
                or sent(emulator, t.interaction_id or "").get("previous_interaction_id") != t.parent_id
            )
        )
        assert [t.status for t in turns] == ["completed"] * (asks + 1)
        assert head == answers[-1]["id"]
        with ChainStore(store_path) as store:
            assert [c.name for c in store.chains(people[person])] == ["default"]
    mixed += len(ids["Ada"] & ids["Bob"])
    figures["two_notebooks_turns"] = sum(len(v) for v in ids.values())
    figures["mixed"] = mixed
    assert integrity(store_path) == [("ok",)]
    assert mixed == 0
