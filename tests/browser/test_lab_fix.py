"""``%gemini fix`` in JupyterLab: after a cell raises, the fix explains the error and a new cell with the
corrected code appears right below the fix cell — not run: no execution count, no output.

The notebook is written by the test; the failing cell is tagged ``raises-exception``, so Run All goes on to
the fix cell after it (and ``problems()`` expects its traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "fix_flow.ipynb"
FAILING = "ratio = scores['alice'] / scores['bob']\nprint(ratio)"
CORRECTED = (
    "ratio = (scores['alice'] / scores['bob'] if scores['bob'] != 0 else float(\"nan\"))\nprint(ratio)"
)
CELLS = ["%load_ext gemini_magics", "scores = {'alice': 3, 'bob': 0}", FAILING, "%gemini fix"]
FIX = 3  # the fix cell's index

NOTEBOOK_CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(cell => ({
  source: cell.model.sharedModel.getSource(),
  count: cell.model.executionCount ?? null,
  outputs: cell.model.outputs ? cell.model.outputs.length : 0,
}))"""
KERNEL_IDLE_AFTER = """index => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel.content.widgets[index];
  const k = panel.sessionContext.session?.kernel;
  return !!cell && cell.model.executionCount !== null && !!k && k.status === 'idle';
}"""


@pytest.fixture
def fix_notebook(lab: Any) -> str:
    cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    cells[2].metadata["tags"] = ["raises-exception"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / NAME)
    return NAME


def test_fix_puts_the_corrected_cell_below_without_running_it(
    open_notebook: Any, fix_notebook: str, artifacts: Path
) -> None:
    nb = open_notebook(fix_notebook)
    page = nb.page
    nb.run_all()
    page.wait_for_function(KERNEL_IDLE_AFTER, arg=FIX, timeout=60_000)
    expect(nb.outputs(2).get_by_text("ZeroDivisionError: division by zero").first).to_be_visible()
    answer = nb.outputs(FIX)
    expect(answer.get_by_text("ZeroDivisionError", exact=False).first).to_be_visible(timeout=30_000)
    expect(answer.get_by_text("the corrected cell is in a new cell below, not run").first).to_be_visible()

    added = nb.cell(FIX + 1)
    expect(added).to_be_visible(timeout=30_000)
    cells = page.evaluate(NOTEBOOK_CELLS)
    assert len(cells) == len(CELLS) + 1, cells
    assert cells[FIX + 1] == {"source": CORRECTED, "count": None, "outputs": 0}  # below the fix, not run
    assert cells[FIX]["count"] is not None and [c["source"] for c in cells[: FIX + 1]] == CELLS
    expect(added.locator(".jp-InputPrompt")).to_have_text("[ ]:")
    expect(added.locator(".jp-OutputArea-output")).to_have_count(0)
    expect(added.locator(".cm-content")).to_contain_text("if scores['bob'] != 0 else float(\"nan\")")
    added.scroll_into_view_if_needed()
    nb.screenshot(artifacts, "fix-new-cell-below")
    assert not nb.problems(), nb.problems()
