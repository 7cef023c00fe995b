"""Conversations across cells: the seed's Phil exchange, restarts, notebooks, named chains, branches, an
expired head and Ctrl-C, through real cells of a real IPython shell against the emulator over HTTP.

The shell is shared by the ``kernel`` and ``make_kernel`` fixtures, so "two kernels" run one after the
other: ``Kernel.start()`` points the loaded extension at that kernel's notebook again.
"""

from __future__ import annotations

import _thread
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from shell_checks import failed, ok

from gemini_magics.chain import ChainStore, Turn
from gemini_magics.emulator import EmulatorServer
from gemini_magics.turn import Result

PHIL = "Hi, my name is Phil."
SLOW_STREAM = "[emulator: rate=20, deltas=200]"  # 200 text deltas at 20 a second: a 10 s answer


# -- helpers ------------------------------------------------------------------------------------------


def sent(emulator: EmulatorServer, result: Result) -> dict[str, Any]:
    """The create request's body as the emulator received it over HTTP."""
    assert result.id, result
    record = emulator.emulator.store.get(result.id)
    assert record is not None, f"the emulator holds no stored interaction {result.id}"
    return record.request


def store_chain(kernel: Any, name: str | None = None) -> tuple[str | None, list[Turn]]:
    """(head, turns) of a chain of the kernel's notebook, read from the chain file (the active one)."""
    with ChainStore(kernel.db) as store:
        chain = store.chain(kernel.notebook, name or store.active_name(kernel.notebook))
        return chain.head, chain.turns()


def head(kernel: Any, name: str | None = None) -> str | None:
    return store_chain(kernel, name)[0]


def turns(kernel: Any, name: str | None = None) -> list[Turn]:
    return store_chain(kernel, name)[1]


