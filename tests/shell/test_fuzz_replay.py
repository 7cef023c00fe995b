"""Fuzzing replay cassettes: a recorded notebook, its cassette mutated, replayed through real cells.

A few cells (a chain of three, one without streaming, a tool loop, a ``--map`` over two rows) are recorded
once against the emulator with ``GeminiMagics.replay = 'record'``, and another notebook's cassette beside
it. Each case then mutates the file — truncates it, corrupts a line's JSON, drops, duplicates or reorders
entries, changes a field's type, swaps in the other notebook's cassette (or mixes it in), inflates a
field, inserts binary junk, breaks the header — and runs the cells again in ``replay`` (mostly), ``auto``
or ``record`` mode.

Property: every cell gives the recorded answer — or, where the mutation changed what an entry says, some
answer — or one ``UsageError`` line that (for a mutation that changed no entry's content, in ``replay``)
names the cassette; a ``--map`` row an answer or a one-line error; nothing else escapes, no traceback is
shown. The user's file is never lost or silently overwritten: ``replay`` leaves it byte for byte, a
damaged file is refused and left as it was in every mode, ``auto`` and ``record`` keep every entry the
file held, and no temporary sibling is left behind.

``GEMINI_MAGICS_FUZZ_EXAMPLES_REPLAY`` changes the number of cases (the suite runs 30);
``GEMINI_MAGICS_FUZZ_RANDOM=1`` explores new cases instead of the suite's fixed, derandomised ones.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from reliability_figures import record

from gemini_magics.emulator import EmulatorServer
from gemini_magics.mapping import MapResult
from gemini_magics.replay import cassette as tape

EXAMPLES = int(os.environ.get("GEMINI_MAGICS_FUZZ_EXAMPLES_REPLAY", "30"))
RANDOM = os.environ.get("GEMINI_MAGICS_FUZZ_RANDOM") == "1"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)
HUGE = 1_000_000

CELLS = [
    ("--new", "Name three rivers"),
    ("", "Which is longest?"),
    ("--no-stream", "And the shortest?"),
    ("--tool get_weather", "What is the weather in Paris?"),
    ("rated --map cities --fresh", "Rate {text}"),
]
OTHER_CELLS = [("--new", "Tell me a joke"), ("", "Another one, about rivers")]
MAP_CELL = len(CELLS) - 1

# Mutations that change no entry's content (the answers that still replay must be the recorded ones);
# the others may change what an entry says.
FAITHFUL = {
    "truncate",
    "cut_line",
    "drop",
    "duplicate",
    "swap",
    "other_notebook",
    "mix_other",
    "blank_lines",
    "crlf",
    "bom",
    "header",
    "empty",
    "missing",
    "huge_label",
}
CHANGING = {"wrong_type", "wrong_nested", "corrupt", "junk", "huge_answer", "drop_key"}
WEIRD: list[Any] = [None, 0, -1, 3.5, "", "x", [], {}, [1, "a"], {"status": "x"}, True, 2**70]


@dataclass
class Recording:
    """What was recorded: the cassette's bytes, the other notebook's, and each cell's answer."""

    data: bytes
    other: bytes
    answers: list[Any] = field(default_factory=list)


