"""What the browser tests share beyond fixtures: the running Lab, a notebook page, and the JavaScript probes.

A module of its own (not conftest.py) so a test file can import these by a name no other directory's
conftest shadows when the whole suite runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GEMINI_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
TOKEN = "gemini-magics-browser-test"


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
