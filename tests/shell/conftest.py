"""A real IPython shell with the extension loaded, talking to the test emulator over HTTP."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from traitlets.config import Config

from gemini_magics.emulator import EmulatorServer


@pytest.fixture(scope="session")
def shell() -> InteractiveShell:
    return start_ipython() or InteractiveShell.instance()  # None when another conftest started it


class Kernel:
    """One simulated kernel session: load the extension, configure it, run cells, restart it."""

    def __init__(self, shell: InteractiveShell, base_url: str, db: Path, notebook: str) -> None:
        self.shell, self.base_url, self.db, self.notebook = shell, base_url, db, notebook
        self.start()

    def start(self) -> None:
        self.shell.reset(new_session=True)
        self.shell.run_line_magic("load_ext", "gemini_magics")
        for line in (
            f"GeminiMagics.backend = {self.base_url!r}",
            f"GeminiMagics.chain_db = {str(self.db)!r}",
            f"GeminiMagics.notebook = {self.notebook!r}",
            "GeminiMagics.retries = 0",
        ):
            self.shell.run_line_magic("config", line)

    def restart(self) -> None:
        """What a kernel restart does to us: the extension and every in-memory object are gone."""
        self.shell.run_line_magic("unload_ext", "gemini_magics")
        self.start()

    def cell(self, line: str, body: str) -> Any:
        return self.shell.run_cell_magic("gemini", line, body)

    def line(self, line: str) -> Any:
        return self.shell.run_line_magic("gemini", line)

    def run(self, source: str) -> Any:
        """Run a whole cell as a user would (magic syntax included); returns IPython's ExecutionResult."""
        return self.shell.run_cell(source, store_history=True)


@pytest.fixture(autouse=True)
def fresh_config(shell: InteractiveShell) -> Iterator[None]:
    """``%config GeminiMagics.x = ...`` lands in the session shell's config: undo it after each test."""
    saved = Config(copy.deepcopy(shell.config.get("GeminiMagics", {})))
    yield
    shell.config["GeminiMagics"] = saved


@pytest.fixture
def kernel(shell: InteractiveShell, emulator: EmulatorServer, tmp_path: Path) -> Iterator[Kernel]:
    session = Kernel(
        shell, emulator.base_url, tmp_path / "chains.sqlite3", f"test-{uuid.uuid4().hex[:8]}.ipynb"
    )
    yield session
    shell.run_line_magic("unload_ext", "gemini_magics")


@pytest.fixture
def make_kernel(
    shell: InteractiveShell, emulator: EmulatorServer, tmp_path: Path
) -> Iterator[Callable[..., Kernel]]:
    """Another kernel (another notebook, or the same one) sharing this test's chain store."""

    def make(notebook: str, base_url: str | None = None) -> Kernel:
        return Kernel(shell, base_url or emulator.base_url, tmp_path / "chains.sqlite3", notebook)

    yield make
    # ``load_ext`` of a loaded extension keeps its instance, whose settings (a cassette in replay mode, say)
    # would outlive ``fresh_config``'s undo: the next test starts from a fresh one.
    shell.run_line_magic("unload_ext", "gemini_magics")
