"""Interaction chains in SQLite: only completed turns advance, history is never lost, kernels never clash."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gemini_magics.chain import (
    SCHEMA_VERSION,
    Chain,
    ChainStore,
    ChainStoreError,
    Turn,
    default_store_path,
)

NB = "/home/user/analysis.ipynb"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "chains.sqlite3"


@pytest.fixture
def store(db: Path):
    with ChainStore(db) as s:
        yield s


def send(chain: Chain, prompt: str, interaction_id: str, answer: str = "ok") -> tuple[int, bool]:
    """What ``%%gemini`` does: record before sending, complete (and advance) when the answer is in."""
    turn_id = chain.record(Turn(prompt=prompt, model="gemini-3-flash-preview", parent_id=chain.head))
    return turn_id, chain.complete(turn_id, interaction_id=interaction_id, answer=answer)


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as raw:
        return raw.execute("PRAGMA integrity_check").fetchone()[0]


# -- location --------------------------------------------------------------------------------------


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(tmp_path / "x.db"))
    assert default_store_path() == tmp_path / "x.db"


def test_default_path_under_jupyter_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GEMINI_MAGICS_CHAIN_DB", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jd"))
    assert default_store_path() == tmp_path / "jd" / "gemini_magics" / "chains.sqlite3"


def test_default_path_without_jupyter_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GEMINI_MAGICS_CHAIN_DB", raising=False)
    monkeypatch.setitem(sys.modules, "jupyter_core.paths", None)  # makes the import fail
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".local/share/jupyter/gemini_magics/chains.sqlite3"


def test_file_is_private_wal_and_versioned(store: ChainStore, db: Path) -> None:
    store.chain(NB)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION


def test_newer_schema_is_refused_not_damaged(db: Path) -> None:
    ChainStore(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ChainStoreError, match="newer"):
        ChainStore(db)
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION + 1)


# -- recording and advancing -----------------------------------------------------------------------


def test_record_and_advance(store: ChainStore) -> None:
    chain = store.chain(NB)
    assert chain.head is None and chain.turns() == []

    first = chain.record(Turn(prompt="Hi, I am Phil.", model="gemini-3-flash-preview"))
    assert chain.head is None  # recording alone never moves the head
    chain.update(first, interaction_id="i1", answer="Hello Phil", status="completed", total_tokens=12)
    assert chain.advance(first) is True
    assert chain.head == "i1"

    second, advanced = send(chain, "What is my name?", "i2", "Phil")
    assert advanced and chain.head == "i2"
    turns = chain.turns()
    assert [t.id for t in turns] == [first, second]
    assert turns[0].interaction_id == "i1" and turns[0].parent_id is None and turns[0].total_tokens == 12
    assert turns[1].parent_id == "i1" and turns[1].answer == "Phil" and turns[1].chain == "default"
    assert chain.advance(second) is True  # idempotent on the current head


@pytest.mark.parametrize("status", ["failed", "cancelled", "interrupted", "requires_action", "in_progress"])
def test_advance_refuses_non_completed(store: ChainStore, status: str) -> None:
    chain = store.chain(NB)
    send(chain, "first", "i1")
    turn_id = chain.record(Turn(prompt="p", parent_id="i1", status=status, interaction_id="i2"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only a completed interaction"):
        chain.advance(turn_id)
    assert chain.head == "i1"


def test_completed_without_interaction_id_cannot_advance(store: ChainStore) -> None:
    chain = store.chain(NB)
    turn_id = chain.record(Turn(prompt="p", status="completed"))
    with pytest.raises(ValueError, match="no interaction id"):
        chain.advance(turn_id)
    assert chain.head is None


def test_failed_turns_are_history_but_never_head(store: ChainStore) -> None:
    chain = store.chain(NB)
    send(chain, "one", "i1")
    failed = chain.record(Turn(prompt="two", parent_id="i1"))
    chain.update(failed, status="failed", answer="partial ans")  # no interaction id: failed before one
    interrupted = chain.record(Turn(prompt="three", parent_id="i1", status="interrupted", answer="half"))
    assert chain.head == "i1"
    statuses = [(t.prompt, t.status, t.answer) for t in chain.turns()]
    assert statuses == [
        ("one", "completed", "ok"),
        ("two", "failed", "partial ans"),
        ("three", "interrupted", "half"),
    ]
    assert chain.turn(interrupted).interaction_id is None
    assert chain.transcript() == [("user", "one"), ("model", "ok")]


def test_update_guards(store: ChainStore) -> None:
    chain = store.chain(NB)
    head_turn, _ = send(chain, "one", "i1")
    with pytest.raises(TypeError, match="prompt"):
        chain.update(head_turn, prompt="rewritten history")
    with pytest.raises(ValueError, match="unknown turn status"):
        chain.record(Turn(prompt="p", status="done"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown turn status"):
        chain.update(head_turn, status="done")
    with pytest.raises(ValueError, match="head"):
        chain.update(head_turn, status="failed")  # the head must stay a completed interaction
    with pytest.raises(ValueError, match="head"):
        chain.update(head_turn, interaction_id="other")
    assert chain.update(head_turn, output_tokens=7).output_tokens == 7
    other = store.chain(NB, "other")
    with pytest.raises(KeyError):
        other.update(head_turn, answer="x")
    with pytest.raises(KeyError):
        other.advance(head_turn)
    with pytest.raises(ValueError):
        store.chain("", "x")
    with pytest.raises(ValueError):
        store.chain(NB, "")


# -- chains, notebooks, restarts -------------------------------------------------------------------


def test_named_and_active_chains_survive_restart(db: Path) -> None:
    with ChainStore(db) as kernel:
        assert kernel.active_name(NB) == "default"
        send(kernel.chain(NB), "main question", "d1")
        research = kernel.set_active(NB, "research")
        send(research, "dig", "r1")
        send(research, "deeper", "r2")

    with ChainStore(db) as restarted:
        assert restarted.active_name(NB) == "research"
        chain = restarted.chain(NB, restarted.active_name(NB))
        assert chain.head == "r2"
        assert [t.prompt for t in chain.turns()] == ["dig", "deeper"]
        assert restarted.chain(NB).head == "d1"
        infos = {info.name: info for info in restarted.chains(NB)}
        assert set(infos) == {"default", "research"}
        assert (infos["research"].head, infos["research"].turns, infos["research"].active) == ("r2", 2, True)
        assert (infos["default"].head, infos["default"].turns, infos["default"].active) == ("d1", 1, False)
        assert infos["research"].updated >= infos["default"].updated


def test_notebooks_never_share(store: ChainStore) -> None:
    other_nb = "kernel-session:4f1c"
    send(store.chain(NB), "mine", "a1")
    store.set_active(NB, "side")
    assert store.chain(other_nb).head is None
    assert store.chain(other_nb).turns() == []
    assert store.active_name(other_nb) == "default"
    send(store.chain(other_nb), "theirs", "b1")
    assert store.chain(NB).head == "a1"
    assert [c.name for c in store.chains(other_nb)] == ["default"]
    assert [c.name for c in store.chains(NB)] == ["default", "side"]


def test_compare_and_set_conflict_between_kernels(db: Path) -> None:
    kernel_a, kernel_b = ChainStore(db), ChainStore(db)
    a, b = kernel_a.chain(NB), kernel_b.chain(NB)
    send(a, "start", "i0")
    # Both kernels send after i0 at the same time; A's answer lands first.
    ta = a.record(Turn(prompt="from A", parent_id=a.head))
    tb = b.record(Turn(prompt="from B", parent_id=b.head))
    assert a.complete(ta, interaction_id="iA", answer="A") is True
    assert b.complete(tb, interaction_id="iB", answer="B") is False  # conflict reported, not interleaved
    assert b.head == "iA"
    assert [t.prompt for t in b.turns()] == ["start", "from A", "from B"]  # the loser is still recorded
    assert b.turn(tb).status == "completed"
    assert b.transcript() == [("user", "start"), ("model", "ok"), ("user", "from A"), ("model", "A")]
    kernel_a.close()
    kernel_b.close()


def test_reset_starts_a_segment_and_keeps_history(store: ChainStore) -> None:
    chain = store.chain(NB)
    send(chain, "old 1", "o1")
    late = chain.record(Turn(prompt="old 2", parent_id="o1"))  # still running when the user resets
    store.reset(NB)
    assert chain.head is None and chain.segment == 1
    assert chain.transcript() == []
    assert (
        chain.complete(late, interaction_id="o2") is False
    )  # a pre-reset answer cannot revive the old chain
    first_of_new = chain.record(Turn(prompt="earlier segment, no parent"))
    assert chain.head is None
    send(chain, "new 1", "n1")
    assert chain.head == "n1"
    turns = chain.turns()
    assert [(t.prompt, t.segment) for t in turns] == [
        ("old 1", 0),
        ("old 2", 0),
        ("earlier segment, no parent", 1),
        ("new 1", 1),
    ]
    assert chain.turn(first_of_new).status == "in_progress"
    assert chain.transcript() == [("user", "new 1"), ("model", "ok")]


def test_reset_does_not_let_an_old_root_turn_advance(store: ChainStore) -> None:
    chain = store.chain(NB)
    root = chain.record(Turn(prompt="first ever"))  # parent None, like a fresh head
    chain.reset()
    assert chain.complete(root, interaction_id="x1") is False
    assert chain.head is None


def test_transcript_follows_the_head_and_rebuilt_contexts(store: ChainStore) -> None:
    chain = store.chain(NB)
    send(chain, "q1", "i1", "a1")
    failed = chain.record(Turn(prompt="lost", parent_id="i1"))
    chain.update(failed, status="failed")
    send(chain, "q2", "i2", "a2")
    expected = [("user", "q1"), ("model", "a1"), ("user", "q2"), ("model", "a2")]
    assert chain.transcript() == expected

    # The service expired i2: the magic re-sends the transcript as input, without previous_interaction_id.
    rebuilt = chain.record(Turn(prompt="q3", rebuilt_from=chain.head))
    assert chain.complete(rebuilt, interaction_id="i3", answer="a3") is True
    send(chain, "q4", "i4", "a4")
    assert chain.transcript() == [*expected, ("user", "q3"), ("model", "a3"), ("user", "q4"), ("model", "a4")]

    stale = chain.record(Turn(prompt="rebuilt from an old head", rebuilt_from="i2"))
    assert chain.complete(stale, interaction_id="i5") is False
    assert chain.head == "i4"


# -- background work -------------------------------------------------------------------------------


def test_background_listing_find_and_completion(db: Path) -> None:
    with ChainStore(db) as kernel:
        send(kernel.chain(NB), "hello", "d1")
        research = kernel.chain(NB, "research")
        job = research.record(
            Turn(prompt="deep research", model="deep-research-pro-preview-12-2025", background=True)
        )
        research.update(job, interaction_id="bg1")
        other = kernel.chain(NB).record(
            Turn(prompt="bg 2", parent_id="d1", background=True, interaction_id="bg2")
        )
        kernel.chain("other.ipynb").record(Turn(prompt="not ours", background=True, interaction_id="bg3"))

    with ChainStore(db) as restarted:  # the kernel restarts while the agents run
        pending = restarted.background(NB, pending_only=True)
        assert [(t.chain, t.interaction_id) for t in pending] == [("research", "bg1"), ("default", "bg2")]
        assert all(t.background for t in pending)

        notebook, name, turn = restarted.find("bg1") or ("", "", None)
        assert (notebook, name, turn and turn.id) == (NB, "research", job)
        assert restarted.find("nope") is None

        chain = restarted.chain(notebook, name)
        chain.update(job, answer="# Report (partial)")
        assert chain.complete(job, answer="# Report", output_tokens=900, total_tokens=1000) is True
        assert chain.head == "bg1"
        restarted.chain(NB).update(other, status="cancelled")
        assert restarted.chain(NB).head == "d1"

        assert restarted.background(NB, pending_only=True) == []
        done = restarted.background(NB)
        assert [(t.interaction_id, t.status) for t in done] == [("bg1", "completed"), ("bg2", "cancelled")]
        assert done[0].answer == "# Report" and done[0].total_tokens == 1000


# -- size, speed, threads, processes, crashes ------------------------------------------------------


def test_large_strings_round_trip(store: ChainStore) -> None:
    chain = store.chain(NB)
    prompt = "p" * (4 * 1024 * 1024) + "\u00e9\u4e2d\U0001f600"
    answer = "a" * (3 * 1024 * 1024)
    turn_id, _ = send(chain, prompt, "big", answer)
    turn = chain.turn(turn_id)
    assert turn.prompt == prompt and turn.answer == answer


def test_turns_is_fast_for_500_turns(store: ChainStore) -> None:
    chain = store.chain(NB)
    for n in range(500):
        send(chain, f"prompt {n} " + "x" * 2000, f"i{n}", f"answer {n} " + "y" * 4000)
    best = min(_timed(chain.turns) for _ in range(5))
    assert len(chain.turns()) == 500
    assert best < 0.05, f"turns() took {best * 1000:.1f} ms for 500 turns"
    assert len(chain.transcript()) == 1000


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_threads_share_one_store(store: ChainStore) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            chain = store.chain(NB, f"t{k}")
            for n in range(25):
                send(chain, f"{k}/{n}", f"t{k}-{n}")
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [c.turns for c in store.chains(NB)] == [25] * 4
    assert [c.head for c in store.chains(NB)] == [f"t{k}-24" for k in range(4)]


def _process_worker(path: str, worker: int, turns: int, out: str, start: Any) -> None:
    """One kernel continuing the shared chain; reports how many of its turns advanced."""
    with ChainStore(Path(path)) as store:
        chain = store.chain(NB)
        advanced = 0
        start.wait()  # all kernels write at the same time
        for n in range(turns):
            turn_id = chain.record(Turn(prompt=f"w{worker} n{n}", parent_id=chain.head, model="m"))
            chain.update(turn_id, answer="partial")
            time.sleep(0.002)  # the call to the service: other kernels move the head meanwhile
            advanced += chain.complete(turn_id, interaction_id=f"w{worker}-{n}", answer=f"w{worker} a{n}")
        store.chain(f"nb-{worker}").record(Turn(prompt="own notebook"))
    Path(out).write_text(json.dumps({"advanced": advanced}))


@pytest.mark.slow
def test_four_processes_write_one_file(db: Path, tmp_path: Path) -> None:
    workers, per_worker = 4, 50
    ctx = multiprocessing.get_context("spawn")  # real, independent kernels: nothing inherited
    start = ctx.Barrier(workers)
    procs = [
        ctx.Process(
            target=_process_worker, args=(str(db), w, per_worker, str(tmp_path / f"w{w}.json"), start)
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    advanced = sum(json.loads((tmp_path / f"w{w}.json").read_text())["advanced"] for w in range(workers))

    assert integrity(db) == "ok"
    with ChainStore(db) as store:
        chain = store.chain(NB)
        turns = chain.turns()
        assert len(turns) == workers * per_worker  # no lost turns
        assert {t.interaction_id for t in turns} == {
            f"w{w}-{n}" for w in range(workers) for n in range(per_worker)
        }
        assert all(t.status == "completed" and t.answer == t.prompt.replace(" n", " a") for t in turns)
        # Compare-and-set: every reported advance is on the head's ancestry, no two share a parent.
        assert len(chain.transcript()) == 2 * advanced
        assert 1 <= advanced < workers * per_worker  # kernels really raced, and conflicts were reported
        winners = [t for t in turns if ("user", t.prompt) in chain.transcript()]
        assert len({t.parent_id for t in winners}) == len(winners)
        assert sorted(c.name for c in store.chains(NB)) == ["default"]
        assert all(len(store.chain(f"nb-{w}").turns()) == 1 for w in range(workers))


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from gemini_magics.chain import ChainStore, Turn

chain = ChainStore(Path(sys.argv[1])).chain("nb.ipynb")
big = "x" * 300_000
n = 0
while True:
    turn_id = chain.record(Turn(prompt=big, model="m", parent_id=chain.head))
    chain.update(turn_id, answer=big[: n % 1000])
    chain.complete(turn_id, interaction_id=f"{os.getpid()}-{n}", answer=big)
    if n % 3 == 0:
        chain.record(Turn(prompt="boom", parent_id=chain.head, status="failed", answer=big))
    n += 1
    if n == 15:
        print("ready", flush=True)
"""


