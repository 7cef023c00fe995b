"""A ``--map`` job whose kernel is killed (SIGKILL, nothing flushed) loses only the rows in flight: the
same cell run in a new kernel sends exactly the rows that were not answered — counted on the emulator.

A real ipykernel process started by jupyter_client as the Jupyter server starts it (``JPY_SESSION_NAME``
names the notebook, which is what the map store's jobs are keyed by), pointed at the session's emulator.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from real_kernel import Kernel
from test_replay_notebooks import environment

from gemini_magics.emulator import EmulatorServer

ROWS = 40
SETUP = (
    f"%load_ext gemini_magics\nitems = [f'item {{i}} [emulator: rate=40, deltas=12]' for i in range({ROWS})]"
)
CELL = "%%gemini out --map items --store --concurrency 4{flags}\nSay {{text}}"


@pytest.mark.slow
def test_a_killed_kernel_loses_only_the_rows_in_flight(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = environment(tmp_path, emulator.base_url)
    env["JPY_SESSION_NAME"] = str(tmp_path / "reviews.ipynb")  # what the Jupyter server tells its kernels
    first = Kernel(env, tmp_path)
    try:
        first.run(SETUP)
        first.run(CELL.format(flags=" --background"))
        deadline = time.monotonic() + 60
        while int(first.run("print(out.snapshot().done)").strip()) < 10:
            assert time.monotonic() < deadline, "the job did not get going"
            time.sleep(0.1)
    finally:
        first.kill()
    time.sleep(1.0)  # requests the dead kernel had in flight end on the service's side
    before = len(emulator.emulator.store)
    second = Kernel(env, tmp_path)
    try:
        second.run(SETUP)
        shown = second.run(CELL.format(flags=""))
        assert f"{ROWS} answers, 0 errors" in shown, shown
        found = re.search(r"(\d+) rows answered by an earlier run", shown)
        assert found, shown
        kept = int(found.group(1))
        assert 10 <= kept < ROWS, shown
        assert len(emulator.emulator.store) - before == ROWS - kept  # only the missing rows were sent
        assert second.run("print(out['error'].isna().all(), len(out))").split() == ["True", str(ROWS)]
    finally:
        second.stop()
