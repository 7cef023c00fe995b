"""Real IPython kernels driven over ZMQ as a front end would (the tests of tests/kernels import it by this
name: no other directory's conftest can shadow it).

``Kernel.execute`` sends a cell without waiting, so several kernels run cells at the same time; ``collect``
then reads what each cell showed and how it ended.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 90.0  # seconds for a kernel to start and load the extension on a loaded machine
CELL_TIMEOUT = 90.0  # seconds for one cell (every turn of these tests takes a few seconds at most)


@dataclass
class Cell:
    """What one executed cell showed on iopub, and how it ended."""

    msg_id: str
    code: str
    status: str | None = None  # "ok" / "error" / "aborted" once the execute_reply arrived
    idle: bool = False  # the kernel went idle after the cell: every output of it has arrived
    outputs: list[dict[str, Any]] = field(default_factory=list)  # iopub messages (type and content)
    error: tuple[str, str] | None = None  # (ename, evalue)

    @property
    def done(self) -> bool:
        return self.status is not None and self.idle

    def texts(self, mime: str = "text/plain") -> list[str]:
        """Every text this cell showed, in order: streams, and ``mime`` of displays and results."""
        shown = []
        for msg in self.outputs:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                shown.append(content["text"])
            elif kind in ("display_data", "update_display_data", "execute_result"):
                shown.append(str(content["data"].get(mime, "")))
            elif kind == "error":
                shown.append(f"{content['ename']}: {content['evalue']}")
        return shown

    def result(self, mime: str = "text/plain") -> str:
        """The cell's value (``execute_result``) as ``mime``; "" if it had none."""
        for msg in self.outputs:
            if msg["msg_type"] == "execute_result":
                return str(msg["content"]["data"].get(mime, ""))
        return ""

    def stdout(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )


class Kernel:
    """One ipykernel process with ``%%gemini`` loaded, driven over ZMQ as a front end would."""

    def __init__(self, manager: Any, notebook: str, db: Path) -> None:
        self.manager, self.notebook, self.db = manager, notebook, db
        self.client: Any = None
        self.cells: dict[str, Cell] = {}
        self.pid: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def connect(self, base_url: str) -> Cell:
        """Wait for the started kernel, then send the cell that loads and configures the extension (as a
        user would); ``configured`` checks how it ended."""
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=START_TIMEOUT)
        setup = [
            "%load_ext gemini_magics",
            f"%config GeminiMagics.backend = {base_url!r}",
            f"%config GeminiMagics.notebook = {self.notebook!r}",
            "%config GeminiMagics.retries = 0",
        ]
        setup.append("import os; print(os.getpid(), os.environ.get('GEMINI_MAGICS_CHAIN_DB'))")
        return self.execute("\n".join(setup))

    def configured(self, cell: Cell) -> None:
        assert cell.status == "ok", cell.texts()
        pid, path = cell.stdout().split()
        self.pid = int(pid)
        assert path == str(self.db), f"the kernel's store is {path}, not {self.db}"
        assert self.manager.provisioner.process.pid == self.pid, "the kernel is not the process started"

    def kill(self) -> None:
        """SIGKILL the kernel process (no cleanup runs in it), and wait until it is gone."""
        import signal

        assert self.pid is not None and self.alive()
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.alive():
            assert time.monotonic() < deadline, f"kernel {self.pid} survived SIGKILL"
            time.sleep(0.02)

    def alive(self) -> bool:
        return bool(self.manager.is_alive())

    def stop(self) -> None:
        # Already dead (killed by the test) or never started: nothing left to stop.
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.stop_channels()
        with contextlib.suppress(Exception):
            self.manager.shutdown_kernel(now=True)
        with contextlib.suppress(Exception):
            self.manager.cleanup_resources()

    # -- cells -------------------------------------------------------------------------------------

    def execute(self, code: str) -> Cell:
        """Send a cell and return at once; later cells queue behind it in the kernel."""
        msg_id = self.client.execute(code, store_history=True, stop_on_error=False)
        self.cells[msg_id] = cell = Cell(msg_id, code)
        return cell

    def pump(self, timeout: float) -> bool:
        """Read what arrived (waiting up to ``timeout`` for the first message); False if nothing did."""
        got = False
        for channel in ("iopub", "shell"):
            try:
                msg = getattr(self.client, f"get_{channel}_msg")(timeout=timeout if not got else 0)
            except queue.Empty:
                continue
            while True:
                got = True
                self._take(channel, msg)
                try:
                    msg = getattr(self.client, f"get_{channel}_msg")(timeout=0)
                except queue.Empty:
                    break
            timeout = 0
        return got

    def _take(self, channel: str, msg: dict[str, Any]) -> None:
        cell = self.cells.get(msg.get("parent_header", {}).get("msg_id", ""))
        if cell is None:
            return
        kind, content = msg["msg_type"], msg["content"]
        if channel == "shell" and kind == "execute_reply":
            cell.status = content["status"]
            if content["status"] == "error":
                cell.error = (content.get("ename", ""), content.get("evalue", ""))
        elif kind == "status":
            cell.idle = cell.idle or content["execution_state"] == "idle"
        elif kind in ("stream", "display_data", "update_display_data", "execute_result", "error"):
            cell.outputs.append({"msg_type": kind, "content": content})

    def run(self, code: str, timeout: float = CELL_TIMEOUT) -> Cell:
        cell = self.execute(code)
        collect([self], timeout)
        return cell

    def wait_for(self, condition: Callable[[], bool], timeout: float = CELL_TIMEOUT, what: str = "") -> None:
        """Read the kernel's messages until ``condition()`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
            self.pump(0.02)


def collect(kernels: list[Kernel], timeout: float = CELL_TIMEOUT) -> None:
    """Read every kernel's messages until all the cells sent to them are done (at most ``timeout`` s
    from the last message that arrived: a long queue of cells may take longer in all)."""
    last = time.monotonic()
    while True:
        pending = [k for k in kernels if any(not c.done for c in k.cells.values())]
        if not pending:
            return
        if any([k.pump(0.02) for k in pending]):  # a list: read every kernel, not just the first
            last = time.monotonic()
        waiting = [c.code[:60] for k in pending for c in k.cells.values() if not c.done]
        assert time.monotonic() - last < timeout, f"no message for {timeout} s; cells pending: {waiting}"