@pytest.mark.slow
def test_sigkill_mid_write_leaves_a_consistent_store(db: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for delay in (0.0, 0.037, 0.11, 0.29):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, str(db)], stdout=subprocess.PIPE, env=env, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        proc.stdout.close()

        assert integrity(db) == "ok"
        with ChainStore(db) as store:
            chain = store.chain("nb.ipynb")
            turns = chain.turns()
            completed = [t for t in turns if t.status == "completed"]
            assert chain.head == completed[-1].interaction_id  # the head is the last completed turn
            assert len(chain.transcript()) == 2 * len(completed)  # every completed turn is on the chain
            assert {t.status for t in turns} <= {"completed", "failed", "in_progress"}
            assert all(t.prompt in ("x" * 300_000, "boom") for t in turns)  # no torn strings


_OWNER = """
import sys
from gemini_magics.chain import ChainStore, Turn
with ChainStore(sys.argv[1]) as store:
    chain = store.chain("nb.ipynb")
    chain.record(Turn(prompt="in flight when the kernel died", parent_id=chain.head))
    chain.record(Turn(prompt="research", background=True, parent_id=chain.head))
    print("recorded", flush=True)
    sys.stdin.readline()  # alive until told to go
"""


def _kernel_process(db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    kernel = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert kernel.stdout is not None and kernel.stdin is not None
    assert kernel.stdout.readline().strip() == "recorded"
    return kernel


def test_pending_background_turns_and_whether_their_kernel_lives(db: Path) -> None:
    """What the Jupyter server extension reads: every notebook's pending background turns, their owner's
    life, and when each turn stopped being pending."""
    kernel = _kernel_process(db)
    with ChainStore(db) as store:
        mine = store.chain("mine.ipynb")
        done = mine.record(Turn(prompt="done at once", status="failed"))
        research = mine.record(Turn(prompt="mine, running", background=True, interaction_id="v1_r"))
        assert store.notebooks() == ["mine.ipynb", "nb.ipynb"]
        pending = {(nb, t.prompt): t for nb, t in store.pending_background()}
        assert set(pending) == {("nb.ipynb", "research"), ("mine.ipynb", "mine, running")}
        theirs = pending["nb.ipynb", "research"]
        assert theirs.id is not None
        assert store.owner_alive(theirs.id) is True and store.owner_alive(research) is True
        assert theirs.finished is None and mine.turn(done).finished is not None
        kernel.send_signal(signal.SIGKILL)
        assert kernel.wait(30) == -signal.SIGKILL
        assert kernel.stdin is not None and kernel.stdout is not None
        kernel.stdin.close()
        kernel.stdout.close()
        assert store.owner_alive(theirs.id) is False
        before = time.time()
        assert mine.update(research, status="requires_action").finished is None  # still pending
        assert (mine.update(research, status="cancelled").finished or 0) >= before
        assert [t.prompt for _, t in store.pending_background()] == ["research"]
        with sqlite3.connect(db) as raw:
            raw.execute("DELETE FROM owners WHERE turn_id = ?", (theirs.id,))
        assert store.owner_alive(theirs.id) is None  # written before owners were kept: cannot be told


def test_turns_of_a_dead_kernel_read_as_interrupted(db: Path) -> None:
    kernel = _kernel_process(db)
    assert kernel.stdout is not None and kernel.stdin is not None
    with ChainStore(db) as store:
        chain = store.chain("nb.ipynb")
        mine = chain.record(Turn(prompt="mine, in flight in this process"))
        assert store.settle_orphans("nb.ipynb") == 0  # the other kernel is alive: its turn may still finish
        kernel.send_signal(signal.SIGKILL)
        assert kernel.wait(30) == -signal.SIGKILL
        kernel.stdin.close()
        kernel.stdout.close()
        assert store.settle_orphans("other.ipynb") == 0  # another notebook's turns are not touched
        assert store.settle_orphans("nb.ipynb") == 1
        statuses = {t.prompt: t.status for t in chain.turns()}
        assert statuses == {
            "in flight when the kernel died": "interrupted",
            "research": "in_progress",  # the service finishes background runs; a kernel re-attaches
            "mine, in flight in this process": "in_progress",
        }
        assert store.settle_orphans("nb.ipynb") == 0
        chain.complete(mine, interaction_id="v1_mine")
        assert chain.head == "v1_mine"
