"""``%gemini delete`` and ``%gemini models`` through a real IPython shell, against the emulator over HTTP.

Deletion is checked on the service's side (the emulator's ``get`` answers 404 afterwards), in the chain
store (turns kept, marked deleted) and in what the user reads (one line per interaction, ``%gemini
history``). ``models`` is checked against the installed SDK's own lists, read independently here.
"""

from __future__ import annotations

import re
import socket
import sqlite3
from typing import Any, get_args

import pytest
from shell_checks import failed, ok

from gemini_magics import catalog
from gemini_magics.chain import ChainStore, Turn
from gemini_magics.emulator import EmulatorServer


def stored(emulator: EmulatorServer, interaction_id: str) -> bool:
    return emulator.emulator.store.get(interaction_id) is not None


def turns(kernel: Any, name: str = "default") -> list[Turn]:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook, name).turns()


def head(kernel: Any, name: str = "default") -> str | None:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook, name).head


def history_statuses(kernel: Any, name: str = "") -> list[str]:
    shown = kernel.line(f"history {name}".strip()).data
    rows = [re.split(r"(?<!\\)\|", line.strip().strip("|")) for line in shown.splitlines()]
    return [row[3].strip() for row in rows if len(row) > 3 and row[0].strip().isdigit()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def conversation(kernel: Any) -> list[str]:
    """Three completed turns on the default chain; their interaction ids."""
    ids = []
    for prompt in ("Hi, my name is Phil.", "What is my name?", "Tell me a joke"):
        ids.append(ok(kernel.run(f"%%gemini\n{prompt}")).id)
    return ids


# -- delete ID --------------------------------------------------------------------------------------------


def test_delete_one_interaction(
    kernel: Any, emulator: EmulatorServer, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = conversation[0]
    assert stored(emulator, first)
    capsys.readouterr()
    assert kernel.run(f"%gemini delete {first}").success
    assert capsys.readouterr().out.strip().splitlines() == [
        f"Deleted {first}.",
        "It was part of the conversation of chain 'default': its next cell re-sends the chain's "
        "transcript without it (%gemini new default starts afresh instead).",
    ]
    assert not stored(emulator, first) and stored(emulator, conversation[1])
    assert [t.deleted is not None for t in turns(kernel)] == [True, False, False]
    assert history_statuses(kernel) == ["completed · deleted", "completed", "completed"]
    assert head(kernel) == conversation[2]
    # The service cannot continue a conversation with a deleted link: the magic re-sends what is left.
    after = ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    assert any(f"no longer knows interaction {first}" in note for note in after.notes)
    sent = emulator.emulator.store.get(after.id or "")
    assert sent is not None and "previous_interaction_id" not in sent.request
    resent = str(sent.request["input"])
    assert "What is my name?" in resent and "Tell me a joke" in resent
    assert "Hi, my name is Phil." not in resent  # the deleted turn stays deleted


def test_delete_again_says_already_gone(
    kernel: Any, emulator: EmulatorServer, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(f"%gemini delete {conversation[0]}")
    capsys.readouterr()
    assert kernel.run(f"%gemini delete {conversation[0]}").success
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert line == f"{conversation[0]}: already gone (HTTP 404: deleted before, or expired)"


def test_delete_of_an_interaction_already_gone_marks_it(
    kernel: Any, client: Any, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    client.interactions.delete(conversation[1])  # deleted elsewhere (another client, the AI Studio UI)
    capsys.readouterr()
    assert kernel.run(f"%gemini delete {conversation[1]}").success
    assert "already gone (HTTP 404" in capsys.readouterr().out
    assert [t.deleted is not None for t in turns(kernel)] == [False, True, False]


def test_delete_takes_a_result_variable_and_names_the_chain_it_heads(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(kernel.run("%%gemini --chain notes\nHi, my name is Ada."))
    last = ok(kernel.run("%%gemini answer --chain notes\nWhat is my name?"))
    capsys.readouterr()
    assert kernel.run("%gemini delete answer").success
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"Deleted {last.id}.",
        "It was the head of chain 'notes': its next cell re-sends the chain's transcript without it "
        "(%gemini new notes starts afresh instead).",
    ]
    assert not stored(emulator, last.id or "")
    again = ok(kernel.run("%%gemini --chain notes\nWhat is my name?"))  # the transcript is re-sent
    assert "Ada" in again.text and any("re-sent" in note for note in again.notes)
    resent = str(emulator.emulator.store.get(again.id or "").request["input"])  # type: ignore[union-attr]
    assert resent.count("What is my name?") == 1 and "Hi, my name is Ada." in resent  # this cell's only


def test_delete_failure_is_one_line_and_marks_nothing(
    kernel: Any, emulator: EmulatorServer, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(f"%config GeminiMagics.backend = 'http://127.0.0.1:{closed_port()}'")
    message = failed(kernel.run(f"%gemini delete {conversation[0]}"), capsys, "not deleted", "cannot reach")
    assert message.startswith(f"{conversation[0]}: not deleted — ")
    assert stored(emulator, conversation[0])
    assert all(t.deleted is None for t in turns(kernel))


@pytest.mark.parametrize("line", ["delete", "delete a b", "delete -x", "delete --chain a b"])
def test_delete_usage(kernel: Any, capsys: pytest.CaptureFixture[str], line: str) -> None:
    failed(kernel.run(f"%gemini {line}"), capsys, "usage: %gemini delete ID")


# -- delete --chain ---------------------------------------------------------------------------------------


def test_delete_chain_deletes_every_stored_turn_and_resets(
    kernel: Any, emulator: EmulatorServer, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ok(kernel.run("%%gemini --new\nHi, my name is Bob."))  # a second segment of the same chain
    ids = [t.interaction_id for t in turns(kernel)]
    other = ok(kernel.run("%%gemini --chain other\nHi, my name is Eve.")).id
    kernel.run(f"%gemini delete {conversation[0]}")  # already deleted: not asked again
    capsys.readouterr()
    assert kernel.run("%gemini delete --chain").success
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:-1] == [f"Deleted {i}." for i in ids[1:]]
    assert lines[-1] == (
        "Chain 'default': 3 of 3 stored interaction(s) deleted or already gone; the next prompt starts "
        "a new conversation (the history is kept, marked deleted)."
    )
    assert not any(stored(emulator, i or "") for i in ids)
    assert stored(emulator, other or "")  # another chain is left alone
    assert head(kernel) is None and head(kernel, "other") == other
    assert history_statuses(kernel) == ["completed · deleted"] * 4
    fresh = ok(kernel.run("%%gemini\nWhat is my name?"))
    assert "Bob" not in fresh.text and "Phil" not in fresh.text
    assert turns(kernel)[-1].parent_id is None  # a new conversation, not a re-sent transcript


def test_delete_named_chain_with_vanished_and_failed_turns(
    kernel: Any, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [ok(kernel.run(f"%%gemini -c work\n{p}")).id or "" for p in ("Hi, my name is Kim.", "Tell a joke")]
    failed(kernel.run("%%gemini -c work\nAgain [emulator: error=500]"), capsys)  # no id: nothing to delete
    client.interactions.delete(ids[0])
    assert kernel.run("%gemini delete --chain work").success
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"{ids[0]}: already gone (HTTP 404: deleted before, or expired)",
        f"Deleted {ids[1]}.",
        "Chain 'work': 2 of 2 stored interaction(s) deleted or already gone; the next prompt starts a new "
        "conversation (the history is kept, marked deleted).",
    ]
    assert history_statuses(kernel, "work") == ["completed · deleted", "completed · deleted", "failed"]
    assert kernel.run("%gemini delete --chain work").success
    assert "nothing left on the service to delete" in capsys.readouterr().out


def test_delete_chain_that_cannot_reach_the_service_fails_and_can_be_retried(
    kernel: Any, emulator: EmulatorServer, conversation: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(f"%config GeminiMagics.backend = 'http://127.0.0.1:{closed_port()}'")
    message = failed(
        kernel.run("%gemini delete --chain default"), capsys, "3 interaction(s)", "delete --chain default"
    )
    assert "could not be deleted" in message
    assert all(t.deleted is None for t in turns(kernel)) and all(stored(emulator, i) for i in conversation)
    kernel.run(f"%config GeminiMagics.backend = {emulator.base_url!r}")
    assert kernel.run("%gemini delete --chain default").success
    assert not any(stored(emulator, i) for i in conversation)
    assert all(t.deleted is not None for t in turns(kernel))


def test_delete_unknown_chain(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%gemini delete --chain nowhere"), capsys, "no chain 'nowhere'", "%gemini chains")


def test_delete_works_on_a_store_written_before_the_deleted_column(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ok(kernel.run("%%gemini\nHi, my name is Phil.")).id or ""
    kernel.restart()
    with sqlite3.connect(kernel.db) as raw:  # the file as an earlier release left it
        raw.execute("ALTER TABLE turns DROP COLUMN deleted")
    assert "deleted" not in {row[1] for row in sqlite3.connect(kernel.db).execute("PRAGMA table_info(turns)")}
    assert kernel.run(f"%gemini delete {first}").success
    assert history_statuses(kernel) == ["completed · deleted"]
    assert "Phil" in turns(kernel)[0].prompt


# -- models -----------------------------------------------------------------------------------------------


def test_models_lists_what_the_sdk_knows(kernel: Any) -> None:
    from google.genai._gaos.types.interactions import agentoption, model

    shown = ok_markdown(kernel.run("%gemini models"))
    lines = [line for line in shown.splitlines() if line.startswith("- ")]
    listed = [re.match(r"- `([^`]+)`", line)[1] for line in lines]  # type: ignore[index]
    sdk_models = [v for v in get_args(get_args(model.Model)[0])]
    sdk_agents = [v for v in get_args(get_args(agentoption.AgentOption)[0])]
    assert set(sdk_models) | set(sdk_agents) <= set(listed)
    assert len(listed) == len(set(listed))  # one line each
    assert listed.index(sdk_agents[0]) > listed.index(sdk_models[-1])  # models first, then agents
    line = {i: text for i, text in zip(listed, lines, strict=True)}
    # The seed's descriptions win; else the SDK's own comment above the ID.
    assert "1M tokens, fast, balanced performance, multimodal" in line["gemini-3-flash-preview"]
    assert "(default)" in line["gemini-3-flash-preview"]
    assert "Gemini Deep Research Max Agent" in line["deep-research-max-preview-04-2026"]
    assert "Deep Research agent *(default)*" in line[catalog.DEFAULT_AGENT]
    assert "Gemma 4 31B IT" in line["gemma-4-31b-it"]
    # Seed IDs the SDK does not list say so.
    assert "not in google-genai" in line["gemini-3-pro-image-preview"]
    assert "not in google-genai" not in line["gemini-3-flash-preview"]
    assert "**Models** (as google-genai 3." in shown and "**Agents**" in shown


def test_models_marks_deprecated_families(kernel: Any) -> None:
    shown = ok_markdown(kernel.run("%gemini models"))
    deprecated = [line for line in shown.splitlines() if line.startswith("Deprecated:")]
    assert deprecated == [
        "Deprecated: `gemini-2.0-*`, `gemini-1.5-*` — a cell asking for one gets `gemini-3-flash-preview` "
        "(pro models: `gemini-3.1-pro-preview`) and a note."
    ]
    assert all(not catalog.deprecated(i) or "deprecated" in line for i, line in _lines(shown).items())


def test_models_takes_no_argument(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%gemini models please"), capsys, "%gemini -- models")


def ok_markdown(run: Any) -> str:
    assert run.success, run.error_in_exec
    return run.result.data


def _lines(shown: str) -> dict[str, str]:
    out = {}
    for line in shown.splitlines():
        match = re.match(r"- `([^`]+)`", line)
        if match:
            out[match[1]] = line
    return out
