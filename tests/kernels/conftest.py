"""Real IPython kernels (``ipykernel`` processes started by ``jupyter_client``) running real ``%%gemini``
cells against the test emulator over HTTP, with one chain store (SQLite file) shared by a test's kernels.

A test asks ``kernels(notebook, ...)`` for kernels; they start in parallel, load the extension and are
pointed at the emulator and the store. Every kernel a test started is shut down after it, also when the
test failed or killed it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kernel_testing import START_TIMEOUT, Kernel, collect

from gemini_magics.emulator import EmulatorServer


@pytest.fixture(scope="session")
def kernel_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An IPython and a Jupyter config directory of the test session: no profile of the user's takes part."""
    return tmp_path_factory.mktemp("kernel-home")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """The chain store every kernel of the test shares (``$GEMINI_MAGICS_CHAIN_DB``)."""
    return tmp_path / "chains.sqlite3"


@pytest.fixture
def kernels(
    emulator: EmulatorServer, store_path: Path, kernel_home: Path, tmp_path: Path
) -> Iterator[Callable[..., list[Kernel]]]:
    """``kernels(notebook, ...)``: one started kernel per notebook name, ready for cells (in parallel)."""
    from jupyter_client.manager import KernelManager

    started: list[Kernel] = []
    dropped = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_MAGICS_AUTOLOAD", "JPY_SESSION_NAME")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update(
        IPYTHONDIR=str(kernel_home / "ipython"),
        JUPYTER_CONFIG_DIR=str(kernel_home / "jupyter"),
        GEMINI_MAGICS_CHAIN_DB=str(store_path),
        GEMINI_MAGICS_AUTOLOAD="0",  # the test loads the extension itself, as the issue describes
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )

    def start(*notebooks: str) -> list[Kernel]:
        batch = []
        for notebook in notebooks:
            manager = KernelManager(kernel_name="python3")
            kernel = Kernel(manager, notebook, store_path)
            started.append(kernel)
            manager.start_kernel(env=environment, cwd=str(tmp_path))
            batch.append(kernel)
        setups = [kernel.connect(emulator.base_url) for kernel in batch]
        collect(batch, START_TIMEOUT)
        for kernel, setup in zip(batch, setups, strict=True):
            kernel.configured(setup)
        return batch

    yield start
    for kernel in started:
        kernel.stop()
