"""Every flag of ``%%gemini`` and ``%gemini``, interpolation, model substitution and every failure path,
through real cells of a real IPython shell talking to the emulator over HTTP with the real SDK.

What the service received is read back from the emulator: the prompt text through the SDK's
``get(id, include_input=True)``, the other request fields (generation config, ``stream``, ``background``)
from the in-process emulator's record of the request body, because ``get`` does not echo them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest
from shell_checks import failed, ok

from gemini_magics import options
from gemini_magics.chain import ChainStore, Turn
from gemini_magics.commands import SUBCOMMANDS
from gemini_magics.emulator import EmulatorServer
from gemini_magics.magics import GeminiMagics
from gemini_magics.turn import Result

AGENT = "deep-research-pro-preview-12-2025"
QUICK = "[emulator: duration=0.3]"


# -- helpers ------------------------------------------------------------------------------------------


def sent(emulator: EmulatorServer, result: Result) -> dict[str, Any]:
    """The create request's body as the emulator received it over HTTP."""
    assert result.id, result
    record = emulator.emulator.store.get(result.id)
    assert record is not None, f"the emulator holds no stored interaction {result.id}"
    return record.request


def sent_text(client: Any, result: Result) -> str:
    """The prompt text as the service received it, read back through the SDK."""
    interaction = client.interactions.get(result.id, include_input=True)
    steps = interaction.input
    assert isinstance(steps, list) and len(steps) == 1, steps
    return "".join(part.text for part in steps[0].content)


def markdown(result: Any) -> str:
    return result._repr_mimebundle_()[0]["text/markdown"]


def turns(kernel: Any) -> list[Turn]:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook, store.active_name(kernel.notebook)).turns()


def head(kernel: Any) -> str | None:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook, store.active_name(kernel.notebook)).head


def history_rows(kernel: Any) -> list[list[str]]:
    """``%gemini history`` rows as cells: ``#``, interaction, model, status, tokens, prompt."""
    shown = kernel.line("history").data
    rows = []
    for line in shown.splitlines():
        if re.match(r"^\| \d+ \|", line):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([cell.strip() for cell in cells])
    return rows


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def phil(kernel: Any) -> str:
    """The chain starts with the seed's first turn; its interaction id (the head)."""
    first = ok(kernel.run("%%gemini\nHi, my name is Phil."))
    assert head(kernel) == first.id
    return first.id


# -- flags ----------------------------------------------------------------------------------------------


def test_model_flag_sends_that_model(kernel: Any, emulator: EmulatorServer) -> None:
    result = ok(kernel.run("%%gemini -m gemini-3.1-pro-preview\nWhat is a monad?"))
    assert sent(emulator, result)["model"] == "gemini-3.1-pro-preview"
    assert result.model == "gemini-3.1-pro-preview"
    assert "gemini-3.1-pro-preview" in markdown(result)
    default = ok(kernel.run("%%gemini\nAnd a functor?"))
    assert sent(emulator, default)["model"] == "gemini-3-flash-preview"
    assert [t.model for t in turns(kernel)] == ["gemini-3.1-pro-preview", "gemini-3-flash-preview"]


def test_system_instruction(kernel: Any, emulator: EmulatorServer) -> None:
    result = ok(kernel.run('%%gemini --system "Answer like a pirate"\nWhat is Python?'))
    assert sent(emulator, result)["system_instruction"] == "Answer like a pirate"
    assert "Following the system instruction: Answer like a pirate" in result.text
    plain = ok(kernel.run("%%gemini\nWhat is Rust?"))
    assert "system_instruction" not in sent(emulator, plain)


@pytest.mark.parametrize("level", options.THINKING_LEVELS)
def test_thinking_levels(kernel: Any, emulator: EmulatorServer, level: str) -> None:
    result = ok(kernel.run(f"%%gemini --thinking {level}\nWhy is the sky blue?"))
    assert sent(emulator, result)["generation_config"]["thinking_level"] == level
    if level == "minimal":
        assert result.thoughts == []
    else:
        assert any(f"thinking level: {level}" in t for t in result.thoughts), result.thoughts


