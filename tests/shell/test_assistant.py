"""The notebook-aware assistant through real cells of a real IPython shell, answered by the emulator:
``%gemini fix``, ``--code``, ``--context`` and ``{df}`` of a DataFrame.

What the service received is read on the emulator: every create request's body as its store took it in
(``received``, which also sees ``store=false`` requests, whose records the emulator forgets when they end).
The new cell below is IPython's ``set_next_input``: in this terminal-style shell it lands in
``shell.rl_next_input``; the kernel test (tests/notebooks/test_fix_kernel.py) checks the payload a front end
gets, and tests/browser/test_lab_fix.py the cell JupyterLab adds.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from shell_checks import failed, ok

from gemini_magics.chain import ChainStore
from gemini_magics.emulator import EmulatorServer

FAKE = "AIzaFAKE-gm-test-0123456789abcdef"
KEY_SHAPED = "AIza" + "Q" * 35  # someone else's key, printed by a cell


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def received(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The body of every create request the emulator receives during the test, in order."""
    store = emulator.emulator.store
    bodies: list[dict[str, Any]] = []
    original = store.add

    def add(record: Any) -> None:
        bodies.append(record.request)
        original(record)

    monkeypatch.setattr(store, "add", add)
    return bodies


@pytest.fixture
def offered(kernel: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """What cells asked IPython to put in a new cell below: (text, replace), in order."""
    calls: list[tuple[str, bool]] = []
    shell = kernel.shell
    original = shell.set_next_input

    def set_next_input(text: str, replace: bool = False) -> None:
        calls.append((text, replace))
        original(text, replace)

    monkeypatch.setattr(shell, "set_next_input", set_next_input)
    shell.rl_next_input = None
    return calls


def texts(body: dict[str, Any]) -> list[str]:
    """The text parts of a request's input (a string input is one part)."""
    given = body["input"]
    if isinstance(given, str):
        return [given]
    parts = [p for step in given for p in (step.get("content") or [step])]
    return [p["text"] for p in parts if p.get("type") == "text"]


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)\n```$", text, re.S | re.M)


def markdown(result: Any) -> str:
    return result._repr_mimebundle_()[0]["text/markdown"]


def footer(result: Any) -> str:
    """The last line of the answer's text/plain form: model · id · tokens · time · footnotes."""
    return result._repr_mimebundle_()[0]["text/plain"].splitlines()[-1]


def chain_state(kernel: Any) -> tuple[str | None, int]:
    with ChainStore(kernel.db) as store:
        chain = store.chain(kernel.notebook, store.active_name(kernel.notebook))
        return chain.head, len(chain.turns())


# -- %gemini fix ----------------------------------------------------------------------------------------


def test_fix_explains_a_zero_division_and_offers_the_corrected_cell_below(
    kernel: Any, received: list[dict[str, Any]], offered: list[tuple[str, bool]]
) -> None:
    ok(kernel.run("%%gemini\nHi, my name is Phil."))
    before = chain_state(kernel)
    assert kernel.run("scores = {'alice': 3, 'bob': 0}").success
    cell = "ratio = scores['alice'] / scores['bob']\nprint(ratio)"
    number = kernel.shell.execution_count
    assert not kernel.run(cell).success  # a real ZeroDivisionError
    received.clear()

    result = ok(kernel.run("%gemini fix"))
    assert "ZeroDivisionError" in result.text and "cannot divide by zero" in result.text
    guarded = (
        "ratio = (scores['alice'] / scores['bob'] if scores['bob'] != 0 else float(\"nan\"))\nprint(ratio)"
    )
    assert result.code == guarded
    assert fenced(result.text, "python") == [guarded]  # shown as a fenced block in the answer
    assert offered == [(guarded, False)] and kernel.shell.rl_next_input == guarded
    assert "the corrected cell is in the next prompt, not run" in result.notes
    assert footer(result).endswith(f" · fix of In [{number}], not stored")
    assert "fix of In \\[" in markdown(result).splitlines()[-1]  # in the Markdown footer too

    # One stateless request: not stored, no previous interaction; the chain did not move.
    [body] = received
    assert body["store"] is False and "previous_interaction_id" not in body
    assert chain_state(kernel) == before
    [prompt] = texts(body)
    assert fenced(prompt, "python")[0] == cell
    [trace] = fenced(prompt, "text")
    assert trace.splitlines() == [
        f"  Cell In[{number}], line 1, in <module>",
        "    ratio = scores['alice'] / scores['bob']",
        "ZeroDivisionError: division by zero",
    ]
    assert "- `scores`: dict, 2 items: {'alice': 3, 'bob': 0}" in prompt
    assert "Instructions" not in prompt

    # The corrected cell is not run by the fix; run now, it works.
    assert "ratio" not in kernel.shell.user_ns
    assert kernel.run(result.code).success and math.isnan(kernel.shell.user_ns["ratio"])


def test_fix_of_a_key_error_uses_an_existing_key_then_follows_instructions(
    kernel: Any, received: list[dict[str, Any]], offered: list[tuple[str, bool]]
) -> None:
    assert kernel.run("prices = {'apple': 1.2, 'pear': 0.8, 'plum': 2.0}").success
    assert not kernel.run("total = prices['aple'] + prices['pear']").success
    first = ok(kernel.run("%gemini fix"))
    assert first.code == "total = prices['apple'] + prices['pear']"
    assert "'apple', 'pear', 'plum'" in first.text
    # A fix right after a fix fixes the same cell again, with the user's instructions.
    second = ok(kernel.run("%gemini fix use .get so that a missing fruit gives None"))
    assert second.code == "total = prices.get('aple') + prices['pear']"
    assert "Following your instructions" in second.text
    assert [code for code, _ in offered] == [first.code, second.code]
    prompts = [texts(body)[0] for body in received[-2:]]
    assert prompts[0].split("```text")[0] == prompts[1].split("```text")[0]  # the same failed cell
    assert "Instructions from the user: use .get so that a missing fruit gives None" in prompts[1]
    assert kernel.run(first.code).success and kernel.shell.user_ns["total"] == 2.0


def test_fix_without_an_error_says_so_in_one_line(
    kernel: Any,
    received: list[dict[str, Any]],
    offered: list[tuple[str, bool]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed(kernel.run("%gemini fix"), capsys, "no error to fix")  # a fresh kernel: nothing ran yet
    assert kernel.run("x = 1 / 1").success
    message = failed(kernel.run("%gemini fix"), capsys, "no error to fix: the last cell ran without one")
    assert message == "no error to fix: the last cell ran without one"
    failed(kernel.run("%gemini fix please"), capsys, "no error to fix")  # after a refused fix: still none
    assert received == [] and offered == []


def test_fix_sends_only_the_notebooks_own_frames(kernel: Any, received: list[dict[str, Any]]) -> None:
    assert kernel.run("import json\n\ndef mean(values):\n    return sum(values) / len(values)").success
    defined = kernel.shell.execution_count - 1
    failing = kernel.shell.execution_count
    assert not kernel.run("weights = []\nm = mean(weights)").success
    result = ok(kernel.run("%gemini fix"))
    [trace] = fenced(texts(received[-1])[0], "text")
    assert trace.splitlines() == [
        f"  Cell In[{failing}], line 2, in <module>",
        "    m = mean(weights)",
        f"  Cell In[{defined}], line 4, in mean",
        "    return sum(values) / len(values)",
        "ZeroDivisionError: division by zero",
    ]
    variables = texts(received[-1])[0].split("Variables the cell uses, as they are now:\n")[1]
    assert "- `weights`: list, 0 items: []" in variables and "- `mean`: function mean(values)" in variables
    # The emulator cannot guard a division in another cell: it says where it happened, and offers nothing.
    assert "`return sum(values) / len(values)` (line 4 of In" in result.text
    assert result.code == "" and "no Python code block" in " ".join(result.notes)

    assert not kernel.run("json.loads('{bad')").success
    ok(kernel.run("%gemini fix"))
    [trace] = fenced(texts(received[-1])[0], "text")
    lines = trace.splitlines()
    assert lines[0].startswith("  Cell In[") and lines[1] == "    json.loads('{bad')"
    assert re.fullmatch(r"  … \d frames in library code \(the standard library\)", lines[2]), lines
    assert lines[3].startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert "/" not in trace and "interactiveshell" not in trace  # no paths, no IPython internals


def test_fix_never_sends_the_key(
    kernel: Any, received: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", FAKE)
    assert kernel.run("import os\nsetting = 'key=' + os.environ['GEMINI_API_KEY']").success
    cell = f"# {FAKE}\nraise ValueError(setting + ' and {KEY_SHAPED}')"
    assert not kernel.run(cell).success
    result = ok(kernel.run(f"%gemini fix the {FAKE} part"))
    sent = json.dumps(received[-1])
    assert FAKE not in sent and KEY_SHAPED not in sent
    prompt = texts(received[-1])[0]
    assert "# ***" in prompt and "ValueError: key=*** and ***" in prompt and "the *** part" in prompt
    assert FAKE not in markdown(result) and FAKE not in repr(result)


# -- --code ---------------------------------------------------------------------------------------------


def test_code_puts_the_first_python_block_in_a_new_cell(kernel: Any, offered: list[tuple[str, bool]]) -> None:
    result = ok(kernel.run("%%gemini --code\nWrite a Python program for the first 10 primes."))
    blocks = fenced(result.text, "python")
    assert len(blocks) == 2 and result.code == blocks[0]
    assert offered == [(blocks[0], False)]
    assert "the code is in the next prompt, not run" in result.notes
    assert "```python" in markdown(result)  # the answer is still shown, code included
    assert "primes" not in kernel.shell.user_ns  # offered, not run
    assert kernel.run(result.code).success and kernel.shell.user_ns["primes"][-1] == 29


