"""``%gemini panel`` in JupyterLab at 1280 px (the file browser open, ~850 px for the output): the heading
counts what the rows show, while the runs go and after they end, and nothing is cut that must be read —
the buttons keep their labels, the status and times are whole, the interaction id is readable, with the
whole id in its tooltip and its text.

The notebook is the test's own (it names emulator directives): two research runs of a few seconds and the
panel, displayed while both run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "panel_layout.ipynb"
CELLS = [
    "%load_ext gemini_magics",
    "%%gemini --research\nOwls [emulator: duration=4]",
    "%%gemini --research\nBats [emulator: duration=2]",
    "%gemini panel",
]
HEADING = "Background runs of this notebook: "
# The panel as the browser lays it out: its heading, and per row each cell's text, tooltip, whether its
# text is cut (wider than its box), and where it ends; the output area's right edge.
PANEL = """el => {
  const grid = el.querySelector('.widget-gridbox');
  const items = [...grid.children];
  const columns = getComputedStyle(grid).gridTemplateColumns.split(' ').length;
  const cut = e => e.scrollWidth > e.clientWidth + 0.5;
  const rows = [];
  for (let i = columns; i < items.length; i += columns) {
    rows.push(items.slice(i, i + columns).map(item => {
      const inner = item.tagName === 'BUTTON' ? item : item.querySelector('span');
      return {
        text: item.textContent.trim(),
        title: inner.getAttribute('title'),
        cut: cut(inner),
        width: inner.clientWidth,
        right: item.getBoundingClientRect().right,
        select: getComputedStyle(inner).userSelect,
      };
    }));
  }
  return {
    heading: el.querySelector('.widget-html').textContent.trim(),
    right: el.getBoundingClientRect().right,
    rows,
  };
}"""


@pytest.fixture
def panel_notebook(lab: Any) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / NAME)
    return NAME


def running(rows: list[list[dict[str, Any]]]) -> int:
    """Rows the panel shows running: a spinner, not an end's icon, before the status."""
    return sum(1 for row in rows if row[0]["text"].endswith("in_progress"))


def test_panel_counts_its_rows_and_fits_at_1280_px(
    open_notebook: Any, panel_notebook: str, artifacts: Path
) -> None:
    nb = open_notebook(panel_notebook)
    nb.run_all()
    panel = nb.outputs(3)
    expect(panel.locator(".widget-gridbox")).to_be_visible(timeout=60_000)

    # While the runs go: the heading says how many run, as the rows do (sampled until both ended; the
    # heading and a row are separate widgets, so a sample may fall between their updates).
    samples = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = panel.evaluate(PANEL)
        samples.append((state["heading"], running(state["rows"]), len(state["rows"])))
        if len(state["rows"]) == 2 and not running(state["rows"]):
            break
        time.sleep(0.25)
    seen = [(heading, shown) for heading, shown, rows in samples if rows == 2 and shown]
    assert seen, f"the panel never showed a run running: {samples}"
    agree = [h for h, shown in seen if h == f"{HEADING}2, {shown} running"]
    assert len(agree) >= len(seen) // 2 + 1, f"the heading did not follow the rows: {samples}"

    # Both ended: "2", and no run said to be running, now and a few ticks later.
    nb.wait_until_done()
    expect(panel.locator(".widget-html", has_text="✓ completed")).to_have_count(2)
    time.sleep(2.5)
    state = panel.evaluate(PANEL)
    assert state["heading"] == f"{HEADING}2", state["heading"]
    assert running(state["rows"]) == 0
    nb.cell(3).scroll_into_view_if_needed()
    nb.screenshot(artifacts, "panel-1280")

    for status, agent, started, elapsed, interaction, cancel, show in state["rows"]:
        # Buttons with their whole labels, inside the output area.
        assert (cancel["text"], show["text"]) == ("Cancel", "Show report")
        for cell in (cancel, show, status, started, elapsed):
            assert not cell["cut"], cell
            assert cell["right"] <= state["right"] + 0.5, (cell, state["right"])
        # The id: the whole of it in the text (what a copy takes; one click selects it all) and in the
        # tooltip, and at least a dozen characters of it on screen.
        assert interaction["text"].startswith("v1_") and len(interaction["text"]) > 40, interaction
        assert interaction["title"] == interaction["text"]
        assert interaction["select"] == "all"
        assert interaction["width"] >= 100, interaction
        assert agent["title"] == agent["text"] == "deep-research-pro-preview-12-2025"
    assert not nb.problems(), nb.problems()