def table(markdown: str) -> list[list[str]]:
    """The body rows of a Markdown table, as stripped cells."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return rows[1:]


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def ask_name(kernel: Any, flags: str = "") -> Result:
    return ok(kernel.run(f"%%gemini {flags}\nWhat is my name?"))


@pytest.fixture
def phil(kernel: Any) -> Result:
    """The seed's first turn, on the notebook's default chain."""
    first = ok(kernel.run(f"%%gemini\n{PHIL}"))
    assert "Phil" in first.text and head(kernel) == first.id
    return first


# -- one notebook ----------------------------------------------------------------------------------------


def test_seed_conversation_across_cells(kernel: Any, emulator: EmulatorServer, phil: Result) -> None:
    second = ask_name(kernel)
    assert second.text == "Your name is **Phil**."
    assert sent(emulator, second)["previous_interaction_id"] == phil.id
    assert "previous_interaction_id" not in sent(emulator, phil)
    third = ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    assert "Hi, my name is Phil." in third.text and "What is my name?" in third.text
    assert sent(emulator, third)["previous_interaction_id"] == second.id
    current, recorded = store_chain(kernel)
    assert current == third.id
    assert [t.interaction_id for t in recorded] == [phil.id, second.id, third.id]
    assert [t.parent_id for t in recorded] == [None, phil.id, second.id]


def test_chain_survives_a_kernel_restart(kernel: Any, emulator: EmulatorServer, phil: Result) -> None:
    kernel.shell.user_ns["before_restart"] = 1
    kernel.restart()
    assert "before_restart" not in kernel.shell.user_ns
    after = ask_name(kernel)
    assert after.text == "Your name is **Phil**."
    assert sent(emulator, after)["previous_interaction_id"] == phil.id
    kernel.restart()
    assert head(kernel) == after.id
    assert ok(kernel.run("%%gemini\nWhat did I say earlier?")).text.count("\n1. ") == 1


def test_two_notebooks_never_share_a_chain(
    kernel: Any, make_kernel: Callable[..., Any], emulator: EmulatorServer, phil: Result
) -> None:
    other = make_kernel("other-notebook.ipynb")
    stranger = ask_name(other)
    assert stranger.text == "You haven't told me your name yet."
    assert "previous_interaction_id" not in sent(emulator, stranger)
    ok(other.run("%%gemini\nHi, my name is Bob."))
    assert ask_name(other).text == "Your name is **Bob**."

    kernel.start()  # back to the first notebook
    mine = ask_name(kernel)
    assert mine.text == "Your name is **Phil**."
    assert sent(emulator, mine)["previous_interaction_id"] == phil.id
    assert {t.interaction_id for t in turns(kernel)}.isdisjoint(t.interaction_id for t in turns(other))
    assert head(kernel) == mine.id and head(other) not in (None, mine.id)


def test_two_kernels_on_one_notebook_continue_one_chain(
    kernel: Any, make_kernel: Callable[..., Any], emulator: EmulatorServer, phil: Result
) -> None:
    twin = make_kernel(kernel.notebook)
    theirs = ask_name(twin)
    assert theirs.text == "Your name is **Phil**."
    assert sent(emulator, theirs)["previous_interaction_id"] == phil.id
    kernel.start()
    mine = ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    assert sent(emulator, mine)["previous_interaction_id"] == theirs.id
    assert [t.interaction_id for t in turns(kernel)] == [phil.id, theirs.id, mine.id]


# -- named chains, new, history ------------------------------------------------------------------------


def test_named_chains(kernel: Any, emulator: EmulatorServer, phil: Result) -> None:
    ada = ok(kernel.run("%%gemini --chain ideas\nHi, my name is Ada."))
    assert "previous_interaction_id" not in sent(emulator, ada)
    assert ask_name(kernel).text == "Your name is **Phil**."  # --chain did not switch the notebook
    assert ask_name(kernel, "--chain ideas").text == "Your name is **Ada**."

    kernel.line("use ideas")
    assert ask_name(kernel).text == "Your name is **Ada**."
    listed = table(kernel.line("chains").data)
    marks = {unescape(row[1]): row[0] for row in listed}
    assert marks == {"default": "", "ideas": "▶"}
    counts = {unescape(row[1]): row[3] for row in listed}
    assert counts == {"default": "2", "ideas": "3"}
    heads = {unescape(row[1]): unescape(row[2]) for row in listed}
    assert heads == {"default": head(kernel, "default"), "ideas": head(kernel, "ideas")}

    kernel.restart()  # the active chain is remembered per notebook
    assert ask_name(kernel).text == "Your name is **Ada**."
    kernel.line("use default")
    assert ask_name(kernel).text == "Your name is **Phil**."
    assert table(kernel.line("chains").data)[0][:2] == ["▶", "default"]


def test_use_needs_one_name(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%gemini use"), capsys, "usage: %gemini use NAME")
    failed(kernel.run("%gemini use two words"), capsys, "usage: %gemini use NAME")


def test_new_starts_fresh_and_keeps_history(kernel: Any, emulator: EmulatorServer, phil: Result) -> None:
    second = ask_name(kernel)
    kernel.line("new")
    assert head(kernel) is None
    fresh = ask_name(kernel)
    assert fresh.text == "You haven't told me your name yet."
    assert "previous_interaction_id" not in sent(emulator, fresh)
    follow = ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    assert sent(emulator, follow)["previous_interaction_id"] == fresh.id
    assert "Phil" not in follow.text

    rows = table(kernel.line("history").data)
    assert [unescape(r[1]).removesuffix(" ◀ head") for r in rows] == [phil.id, second.id, fresh.id, follow.id]
    assert rows[-1][1].endswith("◀ head") and sum("◀ head" in r[1] for r in rows) == 1
    assert all(r[2] == "gemini-3-flash-preview" and r[3] == "completed" for r in rows)
    recorded = turns(kernel)
    assert [r[4] for r in rows] == [f"{t.total_tokens:,}" for t in recorded]
    assert all(t.total_tokens and t.total_tokens > 0 for t in recorded)
    assert unescape(rows[0][5]) == PHIL


def test_new_flag(kernel: Any, emulator: EmulatorServer, phil: Result) -> None:
    fresh = ask_name(kernel, "--new")
    assert fresh.text == "You haven't told me your name yet."
    assert "previous_interaction_id" not in sent(emulator, fresh)
    assert head(kernel) == fresh.id
    assert ok(kernel.run("%%gemini\nHi, my name is Zoe.")).id == head(kernel)
    assert ask_name(kernel).text == "Your name is **Zoe**."
    assert len(turns(kernel)) == 4


def test_history_of_an_empty_and_a_named_chain(kernel: Any) -> None:
    assert "has no turns yet" in kernel.line("history").data
    ok(kernel.run("%%gemini --chain ideas --no-stream\nHi"))
    shown = kernel.line("history ideas").data
    assert "ideas" in shown and len(table(shown)) == 1


# -- branches -------------------------------------------------------------------------------------------


def test_from_branches_off_an_earlier_interaction(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str], phil: Result
) -> None:
    ok(kernel.run("%%gemini\nActually, my name is Bob."))
    later = ok(kernel.run("%%gemini\nTell me a joke."))
    assert ask_name(kernel).text == "Your name is **Bob**."

    branch = ask_name(kernel, f"--from {phil.id}")
    assert branch.text == "Your name is **Phil**."  # the earlier context, not the later turns
    assert sent(emulator, branch)["previous_interaction_id"] == phil.id
    recap = ok(kernel.run(f"%%gemini --from {phil.id}\nWhat did I say earlier?"))
    assert PHIL in recap.text and "Bob" not in recap.text and "joke" not in recap.text
    main_line = head(kernel)
    assert main_line not in (phil.id, branch.id, recap.id)
    recorded = turns(kernel)
    assert [t.parent_id for t in recorded[-2:]] == [phil.id, phil.id]
    assert all(t.status == "completed" for t in recorded)
    # The note tells the truth: this is a branch (no other kernel is involved), and how to continue it.
    assert not any("another kernel" in note for note in branch.notes), branch.notes
    assert any(f"--from {recap.id}" in note for note in recap.notes), recap.notes

    # A branch point the service does not know is an error naming it: the chain's own transcript is not
    # re-sent in its place (that is another conversation), and the chain is untouched.
    count = len(turns(kernel))
    message = failed(
        kernel.run("%%gemini --from v1_doesNotExist\nHello"), capsys, "HTTP 404", "v1_doesNotExist"
    )
    assert "re-sent" not in message and "check the model, agent or interaction ID" in message
    assert head(kernel) == main_line and len(turns(kernel)) == count + 1
    assert turns(kernel)[-1].status == "failed" and later.id


# -- an expired head ------------------------------------------------------------------------------------


def test_expired_head_resends_the_conversation(
    kernel: Any, emulator: EmulatorServer, client: Any, phil: Result
) -> None:
    second = ask_name(kernel)
    assert emulator.expire(second.id) == 1
    with pytest.raises(Exception) as gone:
        client.interactions.get(second.id)
    assert getattr(gone.value, "status_code", None) == 404

    rebuilt = ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    assert PHIL in rebuilt.text and "What is my name?" in rebuilt.text
    assert any(second.id in note and "re-sent" in note for note in rebuilt.notes), rebuilt.notes
    assert "re-sent" in rebuilt._repr_mimebundle_()[0]["text/markdown"]
    request = sent(emulator, rebuilt)
    assert "previous_interaction_id" not in request
    assert [step["type"] for step in request["input"]][:4] == [
        "user_input",
        "model_output",
        "user_input",
        "model_output",
    ]
    current, recorded = store_chain(kernel)
    assert current == rebuilt.id
    assert recorded[-1].rebuilt_from == second.id and recorded[-1].status == "completed"
    assert recorded[-2].status == "failed" and recorded[-2].parent_id == second.id

    # The chain goes on from the new head, with the whole context, even when that head expires too.
    onward = ask_name(kernel)
    assert onward.text == "Your name is **Phil**."
    assert sent(emulator, onward)["previous_interaction_id"] == rebuilt.id
    emulator.expire(onward.id)
    again = ask_name(kernel)
    assert again.text == "Your name is **Phil**." and head(kernel) == again.id


# -- Ctrl-C ---------------------------------------------------------------------------------------------


def interrupt_after(seconds: float, how: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(seconds, how)
    timer.start()
    return timer


def real_sigint() -> None:
    """What Jupyter's interrupt does on Linux and macOS: SIGINT to the kernel (here: to the main thread)."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def check_interrupted(
    kernel: Any, capsys: pytest.CaptureFixture[str], before: str | None, run: Any, shows: str = ""
) -> str:
    message = failed(run, capsys, "interrupted", "Ctrl-C", "not advanced", shows=shows)
    assert head(kernel) == before
    last = turns(kernel)[-1]
    assert last.status == "interrupted"
    rows = table(kernel.line("history").data)
    assert rows[-1][3] == "interrupted" and "◀ head" not in rows[-1][1]
    return message