def test_code_all_joins_every_python_block(kernel: Any, offered: list[tuple[str, bool]]) -> None:
    result = ok(kernel.run("%%gemini --code all\nWrite a Python program for the first 8 Fibonacci numbers."))
    blocks = fenced(result.text, "python")
    assert len(blocks) == 2 and result.code == blocks[0] + "\n\n" + blocks[1]
    assert offered == [(result.code, False)]
    run = kernel.run(result.code)
    assert run.success and kernel.shell.user_ns["seq"] == [0, 1, 1, 2, 3, 5, 8, 13]


def test_code_variable_line_form_and_answers_without_code(
    kernel: Any, offered: list[tuple[str, bool]], capsys: pytest.CaptureFixture[str]
) -> None:
    result = ok(kernel.run("%%gemini --code answer\nWrite Python code that prints 6 * 7."))
    assert kernel.shell.user_ns["answer"] is result and result.code == "print(6 * 7)"
    line = ok(kernel.run("%gemini --code -- Write a Python script for the first 5 primes."))
    assert "primes" in line.code and offered[-1] == (line.code, False)
    plain = ok(kernel.run("%%gemini --code\nWhat is a monad?"))
    assert plain.code == "" and "the answer has no Python code block, so no cell was added" in plain.notes
    assert len(offered) == 2
    failed(kernel.run("%%gemini --code x y\nHi"), capsys, "--code x: write --code")
    failed(kernel.run("%%gemini --code --research\nHi"), capsys, "add --wait")


