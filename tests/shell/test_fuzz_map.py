"""Fuzzing ``%%gemini VAR --map DATA``: hostile rows through a real shell, SDK and emulator.

The rows hold what a real table can: braces and ``{other}`` references, unicode (lone surrogates,
right-to-left marks, zero-width spaces), huge strings, NaN, None, ints, nested lists and dicts, empty
strings, odd column names and ``[emulator: …]`` faults inside the values; the data is a list of strings, a
list of dicts or a pandas DataFrame, the template refers to columns, to the notebook or to nothing.

Property, for every case: the cell gives a DataFrame with exactly one row per input row, in the input's
order (each row an answer or a one-line error in the ``error`` column), or one ``UsageError`` line; no
other exception, no traceback in the output. Running the same cell again sends no row that finished (the
job store): every answered row comes back from the store, and a job without errors asks the service
nothing. The case count and the outcomes go to ``docs/reliability.md`` (``reliability_figures``).

``GEMINI_MAGICS_FUZZ_EXAMPLES_MAP`` changes the number of cases (the suite runs 40);
``GEMINI_MAGICS_FUZZ_RANDOM=1`` explores new cases instead of the suite's fixed, derandomised ones.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import sys
import traceback
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from reliability_figures import record

from gemini_magics.emulator import EmulatorServer
from gemini_magics.mapping import MapResult

EXAMPLES = int(os.environ.get("GEMINI_MAGICS_FUZZ_EXAMPLES_MAP", "40"))
RANDOM = os.environ.get("GEMINI_MAGICS_FUZZ_RANDOM") == "1"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)

# Faults a row may carry; persistent ones only with a short Retry-After (a row is tried 6 times, and a
# persistent 503 would back off for about 15 s: slow, not more hostile).
DIRECTIVES = [
    "error=503x1",
    "error=500x1",
    "error=429x1, retry_after=0.01",
    "error=429, retry_after=0.01",
    "error=400",
    "cut=3",
    "fail=the model gave up",
    "deltas=40",
    "invalid_json",
    "bogus=1",
    "cut=x",
    "expire=0",
]
HOSTILE = [
    "",
    " ",
    "{",
    "}",
    "{other}",
    "{text}",
    "{{literal}}",
    "{0}",
    "{d['k']}",
    "{__class__}",
    "\u202eevil\u202c",  # right-to-left override
    "a\u200bb\u200c\u200d\ufeff",  # zero-width characters
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "\udfff tail",
    "字🙂é",
    "\x00\x01\x7f",
    "line one\nline two\r\nthree",
    "| *md* <b>html</b> [x](javascript:y)",
    "```",
]
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(DIRECTIVES).map(lambda d: f"row [emulator: {d}]"),
    st.sampled_from(DIRECTIVES).map(lambda d: f"row [emulator: {d}]"),
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Cs", "Cf", "Zs", "Lo", "So"]), max_size=12),
    st.tuples(st.sampled_from(["a", "{", "字", "🙂"]), st.integers(1_000, 200_000)).map(
        lambda cn: cn[0] * cn[1]
    ),  # huge strings
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.booleans(),
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
COLUMNS = st.sampled_from(
    [
        "text",
        "other",
        "a b",
        "",
        "1x",
        "class",
        "é",
        "{x}",
        "error",
        "answer",
        "answer_answer",
        "d",
        "__class__",
    ]
)
TEMPLATES = st.sampled_from(
    [
        "Echo: {text}",
        "{other} and {text}",
        "{text!r}",
        "{missing}",
        "{{literal}} {text}",
        "Tell {d['k']} about {text}",
        "Say hi",
        "{text} [emulator: deltas=30]",
        "{other}",
        "{",
        "{class}",
        "{é}",
        "",
    ]
)


def data_of(kind: str, columns: list[str], values: list[list[Any]], strings: list[str]) -> Any:
    """The value to map: a list of strings, a list of dicts or a DataFrame, every row with an ``id`` (its
    place, so the order can be checked)."""
    if kind == "strings":
        return strings
    rows = [{"id": i, **{c: v for c, v in zip(columns, row, strict=False)}} for i, row in enumerate(values)]
    if kind == "dicts":
        return rows
    names = list(dict.fromkeys(["id", *columns]))
    frame = pd.DataFrame({name: [row.get(name) for row in rows] for name in names}, columns=names)
    frame.index = [f"r{i}" for i in range(len(rows))]
    return frame


ROWS = st.one_of(
    st.lists(st.lists(VALUES, min_size=4, max_size=4), min_size=1, max_size=5),
    st.lists(st.lists(VALUES, min_size=4, max_size=4), min_size=1, max_size=5),
    st.lists(st.lists(VALUES, min_size=4, max_size=4), max_size=1),  # sometimes no row at all
)
STRINGS = st.lists(st.one_of(SCALARS.filter(lambda v: isinstance(v, str)), st.just("plain")), max_size=5)
CASES = st.tuples(
    st.sampled_from(["strings", "dicts", "frame", "frame"]),
    st.lists(COLUMNS, max_size=3, unique=True).map(lambda extra: list(dict.fromkeys(["text", *extra]))),
    ROWS,
    st.one_of(STRINGS.filter(bool), STRINGS),
    st.one_of(TEMPLATES, st.sampled_from(["Echo: {text}", "{text} and {other}", "Say hi"])),
)


def same(left: Any, right: Any) -> bool:
    """Equal, NaN and None alike (a row's value as the result frame holds it)."""
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in (left, right)):
        return True
    try:
        return bool(left == right)
    except Exception:
        return False