def test_interrupt_a_streamed_cell(
    kernel: Any, capsys: pytest.CaptureFixture[str], emulator: EmulatorServer, phil: Result
) -> None:
    timer = interrupt_after(0.5, _thread.interrupt_main)
    started = time.monotonic()
    run = kernel.run(f"%%gemini partial\nTell me a long story {SLOW_STREAM}")
    elapsed = time.monotonic() - started
    timer.join()
    assert elapsed < 2.5, f"the cell took {elapsed:.1f} s after Ctrl-C at 0.5 s"
    message = check_interrupted(kernel, capsys, phil.id, run, shows="word0 word1")
    assert "what arrived is shown above" in message
    partial = kernel.shell.user_ns["partial"]
    assert isinstance(partial, Result) and partial.status == "interrupted"
    assert partial.text.startswith("word0 word1") and 0 < len(partial.text.split()) < 100
    last = turns(kernel)[-1]
    assert last.answer == partial.text and last.interaction_id == partial.id
    assert ask_name(kernel).text == "Your name is **Phil**."  # the chain goes on from its head


@pytest.mark.parametrize(
    ("flags", "directive"),
    [("", "[emulator: stall=3]"), ("--no-stream", SLOW_STREAM)],
    ids=["stalled-stream", "no-stream"],
)
def test_ctrl_c_while_nothing_arrives(
    kernel: Any, capsys: pytest.CaptureFixture[str], phil: Result, flags: str, directive: str
) -> None:
    """A stalled stream, or a whole answer still being written: the read blocks with no data, and a real
    SIGINT (Jupyter's interrupt on Linux and macOS) still ends the cell at once."""
    timer = interrupt_after(0.5, real_sigint)
    started = time.monotonic()
    run = kernel.run(f"%%gemini --thoughts {flags}\nTell me a story {directive}")
    elapsed = time.monotonic() - started
    timer.join()
    assert elapsed < 2.5, f"the cell took {elapsed:.1f} s after Ctrl-C at 0.5 s"
    check_interrupted(kernel, capsys, phil.id, run)
