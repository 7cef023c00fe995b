"""How pytest runs these notebooks: ``pytest --nbval notebooks/`` (strict — outputs are compared).

This file only matters to pytest with nbval; the notebooks do not use it. It makes the plain command do
the right thing: volatile values (interaction ids, durations, timestamps) are sanitized with
``tests/notebooks/sanitize.cfg``, the kernels run offline against the emulator whatever API key the shell
has, and their conversations are stored in a temporary chain file, not in your own. The emulator's research
agent runs 7 s instead of 20 (``$GEMINI_MAGICS_AGENT_SECONDS``): long enough that the cells of
10_deep_research that run while it works still see it running, short enough for a quick test.

nbval sends every cell with ``store_history=False``: IPython's ``In``/``Out`` and execution counts never
advance, unlike in JupyterLab, Notebook, VS Code and nbclient (``gemini-magics run``, which saved the
committed outputs). ``%gemini fix`` names the failed cell (``fix of In [2]``) and ``--context cells`` sends
the cells run before; under stock nbval they would say ``In [1]`` and send no cells at all. So the kernels
here run cells as those front ends do — ``store_history=True``, the history in memory as nbclient keeps it
(``--HistoryManager.hist_file=:memory:``, not in your IPython directory).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

SANITIZE = Path(__file__).resolve().parent.parent / "tests" / "notebooks" / "sanitize.cfg"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
AGENT_SECONDS = "7"


def pytest_configure(config: pytest.Config) -> None:
    if not getattr(config.option, "nbval", False):
        return
    if config.option.nbval_sanitize_with is None:
        config.option.nbval_sanitize_with = str(SANITIZE)
    # nbval's kernels inherit this process's environment: no key means the offline emulator.
    for name in KEY_VARIABLES:
        os.environ.pop(name, None)
    os.environ.setdefault("GEMINI_MAGICS_AGENT_SECONDS", AGENT_SECONDS)
    run_cells_with_history()
    if "GEMINI_MAGICS_CHAIN_DB" not in os.environ:
        folder = tempfile.mkdtemp(prefix="gemini-nbval-")
        os.environ["GEMINI_MAGICS_CHAIN_DB"] = str(Path(folder) / "chains.sqlite3")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def run_cells_with_history() -> None:
    """nbval's kernels: each cell sent with ``store_history=True`` (execution counts, ``In``/``Out``), and an
    in-memory IPython history, as nbclient runs them (see the module docstring)."""
    from nbval import kernel

    if getattr(kernel.RunningKernel.execute_cell_input, "with_history", False):
        return
    start = kernel.start_new_kernel

    def start_new_kernel(*args: Any, **kwargs: Any) -> Any:
        extra = list(kwargs.pop("extra_arguments", None) or [])
        return start(*args, extra_arguments=[*extra, "--HistoryManager.hist_file=:memory:"], **kwargs)

    def execute_cell_input(self: Any, cell_input: str, allow_stdin: bool | None = None) -> str:
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    execute_cell_input.with_history = True  # type: ignore[attr-defined]
    kernel.start_new_kernel = start_new_kernel
    kernel.RunningKernel.execute_cell_input = execute_cell_input