def rows_problem(frame: Any, data: Any, kind: str) -> str | None:
    """What is wrong with the result frame: a row lost, added or moved, an input value overwritten, a row
    with neither answer nor a one-line error."""
    count = len(data)
    if not isinstance(frame, pd.DataFrame):
        return f"the result is a {type(frame).__name__}, not a DataFrame"
    if len(frame) != count:
        return f"{len(frame)} result rows for {count} input rows"
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        return f"the result has duplicate columns: {names}"
    inputs = _inputs(data)
    error_column = names[-1]  # ``error``, renamed ``error_answer`` where the input has an ``error``
    if error_column != ("error_answer" if "error" in inputs else "error"):
        return f"the last column is {error_column!r}, not the error column"
    if kind == "strings" and [str(v) for v in frame["text"].tolist()] != data:
        return "the rows are not in the input's order"
    if kind != "strings" and frame["id"].tolist() != list(range(count)):
        return f"the rows are not in the input's order: {frame['id'].tolist()}"
    if kind == "frame":
        if frame.index.tolist() != data.index.tolist():
            return "the input's index was not kept"
        for column in data.columns:
            if not all(same(a, b) for a, b in zip(frame[column], data[column], strict=True)):
                return f"the input's column {column!r} was overwritten"
    if kind == "dicts":
        for column in inputs:
            kept = [same(frame[column].iloc[i], row.get(column)) for i, row in enumerate(data)]
            if not all(kept):
                return f"the input's column {column!r} was overwritten"
    answers = [c for c in names if c not in inputs and c != error_column]
    for position in range(count):
        error = frame[error_column].iloc[position]
        has_error = isinstance(error, str)
        if has_error and (not error.strip() or "\n" in error.strip()):
            return f"row {position}: an error that is not one line: {error[:300]!r}"
        answered = any(isinstance(frame[c].iloc[position], str) for c in answers)
        if has_error == answered:
            return (
                f"row {position}: {'both an answer and an error' if answered else 'neither answer nor error'}"
            )
    return None


def _inputs(data: Any) -> set[str]:
    if isinstance(data, pd.DataFrame):
        return {str(c) for c in data.columns}
    if data and isinstance(data[0], dict):
        return {str(k) for row in data for k in row}
    return {"text"}


def kind_of(message: str) -> str:
    checks = [
        ("no rows", "no rows"),
        ("row ", "interpolation (one line naming the row)"),
        ("would send", "cost gate"),
        ("only strings or only dicts", "not a table"),
        ("cannot be mapped", "not a table"),
    ]
    return next((kind for needle, kind in checks if needle in message), "other one-line error")


