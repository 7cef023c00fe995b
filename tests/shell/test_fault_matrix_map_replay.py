"""The fault matrix's ``--map`` and ``replay`` columns: emulator faults under a map job, damaged cassettes
under replay, through real cells.

A ``--map`` cell *survived* a fault when it gave a DataFrame with one row per input row, in order, each an
answer or a one-line error (or the cell failed in one ``UsageError`` line), every answered row was
persisted in the job store, and running the cell again sent none of them. A replayed cell *survived* a
damaged cassette when it failed in one line naming the cassette and the file was left byte for byte.
The rows join ``test_fault_matrix.py``'s table in ``docs/reliability.md`` (``reliability_figures``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from reliability_figures import record

from gemini_magics.emulator import EmulatorServer
from gemini_magics.mapping import MapResult
from gemini_magics.mapping.store import MapStore

TRACEBACK = re.compile(r"Traceback|^\s*File \"", re.MULTILINE)


@dataclass
class MapFault:
    name: str  # as in test_fault_matrix.py, so the map column joins that fault's row
    directives: str = ""
    refused_key: bool = False


MAP_FAULTS = [
    MapFault("429 with Retry-After: 1 (retries = 1)", "error=429x1, retry_after=1"),
    MapFault("503 once (retries = 1)", "error=503x1"),
    MapFault("stream cut after 3 events", "cut=3"),
    MapFault("the model fails", "fail=the model gave up"),
    MapFault("refused API key", refused_key=True),
]
ROWS = 4


def map_cell(kernel: Any, fault: MapFault, capsys: pytest.CaptureFixture[str]) -> tuple[bool, str]:
    """(survived, outcome) of one ``--map`` job whose first two rows carry the fault."""
    texts = [
        f"row {i}" + (f" [emulator: {fault.directives}]" if fault.directives and i < 2 else "")
        for i in range(ROWS)
    ]
    kernel.shell.user_ns["texts"] = texts
    capsys.readouterr()
    try:
        result = kernel.cell("out --map texts --store", "Echo: {text}")
    except UsageError as exc:
        message = str(exc)
        return "\n" not in message.strip(), "one line" if "\n" not in message.strip() else "several lines"
    except BaseException as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if TRACEBACK.search("".join(capsys.readouterr())):
        return False, "a traceback in the output"
    if not isinstance(result, MapResult):
        return False, f"gave {type(result).__name__}"
    frame = result.frame
    if frame["text"].tolist() != texts:
        return False, "rows lost or out of order"
    errors = frame["error"]
    answered = [i for i in range(ROWS) if not isinstance(errors.iloc[i], str)]
    if any("\n" in e.strip() for e in errors.dropna()) or (
        (answered and "answer" not in frame)
        or any(not isinstance(frame["answer"].iloc[i], str) for i in answered)
    ):
        return False, "a row with neither answer nor a one-line error"
    store = MapStore(kernel.db)
    try:
        persisted = len(store.done(result.job.key))
    finally:
        store.close()
    if persisted != len(answered):
        return False, f"{persisted} rows persisted for {len(answered)} answers"
    again = kernel.cell("out --map texts --store", "Echo: {text}")
    if any(not again.job.outcomes[i].cached for i in answered):
        return False, "the re-run sent finished rows again"
    said = f"{len(answered)} answers" + (
        f", {ROWS - len(answered)} one-line row errors" if len(answered) < ROWS else ""
    )
    return True, f"{said}; rows persisted, none re-sent"


def replay_cell(
    kernel: Any, cassette: Path, data: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[bool, str]:
    """(survived, outcome) of replaying the notebook's first cell from ``data`` written to ``cassette``."""
    cassette.write_bytes(data)
    for line in (f"GeminiMagics.cassette = {str(cassette)!r}", "GeminiMagics.replay = 'replay'"):
        kernel.shell.run_line_magic("config", line)
    capsys.readouterr()
    try:
        kernel.cell("--new", "Name three rivers")
    except UsageError as exc:
        message = str(exc)
        if "\n" in message.strip() or ("cassette" not in message and cassette.name not in message):
            return False, f"not one line naming the cassette: {message[:200]!r}"
        outcome = (
            "one line (" + ("damaged at line N" if "damaged" in message else "not in the cassette") + ")"
        )
    except BaseException as exc:
        return False, f"{type(exc).__name__}: {exc}"
    else:
        return False, "an answer from a cassette that does not hold it"
    if TRACEBACK.search("".join(capsys.readouterr())):
        return False, "a traceback in the output"
    if cassette.read_bytes() != data:
        return False, "the cassette file changed"
    return True, f"{outcome}; file intact"


@pytest.mark.slow
def test_map_and_replay_faults(
    make_kernel: Any,
    make_emulator: Callable[..., EmulatorServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    strict = make_emulator(api_keys=frozenset({"the-right-key"}))
    rows, problems = [], []
    for fault in MAP_FAULTS:
        kernel = make_kernel(
            f"matrix-map-{uuid.uuid4().hex[:6]}.ipynb",
            base_url=strict.base_url if fault.refused_key else None,
        )
        survived, outcome = map_cell(kernel, fault, capsys)
        rows.append({"fault": fault.name, "cells": {"--map": {"outcome": outcome, "survived": survived}}})
        if not survived:
            problems.append(f"{fault.name} × --map: {outcome}")
        kernel.shell.run_line_magic("unload_ext", "gemini_magics")

    kernel = make_kernel("matrix-replay.ipynb")
    recorded: dict[str, bytes] = {}
    for name, cells in (
        ("mine", [("--new", "Name three rivers"), ("", "Which is longest?")]),
        ("other", [("--new", "Tell me a joke")]),
    ):
        path = tmp_path / f"{name}.gemini.jsonl"
        for line in (f"GeminiMagics.cassette = {str(path)!r}", "GeminiMagics.replay = 'record'"):
            kernel.shell.run_line_magic("config", line)
        for line, body in cells:
            kernel.cell(line, body)
        recorded[name] = path.read_bytes()
    damaged = {
        "truncated cassette": recorded["mine"][: len(recorded["mine"]) * 2 // 3],
        "another notebook's cassette": recorded["other"],
    }
    for name, data in damaged.items():
        survived, outcome = replay_cell(
            kernel, tmp_path / f"{uuid.uuid4().hex[:6]}.gemini.jsonl", data, capsys
        )
        rows.append({"fault": name, "cells": {"replay": {"outcome": outcome, "survived": survived}}})
        if not survived:
            problems.append(f"{name} × replay: {outcome}")
    record("fault_matrix_map_replay", {"modes": ["--map", "replay"], "rows": rows})
    assert not problems, "\n".join(problems)
