"""``%gemini fix`` in a real ipykernel: after a real ZeroDivisionError, the execute reply carries a
``set_next_input`` payload with the corrected cell and ``replace: False`` — what JupyterLab turns into a new
cell below, not run — and the shown answer has the code in a fenced block (what a runner that ignores
payloads, nbclient or papermill, keeps).

The kernel is started by jupyter_client as the Jupyter server starts it, pointed at the session's emulator
by an IPython profile (``environment`` of test_replay_notebooks.py), with no notebook path: the kernel cannot
know whether its client adds cells, and the note under the answer says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from real_kernel import Kernel
from test_replay_notebooks import environment

from gemini_magics.emulator import EmulatorServer

GUARDED = 'ratio = (scores["alice"] / scores["bob"] if scores["bob"] != 0 else float("nan"))\nprint(ratio)'


@pytest.mark.slow
def test_fix_in_a_kernel_sends_the_corrected_cell_as_a_set_next_input_payload(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    kernel = Kernel(environment(tmp_path, emulator.base_url), tmp_path)
    try:
        assert kernel.execute("%load_ext gemini_magics")[0]["status"] == "ok"
        assert kernel.execute('scores = {"alice": 3, "bob": 0}')[0]["status"] == "ok"
        failed, _ = kernel.execute('ratio = scores["alice"] / scores["bob"]\nprint(ratio)')
        assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"

        reply, messages = kernel.execute("%gemini fix")
        assert reply["status"] == "ok", reply
        assert reply["payload"] == [{"source": "set_next_input", "text": GUARDED, "replace": False}]
        [shown] = [m["content"]["data"] for m in messages if m["msg_type"] == "execute_result"]
        assert f"```python\n{GUARDED}\n```" in shown["text/markdown"]  # kept where payloads are ignored
        assert "offered as a new cell below, not run" in shown["text/plain"]
        assert "ZeroDivisionError" in shown["text/plain"]

        # The fix ran nothing; the offered cell runs and gives nan.
        assert kernel.printed("print('ratio' in globals())") == "False\n"
        assert math.isnan(float(kernel.printed(GUARDED)))

        reply, messages = kernel.execute("%gemini fix")  # the last cell ran without an error
        assert reply["status"] == "error" and reply["ename"] == "UsageError"
        assert reply["evalue"] == "no error to fix: the last cell ran without one"
        assert not reply.get("payload")
    finally:
        kernel.stop()