# -- --context --------------------------------------------------------------------------------------------


def test_context_cells_sends_sources_outputs_and_errors_newest_first(
    kernel: Any, emulator: EmulatorServer
) -> None:
    start = kernel.shell.execution_count
    for source in ("a = 6", "b = a * 7\nb", "c = a / 0", "'%s' % b"):
        kernel.run(source)
    result = ok(kernel.run("%%gemini --context cells\nWhat did I compute?"))
    [context, prompt] = texts(emulator.emulator.store.get(result.id).request)
    assert prompt == "What did I compute?\n"
    assert context.startswith("Notebook context")
    shown = re.findall(r"^### In \[(\d+)\]", context, re.M)
    assert shown == [str(n) for n in range(start + 3, start - 1, -1)]  # newest first, this cell not
    assert f"Out [{start + 1}]:\n```text\nint: 42\n```" in context
    assert f"Error [{start + 2}]: ZeroDivisionError: division by zero" in context
    assert f"Out [{start + 3}]:\n```text\n42\n```" in context
    assert "## Variables" not in context
    assert "From your notebook I was given 4 cells." in result.text  # the emulator read it
    assert re.search(r" · context: 4 cells, ~\d+ tokens$", footer(result))
    assert "context: 4 cells, \\~" in markdown(result).splitlines()[-1]  # ~ escaped: no strikethrough
    # What the chain records is the user's prompt, not the context.
    with ChainStore(kernel.db) as store:
        assert store.chain(kernel.notebook, "default").turns()[-1].prompt == "What did I compute?\n"


