"""Helpers of the server extension's tests: a notebook's magics in this process, and the API as the sidebar
reads it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell


class Notebook:
    """The magics of one notebook, run in this process's shell as its kernel would run them."""

    def __init__(self, shell: InteractiveShell, db: Path, key: str, backend: str = "auto") -> None:
        self.shell, self.key = shell, key
        shell.run_line_magic("load_ext", "gemini_magics")
        for line in (
            f"GeminiMagics.backend = {backend!r}",
            f"GeminiMagics.chain_db = {str(db)!r}",
            f"GeminiMagics.notebook = {key!r}",
            "GeminiMagics.retries = 0",
            "GeminiMagics.research_stall = 2.0",
            "GeminiMagics.research_poll_max = 0.5",
        ):
            shell.run_line_magic("config", line)

    def cell(self, line: str, body: str) -> Any:
        return self.shell.run_cell_magic("gemini", line, body)


async def get_json(jp_fetch: Any, *parts: str, **kwargs: Any) -> Any:
    response = await jp_fetch("gemini-magics", "api", *parts, **kwargs)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def wait_for(
    jp_fetch: Any, check: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    """Poll ``GET runs`` (as the sidebar does) until ``check(answer)``; the answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await get_json(jp_fetch, "runs")
        if check(answer):
            return answer
        assert time.monotonic() < deadline, f"timed out; last answer: {json.dumps(answer, indent=1)}"
        await asyncio.sleep(0.2)


def run_of(answer: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    return next((run for run in answer["runs"] if run["id"] == run_id), None)
