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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
LABEXTENSION = REPO / "gemini_magics" / "labextension"
ARTIFACTS = Path(os.environ.get("GEMINI_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
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
TOKEN = "gemini-magics-browser-test"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

pytestmark = pytest.mark.browser


@dataclass
class Lab:
    """A running JupyterLab: its URL, token, root folder and log."""

    base_url: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}/lab/tree/{path}?reset&token={TOKEN}"  # reset: no tabs from earlier tests

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run scripts/test.sh (it installs Debian's chromium) or set CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
KERNEL_IDLE = """() => {
  const k = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""
# The file's n code cells have run; cells a cell offered below (``%gemini fix``, ``--code``), never run, stay
# "[ ]:" and are not counted.
CODE_CELLS_EXECUTED = r"""n => {
  const p = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell .jp-InputPrompt')]
              .map(e => e.textContent.trim());
  return p.filter(t => /^\[\d+\]:$/.test(t)).length === n && p.every(t => t !== '[*]:');
}"""
# Every cell on the page: its source, execution count and number of outputs (in the current tab).
PAGE_CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(cell => ({
  source: cell.model.sharedModel.getSource(),
  count: cell.model.executionCount ?? null,
  outputs: cell.model.outputs ? cell.model.outputs.length : 0,
}))"""
# Run code in the notebook's kernel without a cell (test set-up, never part of a notebook).
EXECUTE_QUIETLY = """async code => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: true, store_history: false});
  const reply = await future.done;
  return reply.content.status;
}"""
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the current tab
PROBLEMS = ("Loading widget", "Error displaying widget", "model not found", "Error creating widget")


class NotebookPage:
    """One notebook open in JupyterLab in a browser page."""

    def __init__(self, page: Any, lab: Lab, name: str) -> None:
        import nbformat

        self.page, self.lab, self.name = page, lab, name
        self.nb = nbformat.read(lab.root / name, as_version=4)
        self.code_cells = sum(1 for c in self.nb.cells if c.cell_type == "code")

    def open(self) -> NotebookPage:
        from playwright.sync_api import expect

        self.page.goto(self.lab.url(self.name))
        expect(self.page.locator(f"{NOTEBOOK} .jp-Cell")).to_have_count(len(self.nb.cells), timeout=60_000)
        self.page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        return self

    def execute_quietly(self, code: str) -> None:
        status = self.page.evaluate(EXECUTE_QUIETLY, code)
        assert status == "ok", f"set-up code failed in the kernel: {code!r}"

    def run_all(self) -> None:
        """Start Run All; do not await the command's promise (page.evaluate would, without a timeout)."""
        self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def wait_until_done(self, timeout: float = 90) -> None:
        try:
            self.page.wait_for_function(CODE_CELLS_EXECUTED, arg=self.code_cells, timeout=timeout * 1000)
            self.page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = self.screenshot(ARTIFACTS, "failed-" + Path(self.name).stem)
            prompts = self.page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
            pytest.fail(
                f"{self.name}: the cells did not all run within {timeout:.0f} s; prompts {prompts}; "
                f"screenshot {shot}\nJupyterLab log:\n{self.lab.log_tail(15)}"
            )

    def cell(self, index: int) -> Any:
        """The cell at ``index`` of the notebook file (Markdown cells count), wherever it is on the page."""
        return self.page.locator(f"{NOTEBOOK} .jp-Cell").nth(self.position(index))

    def position(self, index: int) -> int:
        """Where the file's cell ``index`` is on the page. A cell can offer code as a new cell below it, not
        run (``%gemini fix``, ``--code``: ``set_next_input``), which JupyterLab inserts while Run All goes on;
        such cells are not in the file, so the page's cells are matched to the file's by their sources, in
        order. An index past the file's last cell counts on from it (a cell a test added at the end)."""
        if self.page.locator(f"{NOTEBOOK} .jp-Cell").count() <= len(self.nb.cells):
            return index  # nothing inserted
        sources = [cell["source"] for cell in self.page_cells()]
        at = -1
        for cell in self.nb.cells[: index + 1]:
            at += 1
            while at < len(sources) and sources[at] != cell.source:
                at += 1
            if at == len(sources):  # a cell changed on the page: no match, the file's index
                return index
        return at + max(0, index - len(self.nb.cells) + 1)

    def index(self, startswith: str) -> int:
        """Index of the first cell whose source starts with ``startswith``."""
        for i, cell in enumerate(self.nb.cells):
            if cell.source.startswith(startswith):
                return i
        raise AssertionError(f"no cell starting with {startswith!r} in {self.name}")

    def page_cells(self) -> list[dict[str, Any]]:
        """Every cell on the page, inserted ones too: its source, execution count (None: not run), outputs."""
        return list(self.page.evaluate(PAGE_CELLS))

    def outputs(self, index: int) -> Any:
        """The output area of the cell at ``index`` (one element holding all its outputs)."""
        return self.cell(index).locator(".jp-Cell-outputArea")

    def problems(self) -> list[str]:
        """What a user should never see: widget placeholders and errors, tracebacks where none is expected."""
        found = []
        text = self.page.locator(NOTEBOOK).inner_text()
        found += [p for p in PROBLEMS if p in text]
        for i, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
                continue
            errors = self.cell(i).locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
            )
            if errors.count():
                found.append(f"cell {i} ({cell.source.splitlines()[0]}): {errors.first.inner_text()[:300]}")
        found += [f"page error: {e}" for e in self.page.errors]
        return found

    def screenshot(self, folder: Path, name: str | None = None) -> Path:
        path = folder / f"{name or Path(self.name).stem}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_notebook(page: Any, lab: Lab) -> Any:
    """``open_notebook("01_quick_start.ipynb")`` → a NotebookPage, opened with its kernel idle."""

    def open_(name: str) -> NotebookPage:
        return NotebookPage(page, lab, name).open()

    return open_
