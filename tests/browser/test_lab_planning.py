"""Deep Research planning in JupyterLab: a plan is proposed, edited and approved, each step a live widget
that ends in its rendered answer; a run that ends ``budget_exceeded`` ends in its own words and colour,
in its widget and in the panel.

The notebook is written by the test (the budget run needs an emulator directive, which has no place in
notebooks/); 10_deep_research.ipynb shows the same flow as a tutorial and is run by test_lab_notebooks.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect
from test_lab_security import check_inert

from gemini_magics import statuses

pytestmark = pytest.mark.browser

NAME = "planning_flow.ipynb"
TOPIC = "Ocean acidification and oyster farming"
EDIT = "Also cover hatcheries in Chile"
CELLS = [
    "%load_ext gemini_magics",
    f"%%gemini --new --research --plan\n{TOPIC} [emulator: unsafe_html]",
    "%gemini wait",
    f"%%gemini --research\n{EDIT}",
    "%gemini wait",
    "%gemini approve",
    "%gemini wait",
    "%%gemini --research\nGlaciers [emulator: status=budget_exceeded]",
    "%gemini panel",
]
AGENT_SECONDS = 3
PURPLE = "rgb(142, 36, 170)"  # statuses.COLOURS["budget_exceeded"]


@pytest.fixture
def planning_notebook(lab: Any) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / NAME)
    return NAME


def test_plan_edit_approve_and_a_spent_budget_in_jupyterlab(
    open_notebook: Any, planning_notebook: str, artifacts: Path
) -> None:
    assert statuses.COLOURS["budget_exceeded"] == "#8e24aa"  # PURPLE, as the browser computes it
    nb = open_notebook(planning_notebook)
    page = nb.page
    nb.execute_quietly(f"%config GeminiMagics.emulator_agent_seconds = {AGENT_SECONDS}")
    nb.run_all()
    plan, edit, approve, budget, panel = (nb.outputs(i) for i in (1, 3, 5, 7, 8))

    # The plan: a live widget while the agent plans, then the plan itself, rendered, and what to do next.
    expect(plan.locator(".widget-hprogress")).to_be_visible(timeout=60_000)
    expect(plan.locator(".progress-bar-success")).to_have_count(1, timeout=60_000)
    expect(plan.locator("strong", has_text=f"Research plan: {TOPIC}")).to_be_visible()
    expect(plan.locator(".jp-RenderedMarkdown li", has_text="Establish the background")).to_be_visible()
    expect(plan.get_by_text("%gemini approve starts the research as planned", exact=False)).to_be_visible()
    expect(plan.get_by_role("button", name="Cancel")).to_be_hidden()

    # The edit: the agent answers with the revised plan.
    expect(edit.locator(".progress-bar-success")).to_have_count(1, timeout=60_000)
    expect(edit.get_by_text(f"I revised the plan to reflect your feedback — “{EDIT}”")).to_be_visible()
    expect(edit.locator(".jp-RenderedMarkdown li", has_text=f"Address your request: {EDIT}")).to_be_visible()

    # The approval: a research run, followed live, whose report follows the revised plan.
    expect(approve.locator(".widget-hprogress")).to_be_visible(timeout=60_000)
    expect(approve.locator(".progress-bar-success")).to_have_count(1, timeout=60_000)
    report = approve.locator(".jp-RenderedMarkdown")
    expect(report.locator("h1", has_text=f"Research report: {TOPIC}")).to_be_visible()
    expect(report.locator("h2", has_text="Research plan followed")).to_be_visible()
    expect(report.locator("li", has_text=f"Address your request: {EDIT}")).to_be_visible()
    nb.cell(5).scroll_into_view_if_needed()
    nb.screenshot(artifacts, "planning-approved")

    # A spent budget: its own words and colour, in the widget and in the panel's row.
    nb.wait_until_done(timeout=120)
    bar = budget.locator(".widget-hprogress .progress-bar").first
    expect(budget.get_by_text("⊘ stopped: budget exceeded after", exact=False)).to_be_visible(timeout=30_000)
    assert bar.evaluate("e => getComputedStyle(e).backgroundColor") == PURPLE
    tqdm_styles = ".progress-bar-success, .progress-bar-danger, .progress-bar-warning"
    expect(budget.locator(tqdm_styles)).to_have_count(0)  # a colour of its own
    row = panel.locator(".widget-html", has_text="⊘ stopped: budget exceeded")
    expect(row).to_have_count(1, timeout=10_000)
    assert row.locator("span").evaluate("e => getComputedStyle(e).color") == PURPLE
    heading = panel.locator(".widget-html").first
    expect(heading).to_have_text("Background runs of this notebook: 4")  # and none running any more
    expect(panel.locator(".widget-html", has_text="✓ completed")).to_have_count(3)
    nb.cell(7).scroll_into_view_if_needed()
    nb.screenshot(artifacts, "planning-budget-exceeded")

    # The plan's hostile thought summary is text, never code; nothing went wrong on the page.
    for header in plan.locator(".jupyter-widget-Collapse-header").all():
        if header.is_visible():
            header.click()  # open the Thoughts: their Markdown is rendered too
    expect(plan.get_by_text("window.__gm_pwned", exact=False).first).to_be_attached()
    check_inert(page, plan, "the plan's widget")
    assert not nb.problems(), nb.problems()
