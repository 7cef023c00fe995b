"""How pytest runs these notebooks: ``pytest --nbval notebooks/`` (strict — outputs are compared).

This file only matters to pytest with nbval; the notebooks do not use it. It makes the plain command do
the right thing: volatile values (interaction ids, durations, timestamps) are sanitized with
``tests/notebooks/sanitize.cfg``, the kernels run offline against the emulator whatever API key the shell
has, and their conversations are stored in a temporary chain file, not in your own. The emulator's research
agent runs 7 s instead of 20 (``$GEMINI_MAGICS_AGENT_SECONDS``): long enough that the cells of
10_deep_research that run while it works still see it running, short enough for a quick test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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
    if "GEMINI_MAGICS_CHAIN_DB" not in os.environ:
        folder = tempfile.mkdtemp(prefix="gemini-nbval-")
        os.environ["GEMINI_MAGICS_CHAIN_DB"] = str(Path(folder) / "chains.sqlite3")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