def mutate(data: bytes, other: bytes, ops: list[tuple[str, int, int]]) -> bytes | None:
    """The cassette after ``ops`` (each: a mutation, a position, a number); ``None`` for no file at all."""
    for op, pos, n in ops:
        lines = data.split(b"\n")
        at = pos % max(1, len(lines))
        if op == "truncate":
            data = data[: pos % (len(data) + 1)]
        elif op == "cut_line" and lines[at]:
            lines[at] = lines[at][: n % len(lines[at])]
            data = b"\n".join(lines)
        elif op == "drop" and len(lines) > 1:
            del lines[1 + pos % (len(lines) - 1)]
            data = b"\n".join(lines)
        elif op == "duplicate":
            lines.insert(at, lines[at])
            data = b"\n".join(lines)
        elif op == "swap":
            other_at = n % len(lines)
            lines[at], lines[other_at] = lines[other_at], lines[at]
            data = b"\n".join(lines)
        elif op == "other_notebook":
            data = other
        elif op == "mix_other":
            extra = other.split(b"\n")[1:]
            data = b"\n".join([*lines[: at + 1], *extra, *lines[at + 1 :]])
        elif op == "blank_lines":
            lines.insert(max(1, at), b"   ")
            data = b"\n".join(lines)
        elif op == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif op == "bom":
            data = "\ufeff".encode() + data
        elif op == "header":
            headers = [b"", b"{}", b'{"format": "gemini-magics cassette", "version": 99}', b"[1]", b"\x00"]
            lines[0] = headers[n % len(headers)]
            data = b"\n".join(lines)
        elif op == "empty":
            data = b""
        elif op == "missing":
            return None
        elif op in ("huge_label", "huge_answer", "wrong_type", "wrong_nested", "drop_key"):
            data = _edit_entry(lines, at, op, n)
        elif op == "corrupt":
            spot = pos % (len(data) + 1)
            data = data[:spot] + b'{"]\\'[n % 4 : n % 4 + 1] + data[spot + 1 :]
        elif op == "junk":
            spot = pos % (len(data) + 1)
            data = data[:spot] + bytes((n * 37 + i * 101) % 256 for i in range(1 + n % 40)) + data[spot:]
    return data


