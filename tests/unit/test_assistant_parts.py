"""The assistant's pieces without a shell: code blocks of an answer, DataFrames as Markdown, variable
summaries, the notebook context from a bare namespace (``In``/``Out``), and the emulator's repairs."""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gemini_magics import frames
from gemini_magics.assistant import code, context, values
from gemini_magics.emulator import notebook

# -- code blocks ----------------------------------------------------------------------------------------


def test_python_blocks_are_found_by_their_fences() -> None:
    answer = (
        "Text\n\n```python\nx = 1\n```\n\n~~~py\ny = 2\n~~~\n\n```text\nnot code\n```\n\n"
        "````python\nprint('```')\n````\n\n```bash\nls\n```"
    )
    assert code.pick(answer) == "x = 1"
    assert code.pick(answer, "all") == "x = 1\n\ny = 2\n\nprint('```')"


def test_unlabelled_blocks_count_only_when_nothing_is_labelled_and_they_parse() -> None:
    assert code.pick("```\nfor i in range(3):\n    print(i)\n```\n```\nsee the table below\n```", "all") == (
        "for i in range(3):\n    print(i)"
    )
    assert code.pick("```python\na = 1\n```\n```\nb = 2\n```", "all") == "a = 1"
    assert code.pick("No code here, only `inline`.") == ""
    assert code.pick("```python\nunclosed = True") == "unclosed = True"  # an answer cut short


# -- DataFrames and variables ---------------------------------------------------------------------------


def test_a_frame_is_its_label_schema_and_head_whatever_its_size() -> None:
    rows = 5_000_000
    frame = pd.DataFrame({"id": np.arange(rows), "text": np.full(rows, "a|b\nc", dtype=object)})
    text = frames.markdown(frame, rows=3)
    assert text.splitlines() == [
        "pandas DataFrame, 5,000,000 rows × 2 columns",
        "columns: id int64, text object",
        "",
        "|  | id | text |",
        "|---|---|---|",
        "| 0 | 0 | a\\|b c |",
        "| 1 | 1 | a\\|b c |",
        "| 2 | 2 | a\\|b c |",
        "(first 3 of 5,000,000 rows)",
    ]
    wide = pd.DataFrame(np.zeros((2, 200)))
    shown = frames.markdown(wide, columns=4)
    assert "… 100 more" in shown and "(first 4 of 200 columns)" in shown and len(shown) < 1_500
    assert not frames.is_frame(np.zeros((3, 3))) and not frames.is_frame(pd.Series([1]))


def test_variables_are_summarised_briefly_and_secrets_by_type_only() -> None:
    namespace: dict[str, Any] = {
        "np": np,
        "helper": lambda x: x,
        "Klass": type("Klass", (), {}),
        "_hidden": 1,
        "In": [],
        "series": pd.Series(range(100), name="n"),
        "matrix": np.ones((3, 4)),
        "password": "hunter2",
        "long": "y" * 10_000,
        "mapping": {f"k{i}": i for i in range(50)},
        "shadowed": 1,
    }
    hidden = {"shadowed": 1}  # what IPython put there itself
    names = values.user_variables(namespace, hidden)
    assert names == ["mapping", "long", "password", "matrix", "series"]
    lines = [values.describe(n, namespace[n]) for n in names]
    assert lines[0].startswith("- `mapping`: dict, 50 items: {'k0': 0, 'k1': 1,") and lines[0].endswith(
        "...}"
    )
    assert lines[1].startswith("- `long`: str, 10,000 chars: 'yyy") and len(lines[1]) < 120
    assert lines[2] == "- `password`: str (value not shown: the name suggests a secret)"
    assert lines[3] == "- `matrix`: numpy ndarray, shape 3 × 4, dtype float64: 1.0, 1.0, 1.0, 1.0, 1.0, …"
    assert lines[4] == "- `series`: pandas Series, shape 100, dtype int64, name 'n': 0, 1, 2, 3, 4, …"
    assert values.describe("x", "z" * 5_000, limit=50) == "- `x`: str, 5,000 chars: '" + "z" * 23 + "…"