def test_thinking_level_must_be_known(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    message = failed(kernel.run("%%gemini --thinking huge\nWhy?"), capsys, "--thinking", "huge")
    assert "minimal" in message
    assert turns(kernel) == []


def test_thoughts_and_no_thoughts(kernel: Any, emulator: EmulatorServer) -> None:
    shown = ok(kernel.run("%%gemini\nWhy is the sea salty?"))
    assert sent(emulator, shown)["generation_config"]["thinking_summaries"] == "auto"
    assert shown.thoughts and "**Thoughts**" in markdown(shown)

    hidden = ok(kernel.run("%%gemini --no-thoughts\nWhy is the sea salty?"))
    assert "thinking_summaries" not in sent(emulator, hidden).get("generation_config", {})
    assert hidden.thoughts == [] and "Thoughts" not in markdown(hidden)
    assert hidden.text

    kernel.shell.run_line_magic("config", "GeminiMagics.thoughts = False")
    off = ok(kernel.run("%%gemini\nWhy is the sea salty?"))
    assert off.thoughts == [] and "Thoughts" not in markdown(off)
    forced = ok(kernel.run("%%gemini --thoughts\nWhy is the sea salty?"))
    assert sent(emulator, forced)["generation_config"]["thinking_summaries"] == "auto"
    assert forced.thoughts and "**Thoughts**" in markdown(forced)


def test_stream_and_no_stream(kernel: Any, emulator: EmulatorServer) -> None:
    streamed = ok(kernel.run("%%gemini\nName three rivers."))
    assert sent(emulator, streamed).get("stream") is True
    whole = ok(kernel.run("%%gemini --no-stream\nName three rivers."))
    assert not sent(emulator, whole).get("stream")
    assert whole.text and whole.interaction is not None

    kernel.shell.run_line_magic("config", "GeminiMagics.stream = False")
    default_off = ok(kernel.run("%%gemini\nName three lakes."))
    assert not sent(emulator, default_off).get("stream")
    forced = ok(kernel.run("%%gemini --stream\nName three lakes."))
    assert sent(emulator, forced).get("stream") is True
    assert forced.text and forced.status == default_off.status == "completed"
    assert [t.status for t in turns(kernel)] == ["completed"] * 4


def test_temperature_and_max_tokens(kernel: Any, emulator: EmulatorServer) -> None:
    result = ok(kernel.run("%%gemini --temperature 0.25 --max-tokens 64\nA haiku about tea."))
    config = sent(emulator, result)["generation_config"]
    assert config["temperature"] == 0.25 and config["max_output_tokens"] == 64
    short = ok(kernel.run("%%gemini -t 1.5\nA haiku about tea."))
    assert sent(emulator, short)["generation_config"]["temperature"] == 1.5
    assert "max_output_tokens" not in sent(emulator, short)["generation_config"]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("--temperature 3", "--temperature must be between 0.0 and 2.0"),
        ("--temperature hot", "--temperature"),
        ("--max-tokens 0", "--max-tokens must be a positive number"),
        ("--max-tokens lots", "--max-tokens"),
        ("--bogus-flag", "--bogus-flag"),
        ("-m gemini-3-flash-preview --agent " + AGENT, "either --model or --agent"),
        ("--new --from v1_abc", "pick one"),
        ('"unclosed', "cannot parse the magic line"),
        ("1x", "not a valid variable name"),
    ],
)
def test_bad_flags_fail_before_sending(
    kernel: Any, capsys: pytest.CaptureFixture[str], line: str, words: str
) -> None:
    failed(kernel.run(f"%%gemini {line}\nHello"), capsys, words)
    assert turns(kernel) == []


def test_json_shows_the_interaction(kernel: Any) -> None:
    for flags in ("--json", "--json --no-stream"):
        result = ok(kernel.run(f"%%gemini {flags}\nWhat is JSON?"))
        shown = markdown(result)
        assert "**Interaction JSON**" in shown
        fenced = re.search(r"```json\n(.*?)\n```", shown, re.DOTALL)
        assert fenced, shown
        raw = json.loads(fenced.group(1))
        assert raw["id"] == result.id and raw["status"] == "completed"
        assert raw["steps"][-1]["content"][0]["text"] == result.text
    plain = ok(kernel.run("%%gemini\nWhat is YAML?"))
    assert "Interaction JSON" not in markdown(plain)