def _edit_entry(lines: list[bytes], at: int, op: str, n: int) -> bytes:
    """Change one entry (a line after the header) as parsed JSON; lines that are not JSON are left."""
    index = max(1, at)
    if index >= len(lines):
        return b"\n".join(lines)
    try:
        entry = json.loads(lines[index])
    except ValueError:
        return b"\n".join(lines)
    if not isinstance(entry, dict) or not entry:
        return b"\n".join(lines)
    keys = sorted(entry)
    if op == "huge_label":
        entry[["cell", "model", "recorded"][n % 3]] = "z" * HUGE
    elif op == "huge_answer":
        response = entry.get("response")
        if isinstance(response, dict):
            response["text" if "text" in response else "json" if "json" in response else "events"] = (
                ("big " * (HUGE // 4)) if n % 2 else [{"data": "big " * (HUGE // 4)}]
            )
    elif op == "wrong_type":
        entry[keys[n % len(keys)]] = WEIRD[n % len(WEIRD)]
    elif op == "drop_key":
        entry.pop(keys[n % len(keys)])
    elif op == "wrong_nested":
        inner = entry.get(["response", "request"][n % 2])
        if isinstance(inner, dict) and inner:
            inner[sorted(inner)[n % len(inner)]] = WEIRD[(n // 2) % len(WEIRD)]
            payload = inner.get("json") if isinstance(inner.get("json"), dict) else None
            events = inner.get("events") if isinstance(inner.get("events"), list) else None
            if payload:
                payload[sorted(payload)[n % len(payload)]] = WEIRD[(n // 3) % len(WEIRD)]
            elif events:
                event = events[n % len(events)]
                if isinstance(event, dict) and isinstance(event.get("data"), dict) and event["data"]:
                    event["data"][sorted(event["data"])[n % len(event["data"])]] = WEIRD[n % len(WEIRD)]
    lines[index] = json.dumps(entry, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return b"\n".join(lines)


OPS = st.sampled_from(sorted(FAITHFUL | CHANGING))
PLANS = st.tuples(
    st.lists(st.tuples(OPS, st.integers(0, 10**6), st.integers(0, 10**4)), min_size=1, max_size=3),
    st.sampled_from(["replay", "replay", "replay", "auto", "record"]),
)


def slots(data: bytes | None) -> set[tuple[Any, Any]]:
    """The (key, n) of every entry a cassette file holds (lines that are not entries are skipped)."""
    found = set()
    for line in (data or b"").split(b"\n")[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("n"), int):
            found.add((entry["key"], entry["n"]))
    return found


def readable(path: Path) -> bool:
    try:
        tape.read(path)
    except tape.CassetteError:
        return False
    return True


def answer_of(value: Any) -> Any:
    if isinstance(value, MapResult):
        column = value.frame["answer"] if "answer" in value.frame else [None] * len(value.frame)
        return [v if isinstance(v, str) else None for v in column]
    return getattr(value, "text", None)


def setup(kernel: Any, cassette: Path, mode: str) -> None:
    for line in (f"GeminiMagics.cassette = {str(cassette)!r}", f"GeminiMagics.replay = {mode!r}"):
        kernel.shell.run_line_magic("config", line)


def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"temp": 21, "city": city}


@pytest.fixture
def recording(kernel: Any, tmp_path: Path) -> Recording:
    """The notebook's cells recorded against the emulator, and another notebook's cassette."""
    kernel.shell.user_ns.update(get_weather=get_weather, cities=["Paris", "Oslo"])
    mine, theirs = tmp_path / "nb.gemini.jsonl", tmp_path / "other.gemini.jsonl"
    setup(kernel, theirs, "record")
    for line, body in OTHER_CELLS:
        kernel.cell(line, body)
    setup(kernel, mine, "record")
    answers = [answer_of(kernel.cell(line, body)) for line, body in CELLS]
    assert all(answers) and all(answers[MAP_CELL])
    return Recording(mine.read_bytes(), theirs.read_bytes(), answers)


def names_the_cassette(message: str) -> bool:
    return "cassette" in message or tape.SUFFIX in message


def kind_of(message: str) -> str:
    checks = [
        ("is damaged at line", "one line: the cassette is damaged at line N"),
        ("is not a gemini-magics cassette", "one line: not a cassette"),
        ("newer gemini-magics", "one line: written by a newer version"),
        ("cannot read the cassette", "one line: unreadable cassette"),
        ("not in the cassette", "one line: not in the cassette"),
    ]
    return next((kind for needle, kind in checks if needle in message), "one line: another error")


@pytest.mark.slow
def test_fuzzed_cassettes_replay_or_say_why_in_one_line(
    kernel: Any,
    recording: Recording,
    emulator: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes: Counter[str] = Counter()
    broken: list[str] = []
    numbers = itertools.count()
    cells = cassettes = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(plan=PLANS)
    @example(plan=([("wrong_type", 0, 388)], "auto"))  # an entry's key made "": auto dropped it (--large)
    def case(plan: tuple[list[tuple[str, int, int]], str]) -> None:
        nonlocal cells, cassettes
        cassettes += 1
        ops, mode = plan
        faithful = all(op in FAITHFUL for op, _, _ in ops)
        folder = tmp_path / f"case-{next(numbers)}"
        folder.mkdir()
        path = folder / "nb.gemini.jsonl"
        data = mutate(recording.data, recording.other, ops)
        if data is not None:
            path.write_bytes(data)
        damaged = data is not None and not readable(path)
        setup(kernel, path, mode)
        capsys.readouterr()
        problems: list[str] = []
        for number, (line, body) in enumerate(CELLS):
            cells += 1
            problem = None
            try:
                value = kernel.cell(line, body)
            except UsageError as exc:
                message = str(exc)
                outcomes[kind_of(message)] += 1
                if not message.strip() or "\n" in message.strip():
                    problem = f"a UsageError of several lines: {message!r}"
                elif faithful and mode == "replay" and not names_the_cassette(message):
                    problem = f"an error that does not name the cassette: {message!r}"
            except BaseException as exc:  # anything else is a traceback for the user
                outcomes[f"escaped: {type(exc).__name__}"] += 1
                problem = "".join(traceback.format_exception(exc))
            else:
                problem = answer_problem(value, number, recording, faithful and mode == "replay", outcomes)
            if problem is not None:
                problems.append(f"cell {number} (%%gemini {line}): {problem}")
        shown = capsys.readouterr()
        if TRACEBACK.search(shown.out + shown.err):
            problems.append(f"a traceback in the output:\n{shown.out[-2000:]}\n{shown.err[-2000:]}")
        problems += file_problems(path, data, mode, damaged)
        if os.environ.get("GEMINI_MAGICS_FUZZ_SHOW"):
            print(f"FUZZ {mode} {ops} {problems[:1]}", file=sys.__stdout__)
        if problems:
            broken.append(f"mode={mode} ops={ops}\n→ " + "\n→ ".join(p[:3000] for p in problems))
            raise AssertionError(broken[-1])

    try:
        case()
    finally:
        print(f"fuzzed {cassettes} cassettes ({cells} cells): {dict(outcomes)}")
        record(
            "fuzz_replay",
            {
                "cases": cassettes,
                "cells": cells,
                "max_examples": EXAMPLES,
                "random": RANDOM,
                "failures": len(broken),
                "outcomes": {k: v for k, v in outcomes.items() if v},
            },
        )
    assert cassettes >= EXAMPLES * 0.9


def answer_problem(
    value: Any, number: int, recording: Recording, exact: bool, outcomes: Counter[str]
) -> str | None:
    """A cell's answer: the recorded one when ``exact``; a ``--map`` row an answer or a one-line error."""
    if number == MAP_CELL:
        if not isinstance(value, MapResult):
            return f"a --map cell gave {type(value).__name__}"
        frame = value.frame
        if len(frame) != 2 or list(frame["text"]) != ["Paris", "Oslo"]:
            return f"the --map rows are not the input's: {frame.to_dict()}"
        for answer, error, recorded in zip(
            answer_of(value), frame["error"], recording.answers[MAP_CELL], strict=True
        ):
            if isinstance(error, str):
                if "\n" in error.strip() or isinstance(answer, str):
                    return f"a --map row error that is not one line (or beside an answer): {error!r}"
                if exact and not names_the_cassette(error):
                    return f"a --map row error that does not name the cassette: {error!r}"
                outcomes["--map row: one-line error"] += 1
            elif not isinstance(answer, str):
                return "a --map row with neither answer nor error"
            elif exact and answer != recorded:
                return f"a --map row replayed {answer[:200]!r}, recorded {recorded[:200]!r}"
            else:
                outcomes["--map row: answer"] += 1
        return None
    text = answer_of(value)
    if not isinstance(text, str):
        return f"the cell gave {type(value).__name__}"
    if exact and text != recording.answers[number]:
        return f"replayed {text[:200]!r}, recorded {recording.answers[number][:200]!r}"
    outcomes["the recorded answer" if text == recording.answers[number] else "an answer (changed entry)"] += 1
    return None


def file_problems(path: Path, data: bytes | None, mode: str, damaged: bool) -> list[str]:
    """The user's cassette after the cells: never lost, never silently overwritten."""
    problems = []
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".cassette-")]
    if leftovers:
        problems.append(f"temporary files left beside the cassette: {leftovers}")
    now = path.read_bytes() if path.exists() else None
    if data is not None and now is None:
        problems.append("the cassette file is gone")
    elif mode == "replay" and now != data:
        problems.append("replay changed the cassette file")
    elif damaged and now != data:
        problems.append(f"a damaged cassette was overwritten in {mode} mode")
    elif data is not None and not damaged and not slots(data) <= slots(now):
        problems.append(f"{mode} dropped entries the cassette held: {sorted(slots(data) - slots(now))[:3]}")
    return problems


def test_an_entry_whose_answer_has_the_wrong_shape_is_refused_with_its_line(tmp_path: Path) -> None:
    """What the fuzzing found: an entry whose recorded JSON answer was a list reached the SDK, and the cell
    raised AttributeError. Such an entry is a damaged line now, refused in one line."""
    entry = {
        "key": "k",
        "n": 0,
        "kind": "call",
        "seq": 0,
        "request": {},
        "response": {"status": 200, "json": []},
    }
    path = tmp_path / "nb.gemini.jsonl"
    path.write_text(json.dumps({"format": tape.FORMAT, "version": 1}) + "\n" + json.dumps(entry) + "\n")
    with pytest.raises(tape.CassetteError, match="damaged at line 2"):
        tape.read(path)
    entry["response"] = {"status": 200, "json": {"id": "x"}}
    path.write_text(json.dumps({"format": tape.FORMAT, "version": 1}) + "\n" + json.dumps(entry) + "\n")
    assert len(tape.read(path)) == 1