def test_context_vars_sends_the_users_variables_only(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.run("import math\nfrom os import path")
    kernel.run("def helper(x):\n    return x\n\nclass Thing:\n    pass")
    kernel.run("_private = 1\nfrom pathlib import Path")
    kernel.shell.user_ns["pd"] = pd
    kernel.run("frame = pd.DataFrame({'city': ['Oslo', 'Lima'], 'people': [709_000, 9_750_000]})")
    kernel.run("api_token = 'sk-very-secret'\nlimit = 3\nwords = ['a', 'b']")
    result = ok(kernel.run("%%gemini --context vars\nWhat do I have?"))
    context = texts(emulator.emulator.store.get(result.id).request)[0]
    names = re.findall(r"^- `(\w+)`", context, re.M)
    assert names == ["words", "limit", "api_token", "frame"]  # newest first; no modules, code, internals
    assert "- `api_token`: str (value not shown: the name suggests a secret)" in context
    assert "sk-very-secret" not in context
    assert "- `frame`: pandas DataFrame, 2 rows × 2 columns\n  columns: city object, people int64" in context
    assert "  | 1 | Lima | 9750000 |" in context
    assert "## Cells" not in context
    assert re.search(r" · context: 4 variables, ~\d+ tokens$", footer(result))
    assert (
        "From your notebook I was given 4 variables (`words`, `limit`, `api_token`, `frame`)." in result.text
    )


def test_context_setting_applies_to_every_cell_and_the_flag_wins(
    kernel: Any, emulator: EmulatorServer
) -> None:
    kernel.run("x = 1")
    kernel.shell.run_line_magic("config", "GeminiMagics.context = 'all'")
    both = ok(kernel.run("%%gemini\nAnd now?"))
    context = texts(emulator.emulator.store.get(both.id).request)[0]
    assert "## Variables (1)\n- `x`: int: 1" in context and "## Cells run before this one" in context
    assert re.search(r" · context: 1 cell, 1 variable, ~\d+ tokens$", footer(both))
    off = ok(kernel.run("%%gemini --context none\nAnd now?"))
    assert texts(emulator.emulator.store.get(off.id).request) == ["And now?\n"]
    assert "context:" not in footer(off)


def test_context_is_bounded_on_a_big_notebook(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.shell.user_ns.update(pd=pd, np=np)
    for number in range(498):
        kernel.run(f"v{number} = list(range({number}))\nv{number}")
    kernel.run("big = pd.DataFrame({'a': np.arange(10_000_000, dtype=np.int32), 'b': np.zeros(10_000_000)})")
    shown = kernel.shell.execution_count
    kernel.run("big")
    kernel.run("'x' * 1_000_000")
    assert kernel.shell.execution_count > 500
    result = ok(kernel.run("%%gemini --context all\nSummarise my notebook."))
    context, _ = texts(emulator.emulator.store.get(result.id).request)
    assert len(context) <= 20_000 and len(context) > 15_000
    assert "- `big`: pandas DataFrame, 10,000,000 rows × 2 columns" in context  # the newest variable
    assert f"### In [{shown}]\n```python\nbig\n```\nOut [{shown}]:\n```text\npandas DataFrame" in context
    assert "x" * 1_500 not in context  # one cell's output is cut to its share
    assert re.search(r"\(… \d+ more variables left out\)", context)
    assert re.search(r"\(… \d+ older cells left out\)", context)
    assert re.search(r"context: \d+ of 501 cells, \d+ of 499 variables, ~\d\.\dk tokens$", footer(result))
    kernel.shell.run_line_magic("config", "GeminiMagics.context_chars = 3000")
    small = ok(kernel.run("%%gemini --context all\nSummarise my notebook."))
    assert len(texts(emulator.emulator.store.get(small.id).request)[0]) <= 3000


def test_a_key_in_a_cells_output_never_reaches_the_request(
    kernel: Any, received: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", FAKE)
    kernel.run("import os\nshown = 'my key: ' + os.environ['GEMINI_API_KEY']")
    kernel.run("shown")
    kernel.run(f"'their key: {KEY_SHAPED}'")
    kernel.run("print(os.environ['GEMINI_API_KEY'])")
    result = ok(kernel.run("%%gemini --context all\nWhat did I do?"))
    sent = json.dumps(received[-1])
    assert FAKE not in sent and KEY_SHAPED not in sent
    context = texts(received[-1])[0]
    assert "my key: ***" in context and "their key: ***" in context and "- `shown`: str" in context
    assert FAKE not in markdown(result)


# -- {df} in a prompt -----------------------------------------------------------------------------------


def test_a_dataframe_in_a_prompt_is_a_bounded_markdown_table_with_its_schema(
    kernel: Any, emulator: EmulatorServer
) -> None:
    rows = 10_000_000
    kernel.shell.user_ns["df"] = pd.DataFrame(
        {"a": np.arange(rows, dtype=np.int32), "note": np.full(rows, "x|y", dtype=object)}
    )
    result = ok(kernel.run("%%gemini\nDescribe {df}"))
    [prompt] = texts(emulator.emulator.store.get(result.id).request)
    assert prompt.startswith(
        "Describe pandas DataFrame, 10,000,000 rows × 2 columns\ncolumns: a int32, note object"
    )
    assert "|  | a | note |\n|---|---|---|\n| 0 | 0 | x\\|y |" in prompt
    assert prompt.rstrip().endswith("(first 20 of 10,000,000 rows)") and len(prompt) < 1_500