def test_no_store_is_stateless(kernel: Any, client: Any, emulator: EmulatorServer, phil: str) -> None:
    result = ok(kernel.run("%%gemini --no-store\nHi, my name is Bob."))
    assert result.id and "Bob" in result.text
    with pytest.raises(Exception) as lookup:  # the service kept nothing of it
        client.interactions.get(result.id)
    assert getattr(lookup.value, "status_code", None) == 404
    # It neither continued the chain nor became its head, and it is not part of the chain's history.
    blind = ok(kernel.run("%%gemini --no-store\nWhat is my name?"))
    assert "Phil" not in blind.text
    assert head(kernel) == phil
    assert [t.prompt for t in turns(kernel)] == ["Hi, my name is Phil.\n"]
    after = ok(kernel.run("%%gemini\nWhat is my name?"))
    assert "Phil" in after.text and "Bob" not in after.text
    assert sent(emulator, after)["previous_interaction_id"] == phil


@pytest.mark.parametrize(
    ("flag", "shown"),
    [
        ("--chain ideas", "--chain"),
        ("--from v1_abc", "--from"),
        ("--background", "--background"),
        (f"--agent {AGENT}", "--agent"),
    ],
)
def test_no_store_refuses_what_needs_storage(
    kernel: Any, capsys: pytest.CaptureFixture[str], flag: str, shown: str
) -> None:
    message = failed(kernel.run(f"%%gemini --no-store {flag}\nHello"), capsys, "--no-store", shown)
    assert message.startswith("--no-store cannot be combined with " + shown)
    assert turns(kernel) == []


def test_background_model_turn(kernel: Any, emulator: EmulatorServer, phil: str) -> None:
    run = kernel.run("%%gemini job --background\nWhat is my name?")
    assert run.success and run.result is kernel.shell.user_ns["job"]
    job = run.result
    assert not isinstance(job, Result) and job.id  # a handle on the run, followed in the background
    request = sent(emulator, job)
    assert request["background"] is True and request["previous_interaction_id"] == phil
    final = job.wait(timeout=10)
    assert final.status == "completed" and "Phil" in final.text and final.id == job.id
    last = turns(kernel)[-1]
    assert last.background and last.interaction_id == job.id
    deadline = time.monotonic() + 5  # the tracker settles the chain as the run ends
    while head(kernel) != job.id and time.monotonic() < deadline:
        time.sleep(0.05)
    assert head(kernel) == job.id and turns(kernel)[-1].status == "completed"

    waited = ok(kernel.run("%%gemini --background --wait\nWhat did I say earlier?"))
    assert waited.status == "completed" and "What is my name?" in waited.text
    assert sent(emulator, waited)["previous_interaction_id"] == job.id


def test_agent_runs_in_background(kernel: Any, emulator: EmulatorServer) -> None:
    started = time.monotonic()
    run = kernel.run(f"%%gemini job --agent {AGENT}\nThe history of tea [emulator: duration=2]")
    assert run.success and time.monotonic() - started < 1.5  # the cell does not block
    job = kernel.shell.user_ns["job"]
    assert job is run.result and job.status == "in_progress"
    request = sent(emulator, job)
    assert request["agent"] == AGENT and request["background"] is True and "model" not in request
    assert job.wait(timeout=10).status == "completed"

    result = ok(kernel.run(f"%%gemini report --agent {AGENT} --wait\nThe history of coffee {QUICK}"))
    assert result.status == "completed" and result.model == AGENT
    assert "Research report" in result.text and "Sources" in result.text
    assert kernel.shell.user_ns["report"] is result
    last = turns(kernel)[-1]
    assert last.model == AGENT and last.background and last.interaction_id == result.id


def test_emulator_agent_seconds_config(kernel: Any) -> None:
    """``backend = 'emulator'`` starts the package's own emulator; its agents run for the configured time."""
    kernel.shell.run_line_magic("config", "GeminiMagics.backend = 'emulator'")
    kernel.shell.run_line_magic("config", "GeminiMagics.emulator_agent_seconds = 0.2")
    started = time.monotonic()
    result = ok(kernel.run(f"%%gemini --agent {AGENT} --wait\nThe history of cocoa"))
    assert time.monotonic() - started < 8  # the default (20 s) would be far slower
    assert result.backend == "offline emulator"
    assert "offline emulator" in markdown(result) and "Research report" in result.text