def test_context_from_a_bare_namespace_is_bounded_and_scrubbed() -> None:
    secret = "sk-SECRET-0123456789"
    namespace: dict[str, Any] = {
        "In": ["", *(f"x{n} = {n}" for n in range(1, 300)), f"print('{secret}')"],
        "Out": {n: "o" * 5_000 for n in range(1, 300)},
        "frame": pd.DataFrame({"a": range(1_000_000)}),
    }
    found = context.gather("all", namespace, 4_000, lambda text: text.replace(secret, "***"), shell=None)
    assert found is not None and len(found.text) <= 4_000
    assert found.text.startswith("Notebook context")
    assert "print('***')" in found.text and secret not in found.text
    assert "- `frame`: pandas DataFrame, 1,000,000 rows × 1 columns" in found.text
    assert found.cells_total == 300 and 0 < found.cells < 300
    assert found.summary().startswith(f"context: {found.cells} of 300 cells, 1 variable, ~")
    assert context.gather("none", namespace, 4_000, str) is None
    with pytest.raises(ValueError, match="choose one of"):
        context.gather("everything", namespace, 4_000, str)


# -- the emulator's repairs -----------------------------------------------------------------------------


def fix_prompt(cell: str, error: str, line: int = 1, variables: str = "", instructions: str = "") -> str:
    parts = [
        "Fix the error in this Jupyter notebook cell.",
        f"The cell (In [7]):\n```python\n{cell}\n```",
        "The error (traceback of the notebook's own code):\n"
        f"```text\n  Cell In[7], line {line}, in <module>\n{error}\n```",
    ]
    if variables:
        parts.append(f"Variables the cell uses, as they are now:\n{variables}")
    if instructions:
        parts.append(f"Instructions from the user: {instructions}")
    return "\n\n".join(parts)


def corrected(answer: str) -> str:
    fixed = code.pick(answer)
    ast.parse(fixed)
    return fixed


def test_the_emulator_guards_the_division_on_the_failing_line() -> None:
    cell = "total = 10\ncount = 0\ntotal /= count\nhalf = total / 2\nrate = total // count"
    answer = notebook.answer(fix_prompt(cell, "ZeroDivisionError: division by zero", line=3), False)
    assert answer is not None and answer.startswith("**ZeroDivisionError** on line 3: `count` is 0")
    assert corrected(answer) == (
        "total = 10\ncount = 0\nif count != 0:\n    total /= count\nhalf = total / 2\nrate = total // count"
    )
    zero = notebook.answer(fix_prompt("r = a / b", "ZeroDivisionError: x", instructions="use zero"), False)
    assert corrected(zero or "") == "r = (a / b if b != 0 else 0)"


def test_the_emulator_repairs_key_errors_from_the_described_dict_or_a_literal() -> None:
    described = "- `stock`: dict, 2 items: {'apples': 3, 'pears': 0}"
    answer = notebook.answer(
        fix_prompt("n = stock['apple']", "KeyError: 'apple'", variables=described), False
    )
    assert corrected(answer or "") == "n = stock['apples']"
    literal = "d = {'alpha': 1}\nv = d['zzz']"
    answer = notebook.answer(fix_prompt(literal, "KeyError: 'zzz'", line=2), False)
    assert corrected(answer or "") == "d = {'alpha': 1}\nv = d.get('zzz')"  # nothing close: .get


def test_the_emulator_repairs_misspelt_names_and_explains_what_it_cannot_fix() -> None:
    answer = notebook.answer(
        fix_prompt("total = 3\nprint(totl)", "NameError: name 'totl' is not defined"), False
    )
    assert corrected(answer or "") == "total = 3\nprint(total)"
    other = notebook.answer(fix_prompt("open('x')", "FileNotFoundError: [Errno 2] No such file"), False)
    assert other is not None and "```" not in other and "FileNotFoundError" in other


def test_the_emulator_writes_python_only_when_asked_without_tools() -> None:
    asked = notebook.answer("Write a Python function for the first 5 primes", False) or ""
    assert len(code.python_blocks(asked)) == 2
    assert notebook.answer("Write a Python function for the first 5 primes", True) is None
    assert notebook.answer("What is a monad?", False) is None
