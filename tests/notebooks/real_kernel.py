"""A real ipykernel started by jupyter_client, as the Jupyter server starts one: what the kernel tests of
this folder drive (``%gemini fix``'s payload, a ``--map`` job killed with SIGKILL)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager


class Kernel:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str, timeout: float = 120) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run ``code`` as a front end does; (the execute reply's content, the messages it produced)."""
        messages: list[dict[str, Any]] = []
        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=messages.append, allow_stdin=False, store_history=True
        )
        return reply["content"], messages

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code``, which must succeed; what it printed, showed and returned, as text."""
        reply, messages = self.execute(code, timeout)
        shown = "".join(text_of(m) for m in messages)
        assert reply["status"] == "ok", shown + str(reply.get("evalue"))
        return shown

    def printed(self, code: str) -> str:
        """What running ``code`` printed (its status must be ok)."""
        reply, messages = self.execute(code)
        assert reply["status"] == "ok", reply
        return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")

    def kill(self) -> None:
        """SIGKILL: no atexit, no flush — a kernel that crashed or was killed by the OS."""
        self.client.stop_channels()
        self.manager.signal_kernel(signal.SIGKILL)
        while self.manager.is_alive():
            time.sleep(0.05)
        self.manager.cleanup_resources()

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def text_of(msg: dict[str, Any]) -> str:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return content.get("text", "")
    if msg.get("msg_type") in ("execute_result", "display_data"):
        return content.get("data", {}).get("text/plain", "") + "\n"
    if msg.get("msg_type") == "error":
        return f"{content.get('ename')}: {content.get('evalue')}\n"
    return ""