def test_variable_gets_the_result_and_display_stays(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run = kernel.run("%%gemini answer\nHi, my name is Phil.")
    result = ok(run)
    assert kernel.shell.user_ns["answer"] is result
    shown = capsys.readouterr().out
    assert "Nice to meet you, Phil" in shown and result.id in shown
    again = ok(kernel.run("%%gemini answer --no-stream\nWhat is my name?"))
    assert kernel.shell.user_ns["answer"] is again and "Phil" in again.text
    assert "Your name is" in capsys.readouterr().out


def test_help_lists_every_flag_and_subcommand(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    flags = [s for action in options.parser()._actions for s in action.option_strings]
    assert len(flags) > 15
    kernel.shell.run_line_magic("gemini", "help")
    printed = capsys.readouterr().out
    doc = GeminiMagics.gemini.getdoc()
    kernel.run("%%gemini?\n")
    inspected = capsys.readouterr().out
    kernel.run("%gemini?")
    inspected_line = capsys.readouterr().out
    for text in (printed, doc, inspected, inspected_line):
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), flag
        for name in SUBCOMMANDS:
            assert f"%gemini {name}" in text, name
        assert "variable" in text and "%gemini -- TEXT" in text
    assert turns(kernel) == []


# -- %gemini one-liners --------------------------------------------------------------------------------


def test_line_prompt(kernel: Any, client: Any, phil: str) -> None:
    result = ok(kernel.run("%gemini What is my name?"))  # not IPython's `name?` help syntax
    assert sent_text(client, result) == "What is my name?"
    assert "Phil" in result.text and head(kernel) == result.id
    kernel.shell.user_ns["topic"] = "Python"
    assert kernel.run("x = 1\nif x:\n    inside = %gemini What is {topic}?").success
    inside = kernel.shell.user_ns["inside"]
    assert isinstance(inside, Result) and sent_text(client, inside) == "What is Python?"
    assert [t.prompt for t in turns(kernel)][-2:] == ["What is my name?", "What is Python?"]


def test_line_double_dash_forces_a_prompt(
    kernel: Any, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run("%gemini help me")  # a subcommand word: this is help, not a prompt
    assert "Subcommands:" in capsys.readouterr().out and turns(kernel) == []
    result = ok(kernel.run("%gemini -- help me"))
    assert sent_text(client, result) == "help me"
    assert [t.prompt for t in turns(kernel)] == ["help me"]


def test_line_flags_then_prompt(
    kernel: Any, client: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ok(kernel.run("%gemini -m gemini-3.1-pro-preview --no-stream -- What is 2 + 2?"))
    assert sent_text(client, result) == "What is 2 + 2?"
    request = sent(emulator, result)
    assert request["model"] == "gemini-3.1-pro-preview" and not request.get("stream")
    failed(kernel.run("%gemini -m gemini-3.1-pro-preview What is 2 + 2?"), capsys, " -- ")
    failed(kernel.run("%gemini"), capsys, "%gemini help")
    assert len(turns(kernel)) == 1


# -- interpolation -------------------------------------------------------------------------------------

PASTED = """Review {name}'s code for {obj.attr} (first item: {seq[0]}, last: {seq[-1]}, key: {cfg['k']}):

def load(x):
    d = {"a": 1, "b": [1, 2, {"c": None}]}
    label = f"{x!r:>10} and {{x}}"
    return json.dumps({"k": {"n": 1}}) + "{}".format(d) + "{0}"
payload = {"key": {"nested": [1, 2, {"deep": true}]}}
A set {1, 2, 3}, an empty {}, CSS a {color: red}, LaTeX \\frac{a}{b}, shell ${HOME}.
Literal braces: {{name}}.

```python
print(f"{name} {undefined}")
```
"""

EXPECTED = """Review Phil's code for attribute-value (first item: alpha, last: omega, key: v):

def load(x):
    d = {"a": 1, "b": [1, 2, {"c": None}]}
    label = f"{x!r:>10} and {{x}}"
    return json.dumps({"k": {"n": 1}}) + "{}".format(d) + "{0}"
payload = {"key": {"nested": [1, 2, {"deep": true}]}}
A set {1, 2, 3}, an empty {}, CSS a {color: red}, LaTeX \\frac{a}{b}, shell ${HOME}.
Literal braces: {name}.

```python
print(f"{name} {undefined}")
```
"""


def test_interpolation_reaches_the_service_exactly(kernel: Any, client: Any) -> None:
    kernel.shell.user_ns.update(
        name="Phil",
        obj=SimpleNamespace(attr="attribute-value"),
        seq=["alpha", "beta", "omega"],
        cfg={"k": "v"},
        x="should-not-appear",
    )
    result = ok(kernel.run("%%gemini\n" + PASTED))
    assert sent_text(client, result) == EXPECTED
    assert turns(kernel)[-1].prompt == EXPECTED


@pytest.mark.parametrize("x", [None, "should-not-appear"], ids=["x-undefined", "x-defined"])
def test_an_f_string_in_the_prompt_is_sent_as_written(kernel: Any, client: Any, x: str | None) -> None:
    """Braces inside a quoted f-string are the pasted code's, never the notebook's (issue #17): ``{x}``
    there neither fails for want of an ``x`` nor takes its value; braces outside still interpolate."""
    kernel.shell.user_ns.pop("x", None)
    if x is not None:
        kernel.shell.user_ns["x"] = x
    result = ok(kernel.run("%%gemini\nWhat does f'{x}' print?"))
    assert sent_text(client, result) == "What does f'{x}' print?\n"  # the cell's body, newline included
    kernel.shell.user_ns["who"] = "Ada"
    prompt = 'For {who}: rf"\\d{x}" and f"""\n{x:>{width}}\n""" and {{who}}'
    result = ok(kernel.run("%%gemini\n" + prompt))
    assert sent_text(client, result) == 'For Ada: rf"\\d{x}" and f"""\n{x:>{width}}\n""" and {who}\n'


def test_unknown_name_is_named(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kernel.shell.user_ns["known"] = 1
    failed(kernel.run("%%gemini\nUse {known} and {nobody_here}."), capsys, "nobody_here", "{{nobody_here}}")
    kernel.shell.user_ns["obj"] = SimpleNamespace(a=1)
    failed(kernel.run("%%gemini\nShow {obj.missing}."), capsys, "obj.missing")
    assert turns(kernel) == []


# -- models ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "used"),
    [("gemini-2.0-flash", "gemini-3-flash-preview"), ("gemini-1.5-pro", "gemini-3.1-pro-preview")],
)
def test_deprecated_model_is_substituted_with_a_note(
    kernel: Any, emulator: EmulatorServer, asked: str, used: str
) -> None:
    result = ok(kernel.run(f"%%gemini -m {asked}\nHello"))
    assert sent(emulator, result)["model"] == used and result.model == used
    note = f"{asked} is deprecated; using {used} instead."
    assert note in result.notes
    assert f"*Note: {note}*" in markdown(result)
    assert turns(kernel)[-1].model == used


def test_unknown_model_passes_through_and_404_is_one_line(
    kernel: Any, capsys: pytest.CaptureFixture[str], phil: str
) -> None:
    message = failed(kernel.run("%%gemini -m gemini-9-ultra\nHello"), capsys, "HTTP 404", "gemini-9-ultra")
    assert "not advanced" in message
    last = turns(kernel)[-1]
    assert last.model == "gemini-9-ultra" and last.status == "failed"
    assert head(kernel) == phil


def test_empty_cell(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%%gemini\n   \n\n"), capsys, "empty", "%%gemini")
    failed(kernel.run("%%gemini --no-stream\n"), capsys, "empty")
    assert turns(kernel) == []


# -- failure paths -------------------------------------------------------------------------------------


def check_failure(
    kernel: Any, capsys: pytest.CaptureFixture[str], before: str | None, prompt: str, *advice: str
) -> str:
    """Run ``prompt`` in a cell that must fail; the chain stays and the failed turn is in the history."""
    count = len(turns(kernel))
    message = failed(kernel.run(f"%%gemini\n{prompt}"), capsys, *advice)
    assert "the conversation was not advanced" in message
    assert head(kernel) == before
    recorded = turns(kernel)
    assert len(recorded) == count + 1
    assert recorded[-1].status == "failed" and recorded[-1].prompt.startswith(prompt)
    row = history_rows(kernel)[-1]
    assert row[3] == "failed" and "◀ head" not in row[1]
    assert any("◀ head" in r[1] for r in history_rows(kernel)) == (before is not None)
    return message


FAULTS = {
    "429": ("[emulator: error=429]", ("HTTP 429", "wait, then run the cell again")),
    "500": ("[emulator: error=500]", ("HTTP 500", "try again")),
    "503": ("[emulator: error=503]", ("HTTP 503", "try again")),
    "400": ("[emulator: no_such_directive=1]", ("HTTP 400", "no_such_directive")),
    "401": ("[emulator: error=401]", ("HTTP 401", "GEMINI_API_KEY", "%gemini key")),
    "403": ("[emulator: error=403]", ("HTTP 403", "GEMINI_API_KEY", "%gemini key")),
    "fail": ("[emulator: fail=boom]", ("boom", "run the cell again")),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_service_faults(kernel: Any, capsys: pytest.CaptureFixture[str], phil: str, fault: str) -> None:
    directive, advice = FAULTS[fault]
    check_failure(kernel, capsys, phil, f"Tell me more {directive}", *advice)
    after = ok(kernel.run("%%gemini\nWhat is my name?"))  # the chain still works, with its context
    assert "Phil" in after.text and head(kernel) == after.id


def test_fault_on_the_first_turn_leaves_no_head(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    check_failure(kernel, capsys, None, "Hi [emulator: error=503]", "HTTP 503")


def test_cut_stream_resumes_where_it_stopped(kernel: Any, phil: str) -> None:
    """A stored interaction's dropped stream is resumed after its last event: the whole answer, once."""
    whole = ok(kernel.run("%%gemini --no-store\nTell me a story [emulator: deltas=40]"))
    resumed = ok(kernel.run("%%gemini\nTell me a story [emulator: deltas=40, cut=12]"))
    assert resumed.text == whole.text and "word0" in resumed.text
    assert any("resumed where it stopped" in note for note in resumed.notes)
    assert head(kernel) == resumed.id and turns(kernel)[-1].answer == whole.text


def test_cut_stream_keeps_what_arrived(kernel: Any, capsys: pytest.CaptureFixture[str], phil: str) -> None:
    """Not stored and cut after output since the last checkpoint: nothing to resume from (the SDK's own
    rule: a checkpoint resume would repeat text), so what arrived is kept and the cell fails."""
    run = kernel.run("%%gemini partial --no-store\nTell me a story [emulator: deltas=40, cut=12]")
    message = failed(
        run, capsys, "before the answer was complete", "what arrived is shown above", shows="word0 word1"
    )
    kept = kernel.shell.user_ns["partial"]
    assert isinstance(kept, Result) and kept.status == "failed" and kept.text
    assert kept.error and kept.error in message and "word39" not in kept.text
    assert head(kernel) == phil


def test_api_key_not_valid(
    kernel: Any,
    make_emulator: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_emulator(api_keys=frozenset({"right-key-0123456789"}))
    kernel.shell.run_line_magic("config", f"GeminiMagics.backend = {server.base_url!r}")
    # No key in the environment: the backend sends its placeholder key, which this server does not know.
    check_failure(kernel, capsys, None, "Hello", "API key not valid", "GEMINI_API_KEY", "%gemini key")
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-9876543210")
    message = check_failure(kernel, capsys, None, "Hello again", "API key not valid", "%gemini key")
    assert "wrong-key-9876543210" not in message
    monkeypatch.setenv("GEMINI_API_KEY", "right-key-0123456789")  # the same server, the right key
    result = ok(kernel.run("%%gemini\nHello at last"))
    assert head(kernel) == result.id
    shown = capsys.readouterr()
    assert "right-key-0123456789" not in shown.out + shown.err + markdown(result)


def test_require_key_server_accepts_the_placeholder(kernel: Any, make_emulator: Any) -> None:
    """A base-URL backend without a key sends a placeholder key: a server that merely requires *a* key
    (``--require-key``) answers; only a server that checks the key's value refuses (test above)."""
    server = make_emulator(require_key=True)
    kernel.shell.run_line_magic("config", f"GeminiMagics.backend = {server.base_url!r}")
    result = ok(kernel.run("%%gemini\nHello"))
    assert server.emulator.store.get(result.id) is not None


def test_network_failure(kernel: Any, capsys: pytest.CaptureFixture[str], phil: str) -> None:
    port = closed_port()
    kernel.shell.run_line_magic("config", f"GeminiMagics.backend = 'http://127.0.0.1:{port}'")
    started = time.monotonic()
    check_failure(
        kernel, capsys, phil, "Still there?", "cannot reach", f"127.0.0.1:{port}", "run the cell again"
    )
    assert time.monotonic() - started < 10
    kernel.shell.run_line_magic("config", f"GeminiMagics.backend = {kernel.base_url!r}")
    after = ok(kernel.run("%%gemini\nWhat is my name?"))
    assert "Phil" in after.text and head(kernel) == after.id
