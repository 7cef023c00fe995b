"""A Jupyter server with the gemini-magics server extension (pytest-jupyter's ``jp_serverapp``/``jp_fetch``),
its chain store in a temporary file, no API key: the extension starts its shared emulator, whose URL the
magics of this process (an ``InteractiveShell``) and the real kernels the tests start use too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from pytest_jupyter.jupyter_server import *  # noqa: F403  (the jp_* fixtures and their async test runner)
from server_testing import Notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))  # real_kernel.py

AGENT_SECONDS = "2"


@pytest.fixture(autouse=True)
def server_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The server's environment before it starts: a fresh chain store, no key, no shared emulator yet."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_MAGICS_EMULATOR_URL"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "chains.sqlite3"
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(db))
    monkeypatch.setenv("GEMINI_MAGICS_AGENT_SECONDS", AGENT_SECONDS)
    return db


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"gemini_magics.serverext": True}},
        "GeminiMagicsServer": {"scan_interval": 0.2, "research_stall": 2.0, "research_poll_max": 0.5},
    }


@pytest.fixture(scope="session")
def shell() -> InteractiveShell:
    return start_ipython() or InteractiveShell.instance()  # None when another conftest started it


@pytest.fixture
def notebook(shell: InteractiveShell, server_env: Path) -> Iterator[Callable[..., Notebook]]:
    """``notebook(key)``: switch this process's shell to that notebook (one at a time, as kernels are)."""

    def switch(key: str, backend: str = "auto") -> Notebook:
        shell.run_line_magic("unload_ext", "gemini_magics")
        return Notebook(shell, server_env, key, backend)

    yield switch
    shell.run_line_magic("unload_ext", "gemini_magics")
    shell.config.pop("GeminiMagics", None)