@pytest.mark.slow
def test_fuzzed_map_jobs_give_one_row_per_input_row(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.shell.user_ns.update(other="from the notebook", d={"k": "value"})
    kernel.shell.run_line_magic("config", "GeminiMagics.map_concurrency = 4")
    outcomes: Counter[str] = Counter()
    broken: list[str] = []
    rows_total = 0
    numbers = itertools.count()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=CASES)
    def job(case: tuple[str, list[str], list[list[Any]], list[str], str]) -> None:
        nonlocal rows_total
        kind, columns, values, strings, template = case
        data = data_of(kind, columns, values, strings)
        kernel.shell.user_ns["data"] = data
        kernel.shell.user_ns.pop("out", None)
        body = f"#{next(numbers)} {template}"  # a new job each case: no rows from an earlier case's run
        line = "out --map data --store --yes"
        capsys.readouterr()
        problem, first = None, None
        try:
            first = kernel.cell(line, body)
        except UsageError as exc:
            message = str(exc)
            outcomes[kind_of(message)] += 1
            if not message.strip() or "\n" in message.strip():
                problem = f"a UsageError of several lines: {message!r}"
        except BaseException as exc:  # anything else is a traceback for the user
            outcomes[f"escaped: {type(exc).__name__}"] += 1
            problem = "".join(traceback.format_exception(exc))
        if first is not None:
            frame = first.frame if isinstance(first, MapResult) else None
            problem = rows_problem(frame, data, kind)
            if problem is None and kernel.shell.user_ns.get("out") is not frame:
                problem = "the variable does not hold the result"
            if problem is None:
                rows_total += len(data)
                errors = int(frame[frame.columns[-1]].notna().sum())
                outcomes["a frame, every row answered" if not errors else "a frame with per-row errors"] += 1
                problem = rerun_problem(kernel, emulator, line, body, first, errors)
        shown = capsys.readouterr()
        if problem is None and TRACEBACK.search(shown.out + shown.err):
            problem = f"a traceback in the output:\n{shown.out[-2000:]}\n{shown.err[-2000:]}"
        if os.environ.get("GEMINI_MAGICS_FUZZ_SHOW"):
            print(f"FUZZ {kind} {columns} {template!r} {problem and problem[:200]}", file=sys.__stdout__)
        if problem is not None:
            broken.append(f"%%gemini {line}\n{body}\n{kind} {columns} {str(data)[:600]}\n→ {problem[:4000]}")
            raise AssertionError(broken[-1])

    try:
        job()
    finally:
        cases = sum(outcomes.values())
        print(f"fuzzed {cases} map jobs ({rows_total} rows): {dict(outcomes)}")
        record(
            "fuzz_map",
            {
                "cases": cases,
                "rows": rows_total,
                "max_examples": EXAMPLES,
                "random": RANDOM,
                "failures": len(broken),
                "outcomes": dict(outcomes),
            },
        )
    assert cases >= EXAMPLES * 0.9


def rerun_problem(
    kernel: Any, emulator: EmulatorServer, line: str, body: str, first: MapResult, errors: int
) -> str | None:
    """Run the same cell again: every row the first run answered must come from the store, unchanged."""
    before = len(emulator.emulator.store)
    try:
        again = kernel.cell(line, body)
    except BaseException as exc:
        return "the re-run failed: " + "".join(traceback.format_exception(exc))
    if not isinstance(again, MapResult):
        return f"the re-run gave {type(again).__name__}"
    answered = [n for n, o in first.job.outcomes.items() if o.error is None]
    resent = [n for n in answered if not again.job.outcomes[n].cached]
    if resent:
        return f"the re-run sent finished rows again: {resent}"
    changed = [n for n in answered if again.job.outcomes[n].text != first.job.outcomes[n].text]
    if changed:
        return f"the re-run changed the answers of rows {changed}"
    if errors == 0 and len(emulator.emulator.store) != before:
        return f"a re-run of a job without errors sent {len(emulator.emulator.store) - before} requests"
    return None
