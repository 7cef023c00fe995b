"""``%%gemini VAR --map DATA`` through real cells against the emulator: one request per row, typed columns
with ``--schema``, throttling survived, nothing lost or sent twice, Cancel, ``--background``, the cost gate.

Rows are sent with ``--store`` where a test counts them: each answered row is then exactly one interaction
in the emulator's store (a throttled attempt is refused before the service admits it).
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
from shell_checks import failed

from gemini_magics.emulator import EmulatorServer
from gemini_magics.mapping import MapResult
from gemini_magics.mapping.job import MapJob

SETUP = """
import enum, pydantic
import pandas as pd

class Mood(enum.Enum):
    GOOD = "good"
    BAD = "bad"

class Verdict(pydantic.BaseModel):
    label: str
    score: int
"""


@pytest.fixture
def mk(kernel: Any) -> Any:
    kernel.run(SETUP)
    kernel.run("%config GeminiMagics.map_concurrency = 16")
    return kernel


def value(run: Any) -> Any:
    assert run.success, f"cell failed: {run.error_in_exec!r}"
    return run.result


def test_a_thousand_rows_with_a_schema_become_typed_columns(mk: Any) -> None:
    mk.run("reviews = pd.DataFrame({'product': [f'p{i}' for i in range(1000)], 'text': ['fine'] * 1000})")
    result = value(mk.run("%%gemini verdicts --map reviews --schema Verdict\nClassify {product}: {text}"))
    assert isinstance(result, MapResult) and result.summary == "1,000 answers, 0 errors"
    frame = mk.shell.user_ns["verdicts"]
    assert list(frame.columns) == ["product", "text", "label", "score", "error"]
    assert len(frame) == 1000 and frame["error"].isna().all()
    assert frame["score"].dtype.kind == "i" and frame["product"].tolist() == [f"p{i}" for i in range(1000)]
    data, _ = result._repr_mimebundle_()
    assert data["text/plain"].startswith("1,000 answers, 0 errors")


def test_a_throttling_storm_loses_nothing_and_sends_nothing_twice(mk: Any, emulator: EmulatorServer) -> None:
    texts = []
    for i in range(120):
        if i % 5 == 0:
            texts.append(f"row {i} [emulator: error=429x2, retry_after=0.05]")
        elif i % 7 == 0:
            texts.append(f"row {i} [emulator: error=503x1]")
        elif i in (11, 13):
            texts.append(f"row {i} [emulator: error=429x99, retry_after=0.01]")  # never gets through
        else:
            texts.append(f"row {i}")
    mk.shell.user_ns["texts"] = texts
    before = len(emulator.emulator.store)
    result = value(mk.run("%%gemini out --map texts --store\nEcho: {text}"))
    frame = mk.shell.user_ns["out"]
    assert result.summary == "118 answers, 2 errors"
    assert len(frame) == 120 and frame["text"].tolist() == texts
    errors = frame[frame["error"].notna()]
    assert errors.index.tolist() == [11, 13] and errors["error"].str.contains("429").all()
    assert "\n" not in errors["error"].iloc[0]
    assert len(emulator.emulator.store) - before == 118  # every answered row sent (and admitted) once
    assert result.job.snapshot().throttled > 0


def test_a_rerun_sends_only_the_rows_that_are_missing(mk: Any, emulator: EmulatorServer) -> None:
    mk.run("items = [f'item {i} [emulator: rate=200, deltas=20]' for i in range(60)]")
    handle = value(mk.run("%%gemini job --map items --store --background --concurrency 4\nSay {text}"))
    assert isinstance(handle, MapJob)
    while handle.snapshot().done < 10:
        time.sleep(0.02)
    handle.cancel()
    partial = handle.wait(30)
    kept = int(partial["error"].isna().sum())
    assert 10 <= kept < 60 and partial["error"].dropna().str.startswith("not sent").all()
    before = len(emulator.emulator.store)
    mk.restart()  # a new kernel: only the map store remembers
    mk.run(SETUP)
    mk.run("items = [f'item {i} [emulator: rate=200, deltas=20]' for i in range(60)]")
    result = value(mk.run("%%gemini job --map items --store --concurrency 8\nSay {text}"))
    assert result.summary == "60 answers, 0 errors"
    assert len(emulator.emulator.store) - before == 60 - kept  # only the missing rows were sent
    assert any(f"{kept} rows answered by an earlier run" in n for n in result.notes)
    fresh = value(mk.run("%%gemini job --map items --store --fresh --limit 3\nSay {text}"))
    assert fresh.summary == "3 answers, 0 errors" and len(emulator.emulator.store) - before == 63 - kept


def test_background_returns_a_handle_and_the_kernel_stays_free(mk: Any) -> None:
    mk.run("words = ['alpha', 'beta', 'gamma']")
    handle = value(mk.run("%%gemini w --map words --background --into reply\nDefine {text}"))
    assert isinstance(handle, MapJob) and mk.shell.user_ns["w"] is handle
    frame = handle.wait(30)
    assert list(frame.columns) == ["text", "reply", "error"] and frame["reply"].str.len().gt(0).all()
    assert handle.result is frame and handle.state == "completed"


def test_what_can_be_mapped(mk: Any) -> None:
    mk.run("s = pd.Series(['x', 'y'], name='word', index=['a', 'b'])")
    frame = value(mk.run("%%gemini f --map s\nDefine {word}")).frame
    assert frame.index.tolist() == ["a", "b"] and list(frame.columns) == ["word", "answer", "error"]
    mk.run("people = [{'name': 'Ada', 'year': 1815}, {'name': 'Alan', 'year': 1912}]")
    frame = value(mk.run("%%gemini g --map people --sample 1\nWho was {name} ({year})?")).frame
    assert len(frame) == 1 and {"name", "year", "answer"} <= set(frame.columns)


def test_the_cost_gate_and_bad_input_are_one_line(mk: Any, capsys: pytest.CaptureFixture[str]) -> None:
    mk.run("big = ['word ' * 2000] * 300")
    message = failed(mk.run("%%gemini --map big -m gemini-3-pro-preview\nSummarise {text}"), capsys)
    assert "--map would send 300 rows, about" in message and "add --yes" in message
    mk.run("%config GeminiMagics.map_confirm_over = 100.0")
    assert "would send" not in str(mk.run("%%gemini --map big --limit 2\nSummarise {text}").error_in_exec)
    failed(mk.run("%%gemini --map nothing\nHi {text}"), capsys, "no such variable")
    mk.run("n = 42")
    failed(mk.run("%%gemini --map n\nHi"), capsys, "cannot be mapped")
    failed(mk.run("%%gemini --into x\nHi"), capsys, "--into applies to --map")
    failed(mk.run("%%gemini --map big --research\nHi"), capsys, "--research does not apply")
    failed(mk.run("%%gemini --map big\nHi {missing}"), capsys, "row 0")
    mk.run("bad = [1, 'a']")
    failed(mk.run("%%gemini --map bad\nHi"), capsys, "only strings or only dicts")


def test_map_rows_are_recorded_and_replayed(
    mk: Any, tmp_path: Any, shell: Any, emulator: EmulatorServer
) -> None:
    mk.run(f"%config GeminiMagics.cassette = {str(tmp_path / 'nb.gemini.jsonl')!r}")
    mk.run("%config GeminiMagics.replay = 'record'")
    mk.run("cities = ['Paris', 'Oslo', 'Lima']")
    live = value(mk.run("%%gemini --map cities --schema Verdict\nRate {text}")).frame
    mk.run("%config GeminiMagics.replay = 'replay'")
    mk.run(f"%config GeminiMagics.chain_db = {str(tmp_path / 'other.sqlite3')!r}")  # no map store to reuse
    mk.run(SETUP)
    replayed = value(mk.run("%%gemini --map cities --schema Verdict\nRate {text}")).frame
    pd.testing.assert_frame_equal(live, replayed)


def test_the_summary_table_shows_values_as_literal_text(mk: Any) -> None:
    mk.run("odd = ['<img src=x onerror=alert(1)> | *loud* [link](javascript:x)']")
    result = value(mk.run("%%gemini t --map odd\nRepeat {text}"))
    markdown = result._repr_mimebundle_()[0]["text/markdown"]
    table = markdown[markdown.index("|") :]
    assert table.count("<img") == table.count("\\<img") == 1  # every < escaped: shown, not parsed
    assert "\\| \\*loud\\*" in table and table.count("](javascript") == table.count("\\](javascript") == 1


def test_jobs_are_listed_by_tasks_and_a_dead_kernels_running_job_reads_interrupted(
    mk: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3
    import subprocess
    import sys

    from gemini_magics import _registered
    from gemini_magics.mapping.store import MapStore

    mk.run("words = ['alpha', 'beta']")
    value(mk.run("%%gemini w --map words\nDefine {text}"))
    handle = value(mk.run("%%gemini v --map words --background\nSpell {text}"))
    handle.wait(30)
    path = _registered.runner().store.path
    maps = MapStore(path)
    try:
        jobs = [info for info in maps.jobs(mk.notebook) if info.kind == "map"]
        assert [j.state for j in jobs] == ["completed", "completed"] and all(j.owner_alive for j in jobs)
        assert all(j.finished and j.finished >= j.started and j.rows == 2 and j.model for j in jobs)
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        with sqlite3.connect(path) as raw:  # as a kernel killed mid-job leaves its row
            raw.execute(
                "UPDATE map_jobs SET state = 'running', pid = ? WHERE job = ?",
                (int(gone.stdout), jobs[0].job),
            )
        assert [j.owner_alive for j in maps.jobs(mk.notebook)] == [False, True]
    finally:
        maps.close()
    capsys.readouterr()
    mk.run("%gemini tasks")
    shown = capsys.readouterr().out
    assert "Map jobs" in shown and "| interrupted |" in shown and "| completed |" in shown
    assert shown.index("| completed |") < shown.index("| interrupted |")  # newest first


def test_input_columns_named_error_or_answer_keep_their_values(mk: Any) -> None:
    """What the fuzzing found: an input column named ``error`` got a second ``error`` column and its values
    were overwritten by the row errors (and ``answer_answer`` likewise). Ours are renamed instead."""
    mk.run("rows = [{'text': 'hi', 'error': 'theirs', 'answer': 'a', 'answer_answer': 'b'}]")
    frame = value(mk.run("%%gemini --map rows\nEcho {text}")).frame
    assert list(frame.columns) == [
        "text",
        "error",
        "answer",
        "answer_answer",
        "answer_answer_answer",
        "error_answer",
    ]
    assert frame.iloc[0][["error", "answer", "answer_answer"]].tolist() == ["theirs", "a", "b"]
    assert frame["error_answer"].isna().all() and frame["answer_answer_answer"].str.len().gt(0).all()


def test_a_second_recorded_map_job_does_not_reuse_the_first_jobs_connections(mk: Any, tmp_path: Any) -> None:
    """What the replay fuzzing found: recording (``auto``/``record``), each ``--map`` job runs its own event
    loop, but the recording transport kept one connection pool, so the next job's rows met connections of a
    closed loop ("Event loop is closed") and were retried or failed. Each loop has its own pool now."""
    mk.run(f"%config GeminiMagics.cassette = {str(tmp_path / 'nb.gemini.jsonl')!r}")
    mk.run("%config GeminiMagics.replay = 'record'")
    mk.run("cities = ['Paris', 'Oslo', 'Lima']")
    for body in ("Rate {text}", "Describe {text}"):
        result = value(mk.run(f"%%gemini --map cities\n{body}"))
        assert result.summary == "3 answers, 0 errors"
        assert [o.attempts for o in result.job.outcomes.values()] == [1, 1, 1]


def test_a_row_with_a_lone_surrogate_is_a_row_not_a_traceback(mk: Any) -> None:
    """What the map fuzzing found: a lone surrogate in a row made the row's key (its SHA-256) raise
    UnicodeEncodeError out of the cell. The row now ends as an answer or a one-line error."""
    mk.run("odd = ['\\ud800', 'fine']")
    frame = value(mk.run("%%gemini --map odd\nEcho: {text}")).frame
    assert len(frame) == 2 and frame["text"].tolist() == ["\ud800", "fine"]
    assert all(
        isinstance(a, str) != isinstance(e, str) for a, e in zip(frame["answer"], frame["error"], strict=True)
    )
