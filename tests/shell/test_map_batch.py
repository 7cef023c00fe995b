"""``%%gemini VAR --map DATA --batch`` through real cells against the emulator's Batch API routes: the rows
go as one batch job (google-genai's ``client.batches``), the cell returns at once, VAR becomes the
DataFrame when the job ends, a kernel restart loses nothing (the job's name is stored), Cancel cancels the
job on the service. Jobs are counted on the emulator with the real SDK's ``batches.list``.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
from emulator_testing import sdk_client
from shell_checks import failed

from gemini_magics.emulator import EmulatorServer
from gemini_magics.mapping.job import MapJob

SETUP = """
import pydantic
import pandas as pd

class Verdict(pydantic.BaseModel):
    label: str
    score: int
"""


@pytest.fixture
def mk(kernel: Any) -> Any:
    kernel.run(SETUP)
    return kernel


def jobs(emulator: EmulatorServer) -> list[Any]:
    client = sdk_client(emulator.base_url)  # held while the pager fetches its pages
    return list(client.batches.list(config={"page_size": 100}))


def handle_of(run: Any) -> MapJob:
    assert run.success, f"cell failed: {run.error_in_exec!r}"
    assert isinstance(run.result, MapJob)
    return run.result


def test_a_batch_returns_at_once_and_fills_the_dataframe_when_it_ends(
    mk: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(jobs(emulator))
    mk.run("reviews = pd.DataFrame({'product': [f'p{i}' for i in range(30)], 'text': ['fine'] * 30})")
    started = time.monotonic()
    handle = handle_of(
        mk.run("%%gemini verdicts --map reviews --schema Verdict --batch\nClassify {product}: {text}")
    )
    assert time.monotonic() - started < 5 and mk.shell.user_ns["verdicts"] is handle
    frame = handle.wait(60)
    assert handle.state == "completed" and handle.summary() == "30 answers, 0 errors"
    assert mk.shell.user_ns["verdicts"] is frame  # VAR became the DataFrame
    assert list(frame.columns) == ["product", "text", "label", "score", "error"]
    assert frame["score"].dtype.kind == "i" and frame["product"].tolist() == [f"p{i}" for i in range(30)]
    assert len(jobs(emulator)) == before + 1  # one batch job for the 30 rows
    assert handle.snapshot().usd > 0
    capsys.readouterr()
    mk.run("%gemini tasks")
    shown = capsys.readouterr().out
    assert "Batch jobs" in shown and "| 30 |" in shown and "succeeded" in shown
    again = mk.run("%%gemini verdicts --map reviews --schema Verdict --batch\nClassify {product}: {text}")
    assert again.success and len(jobs(emulator)) == before + 1  # every row was kept: nothing submitted
    pd.testing.assert_frame_equal(handle_of(again).wait(30), frame)


def test_a_kernel_restart_while_the_batch_runs_loses_nothing(mk: Any, emulator: EmulatorServer) -> None:
    before = len(jobs(emulator))
    mk.run("items = [f'item {i}' for i in range(60)]")
    handle = handle_of(mk.run("%%gemini out --map items --batch\nSay {text}"))
    while handle.engine.name is None:  # submitted: the job's name is stored
        time.sleep(0.02)
    assert not handle.done
    mk.restart()  # the kernel is gone; the batch runs on at the service
    mk.run(SETUP)
    mk.run("items = [f'item {i}' for i in range(60)]")
    followed = handle_of(mk.run("%%gemini out --map items --batch\nSay {text}"))
    frame = followed.wait(60)
    assert followed.engine.followed and followed.engine.name == handle.engine.name
    assert len(jobs(emulator)) == before + 1  # followed, not submitted again
    assert followed.summary() == "60 answers, 0 errors" and frame["answer"].str.len().gt(0).all()


def test_a_failing_request_is_its_rows_error_and_cancel_cancels_the_job(
    mk: Any, emulator: EmulatorServer
) -> None:
    mk.run("rows = ['fine', 'broken [emulator: error=500]', 'also fine']")
    frame = handle_of(mk.run("%%gemini r --map rows --batch\nEcho {text}")).wait(60)
    assert frame["error"].isna().tolist() == [True, False, True]
    assert "\n" not in frame["error"].iloc[1] and "internal error" in frame["error"].iloc[1]
    mk.run("many = [f'row {i}' for i in range(400)]")
    handle = handle_of(mk.run("%%gemini m --map many --batch\nEcho {text}"))
    while handle.engine.name is None:
        time.sleep(0.02)
    handle.cancel()
    partial = handle.wait(60)
    assert handle.state == "cancelled" and partial["error"].notna().any()
    [job] = [j for j in jobs(emulator) if j.name == handle.engine.name]
    assert job.state.name == "JOB_STATE_CANCELLED"


def test_what_a_batch_refuses_is_one_line(mk: Any, capsys: pytest.CaptureFixture[str]) -> None:
    mk.run("rows = ['a', 'b']")
    failed(mk.run("%%gemini --map rows --batch --tools google_search\nHi {text}"), capsys, "--tools, --mcp")
    failed(mk.run("%%gemini --map rows --batch --concurrency 4\nHi {text}"), capsys, "--concurrency does not")
    failed(mk.run("%%gemini --batch\nHi"), capsys, "--batch applies to --map")


def test_a_batch_is_recorded_and_replayed(mk: Any, tmp_path: Any) -> None:
    mk.run(f"%config GeminiMagics.cassette = {str(tmp_path / 'nb.gemini.jsonl')!r}")
    mk.run("%config GeminiMagics.replay = 'record'")
    mk.run("cities = ['Paris', 'Oslo', 'Lima']")
    live = handle_of(mk.run("%%gemini v --map cities --schema Verdict --batch\nRate {text}")).wait(60)
    mk.run("%config GeminiMagics.replay = 'replay'")
    mk.run(f"%config GeminiMagics.chain_db = {str(tmp_path / 'other.sqlite3')!r}")  # no stored rows or job
    mk.run(SETUP)
    mk.run("cities = ['Paris', 'Oslo', 'Lima']")
    replayed = handle_of(mk.run("%%gemini v --map cities --schema Verdict --batch\nRate {text}")).wait(60)
    pd.testing.assert_frame_equal(live, replayed)


def test_a_batch_the_service_refuses_fails_in_one_line_and_keeps_nothing_half_done(mk: Any) -> None:
    mk.run("rows = ['a', 'b']")
    handle = handle_of(mk.run("%%gemini out --map rows --batch -m gemini-9-nonexistent --yes\nHi {text}"))
    frame = handle.wait(30)
    assert handle.state == "failed" and handle.error is not None
    assert handle.error.startswith("the batch failed: ") and "\n" not in handle.error, handle.error
    assert "Traceback" not in handle.error and "not found" in handle.error.lower(), handle.error
    assert frame["error"].notna().all() and mk.shell.user_ns["out"] is frame
