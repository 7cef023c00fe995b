"""JupyterLab in headless Chromium: a server on a loopback port with a token and a temporary root.

The server runs from this interpreter's environment (so its kernels have this package), offline: API keys
are removed from its environment, so every answer comes from the emulator. The server extension
(gemini_magics/serverext) is enabled, and JupyterLab loads the extension this checkout built
(gemini_magics/labextension, from src/ by ``pip install -e .`` or ``jlpm build``), linked into the
temporary data directory as ``jupyter labextension develop`` would, whatever an install put into the
environment. Notebook windowing is off (every cell stays in the DOM), news and update checks are off, and
Jupyter/IPython config, data and runtime directories are temporary, so nothing of the user's setup leaks
in or is changed.

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM``), driven by Playwright; scripts/test.sh
installs it. Screenshots go to ``test-artifacts/browser/`` (``$GEMINI_TEST_ARTIFACTS`` to change).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_testing import ARTIFACTS, TOKEN, Lab, NotebookPage

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
LABEXTENSION = REPO / "gemini_magics" / "labextension"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # Playwright adds --headless and a fresh profile itself
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(folder: Path) -> None:
    """User settings: all cells in the DOM (no windowing), no news, no update checks."""
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _link_labextension(data: Path) -> None:
    """Link this checkout's built JupyterLab extension into the (user) data directory, which JupyterLab
    reads before the environment's: the tests see src/ as built here, not an older installed copy."""
    if (LABEXTENSION / "package.json").exists():
        (data / "labextensions").mkdir(parents=True, exist_ok=True)
        (data / "labextensions" / "gemini-magics").symlink_to(LABEXTENSION, target_is_directory=True)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        import jupyterlab  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"{exc.name} is missing: run scripts/test.sh, which installs the test extras")
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("conftest.py", "__pycache__", ".*"))
    _settings(tmp / "settings")
    _link_labextension(tmp / "data")
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        GEMINI_MAGICS_CHAIN_DB=str(tmp / "chains.sqlite3"),
    )
    port = _free_port()
    log_path = tmp / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to ask the kernel's state
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # As pip's etc/jupyter/jupyter_server_config.d/gemini_magics.json does (an editable install made
        # by an older build backend has no such file).
        "--ServerApp.jpserver_extensions={'gemini_magics.serverext': True}",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}", root, log_path)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server.base_url}/api/status?token={TOKEN}", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + server.log_tail())
            time.sleep(0.3)
    yield server
    proc.terminate()  # SIGTERM: a clean shutdown, kernels included
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stray kernels, if any


class _Chromium:
    """One Chromium for all the browser tests, stopped as soon as they are done.

    Playwright's sync API keeps its asyncio loop "running" in this thread while it lives (it runs in a
    greenlet), so a session-scoped browser broke every later test that starts a loop: ``asyncio.run()``
    refused, and pytest-jupyter's server fixtures could not close theirs.
    """

    manager: Any = None
    browser: Any = None

    @classmethod
    def start(cls) -> Any:
        if cls.browser is None:
            from playwright.sync_api import sync_playwright

            cls.manager = sync_playwright()
            playwright = cls.manager.__enter__()
            cls.browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        return cls.browser

    @classmethod
    def stop(cls) -> None:
        if cls.manager is None:
            return
        with contextlib.suppress(Exception):
            cls.browser.close()
        cls.manager.__exit__(None, None, None)
        cls.manager = cls.browser = None


def _is_browser_test(item: pytest.Item | None) -> bool:
    return item is not None and Path(item.path).parent == Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last browser test's own teardown (its page closed), Chromium and Playwright stop."""
    try:
        return (yield)
    finally:
        if not _is_browser_test(nextitem):
            _Chromium.stop()


@pytest.fixture
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run scripts/test.sh (it installs Debian's chromium) or set CHROMIUM"
        )
    return _Chromium.start()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# -- driving a notebook ---------------------------------------------------------------------------------


# JupyterLab shows "idle" about 1.5 s before a kernel exists; running cells then opens a kernel dialog.
# So ask the app for the kernel itself (needs --LabApp.expose_app_in_browser).
@pytest.fixture
def open_notebook(page: Any, lab: Lab) -> Any:
    """``open_notebook("01_quick_start.ipynb")`` → a NotebookPage, opened with its kernel idle."""

    def open_(name: str) -> NotebookPage:
        return NotebookPage(page, lab, name).open()

    return open_
