"""Runs whose kernel is gone are followed to their end by the server alone, and their outcome is written to
the stores: a real ipykernel (started as the Jupyter server starts one: ``JPY_SESSION_NAME`` names the
notebook, the server's environment carries ``$GEMINI_MAGICS_EMULATOR_URL``) starts the run on the shared
emulator and goes away; then the API, the chain store and ``%gemini tasks`` all say how it ended."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output
from real_kernel import Kernel
from server_testing import get_json, run_of, wait_for

import gemini_magics
from gemini_magics.chain import ChainStore
from gemini_magics.mapping.store import MapStore

pytestmark = pytest.mark.slow


def kernel_for(root: Path, name: str) -> Kernel:
    env = dict(os.environ)  # the server's: the chain store, and the shared emulator's URL
    env["JPY_SESSION_NAME"] = str(root / name)  # what the Jupyter server tells the notebook's kernel
    kernel = Kernel(env, root)
    assert (
        kernel.printed("import gemini_magics; print(gemini_magics.__file__)").strip()
        == gemini_magics.__file__
    )
    kernel.run("%load_ext gemini_magics")
    return kernel


async def until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_research_run_whose_kernel_was_shut_down_is_followed_to_completed_by_the_server(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, server_env: Path, notebook: Any
) -> None:
    assert os.environ["GEMINI_MAGICS_EMULATOR_URL"]  # the extension started the server's emulator
    store = ChainStore(server_env)
    kernel = kernel_for(jp_root_dir, "reports.ipynb")
    try:
        kernel.run("%%gemini --research\nVolcanoes of Iceland [emulator: duration=5]")
        await until(lambda: bool(store.pending_background()))
        [(key, turn)] = store.pending_background()
        assert key == f"notebook:{jp_root_dir / 'reports.ipynb'}"
        answer = await wait_for(
            jp_fetch, lambda a: (run_of(a, turn.interaction_id) or {}).get("status") is not None
        )
        run = run_of(answer, turn.interaction_id)
        assert run["followed_by"] == "kernel" and run["path"] == "reports.ipynb"  # type: ignore[index]
    finally:
        kernel.client.stop_channels()
        kernel.manager.shutdown_kernel()  # a graceful shutdown: the kernel stops following, the run goes on
    assert store.find(turn.interaction_id)[2].status == "in_progress"  # type: ignore[index]

    answer = await wait_for(
        jp_fetch, lambda a: (run_of(a, turn.interaction_id) or {}).get("followed_by") == "server", timeout=20
    )
    assert run_of(answer, turn.interaction_id)["status"] == "in_progress"  # type: ignore[index]
    answer = await wait_for(
        jp_fetch, lambda a: (run_of(a, turn.interaction_id) or {}).get("status") == "completed", timeout=60
    )
    run = run_of(answer, turn.interaction_id)
    assert run["followed_by"] is None and run["has_report"] and run["thought"]  # type: ignore[index]

    # The chain store holds the outcome, as the kernel would have written it: the report is the chain's head.
    await until(lambda: store.find(turn.interaction_id)[2].status == "completed")  # type: ignore[index]
    settled = store.find(turn.interaction_id)[2]  # type: ignore[index]
    assert settled.answer and settled.usage and settled.finished is not None
    assert store.chain(key, "default").head == turn.interaction_id
    report = await get_json(jp_fetch, "runs", turn.interaction_id, "report")
    assert settled.answer.strip()[:40] in report["markdown"]

    # The notebook opened again (a new kernel) lists it completed too.
    nb = notebook(key)
    with capture_output() as shown:
        nb.shell.run_line_magic("gemini", "tasks")
    text = "".join(output.data.get("text/plain", "") for output in shown.outputs)
    shown_id = turn.interaction_id.replace("_", "\\_")  # Markdown-escaped
    assert f"| completed | {run['agent'][:14]}" in text and shown_id in text and "Following again" not in text


async def test_a_batch_whose_kernel_was_killed_is_collected_by_the_server(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, server_env: Path, notebook: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("GEMINI_EMULATOR_BATCH_RATE", "2")  # six rows: three seconds on the service
    maps = MapStore(server_env)
    kernel = kernel_for(jp_root_dir, "batch.ipynb")
    try:
        kernel.run("items = [f'item {i}' for i in range(6)]")
        kernel.run("%%gemini out --map items --batch\nSay {text}")
        await until(lambda: any(info.kind == "batch" for info in maps.jobs()))
    finally:
        kernel.kill()  # SIGKILL: nothing flushed, nobody follows the batch any more
    [info] = maps.jobs()
    assert info.state == "running" and info.owner_alive is False and maps.count(info.job) == 0

    answer = await wait_for(
        jp_fetch, lambda a: (run_of(a, f"batch-{info.job}") or {}).get("status") == "completed", timeout=60
    )
    run = run_of(answer, f"batch-{info.job}")
    assert run["kind"] == "batch" and run["path"] == "batch.ipynb" and run["finished"]  # type: ignore[index]
    assert maps.count(info.job) == 6 and maps.jobs()[0].state == "succeeded"
    summary = await get_json(jp_fetch, "runs", f"batch-{info.job}", "report")
    assert "6 of 6 rows answered" in summary["markdown"]

    # The cell run again in a new kernel gets every row from the store: nothing is submitted again.
    nb = notebook(f"notebook:{jp_root_dir / 'batch.ipynb'}")
    nb.shell.user_ns["items"] = [f"item {i}" for i in range(6)]
    handle = nb.cell("out --map items --batch", "Say {text}\n")  # the body as the kernel's cell had it
    frame = handle.wait(30)
    assert handle.summary() == "6 answers, 0 errors" and frame["answer"].str.len().gt(0).all()
    assert len(maps.jobs()) == 1
