"""The JupyterLab extension (src/): the Gemini sidebar lists the background runs of every notebook and
follows them live; a run that ends while its notebook is closed raises a notification whose action opens
the report; Cancel works; the status bar speaks of the notebook in front; ``%%gemini`` cells are
highlighted as a magic line plus Markdown, in light and dark themes; and what the runs carry (notebook
names, titles, thoughts, errors, reports) stays inert text in the sidebar, the report tab and the toasts.

The notebooks are written by the tests (research runs need emulator timings and directives). Runs come
from real ``%%gemini --research`` cells, listed by the server extension from the chain store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_testing import KERNEL_IDLE, NOTEBOOK, Lab, NotebookPage
from playwright.sync_api import expect
from test_lab_security import CLICK_ALL, PWNED, check_inert

pytestmark = pytest.mark.browser

SIDEBAR = '[id="gemini-magics:runs"]'
ROWS = f"{SIDEBAR} .jp-GeminiRuns-run"
TOAST = ".Toastify__toast"
REPORT = ".jp-GeminiReport"


def write_notebook(lab: Lab, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / name)
    return name


def open_in_page(page: Any, lab: Lab, name: str) -> NotebookPage:
    """Open a notebook in the page already loaded (no reload: the extension keeps what it saw)."""
    page.evaluate("path => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", name)
    nb = NotebookPage(page, lab, name)
    expect(page.locator(f"{NOTEBOOK} .jp-Cell")).to_have_count(len(nb.nb.cells), timeout=60_000)
    page.wait_for_function(
        "path => window.jupyterapp.shell.currentWidget?.context?.path === path", arg=name, timeout=30_000
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    return nb


def save_and_close(page: Any) -> None:
    """Save the notebook in front and close its tab (its kernel goes on: closing a tab does not stop it)."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.evaluate("() => window.jupyterapp.commands.execute('application:close')")


def show_sidebar(page: Any) -> Any:
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="gemini-magics:runs"]').click()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_be_visible()
    return sidebar


def row(page: Any, notebook: str) -> Any:
    return page.locator(ROWS, has=page.locator(".jp-GeminiRuns-run-notebook", has_text=notebook))


# -- the sidebar, live, with notifications, Cancel and the status bar -----------------------------------

A, B = "sidebar_tides.ipynb", "sidebar_glaciers.ipynb"
A_SECONDS = 20  # long enough for the test to open B and look; A ends while B is in front
B_SECONDS = 120  # B's run is cancelled


def test_sidebar_lists_runs_of_two_notebooks_live_and_notifies_when_a_closed_ones_ends(
    open_notebook: Any, lab: Lab, artifacts: Path
) -> None:
    write_notebook(lab, A, ["%load_ext gemini_magics", "%%gemini --new --research\nTide pools of Brittany"])
    write_notebook(
        lab,
        B,
        [
            "%load_ext gemini_magics",
            "%%gemini --new\nSay hello",
            "%%gemini --research\nGlaciers of Patagonia",
        ],
    )
    a = open_notebook(A)
    page = a.page
    page.set_viewport_size({"width": 1280, "height": 800})  # for the screenshot the docs show
    a.execute_quietly(f"%config GeminiMagics.emulator_agent_seconds = {A_SECONDS}")
    a.run_all()
    a.wait_until_done()
    save_and_close(page)  # A is closed from now on; its run goes on
    b = open_in_page(page, lab, B)
    b.execute_quietly(f"%config GeminiMagics.emulator_agent_seconds = {B_SECONDS}")
    b.run_all()
    b.wait_until_done()

    sidebar = show_sidebar(page)
    tides, glaciers = row(page, A), row(page, B)
    expect(glaciers).to_have_count(1, timeout=10_000)
    expect(tides).to_have_count(1)
    for run, agent_title in ((tides, "Tide pools of Brittany"), (glaciers, "Glaciers of Patagonia")):
        expect(run.locator(".jp-GeminiRuns-run-what")).to_contain_text("research · ")
        expect(run.locator(".jp-GeminiRuns-run-title")).to_contain_text(agent_title)
        expect(run.locator(".jp-GeminiRuns-run-time")).to_contain_text("started ")
    badge = glaciers.locator(".jp-GeminiRuns-badge")
    expect(badge).to_have_class(re.compile("jp-GeminiRuns-badge-info"))
    expect(badge).to_contain_text("in_progress")
    expect(glaciers.locator(".jp-GeminiRuns-cancel")).to_be_enabled()
    expect(glaciers.locator(".jp-GeminiRuns-report")).to_be_hidden()  # Cancel while it runs, then its report
    expect(glaciers.locator(".jp-GeminiRuns-open")).to_be_enabled()

    # Live: the elapsed time moves without any reload or click.
    time_text = glaciers.locator(".jp-GeminiRuns-run-time")
    before = time_text.inner_text()
    expect(time_text).not_to_have_text(before, timeout=5_000)

    # A ends while B is in front: a notification, whose action opens the report.
    expect(tides.locator(".jp-GeminiRuns-badge")).to_have_text("✓ completed", timeout=(A_SECONDS + 30) * 1000)
    expect(tides.locator(".jp-GeminiRuns-badge")).to_have_class(re.compile("jp-GeminiRuns-badge-success"))
    expect(tides.locator(".jp-GeminiRuns-report")).to_be_enabled()
    expect(tides.locator(".jp-GeminiRuns-cancel")).to_be_hidden()
    toast = page.locator(TOAST, has_text=f"Research in {A}: completed after")
    expect(toast).to_be_visible(timeout=10_000)
    page.wait_for_timeout(1_000)  # the toast's entrance animation
    page.screenshot(path=str(artifacts / "lab-sidebar.png"))  # docs/screenshots/jupyterlab_sidebar.png
    toast.get_by_role("button", name="Show report").click()
    report = page.locator(REPORT)
    expect(report.locator(".jp-GeminiReport-body h1")).to_contain_text(
        "Tide pools of Brittany", timeout=15_000
    )
    expect(report.locator(".jp-GeminiReport-header")).to_contain_text(f"✓ completed · research · {A}")
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=f"Report · {A}")).to_be_visible()

    # B's latest thought, live.
    thought = glaciers.locator(".jp-GeminiRuns-run-thought")
    expect(thought).not_to_be_empty(timeout=15_000)
    first_thought = thought.inner_text()
    expect(thought).not_to_have_text(first_thought, timeout=15_000)

    # Cancel B while B is in front: the row says so, and no notification (the notebook shows it itself).
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=B).click()
    page.wait_for_function("path => window.jupyterapp.shell.currentWidget?.context?.path === path", arg=B)
    glaciers.locator(".jp-GeminiRuns-cancel").click()
    expect(badge).to_have_text("■ cancelled", timeout=30_000)
    expect(badge).to_have_class(re.compile("jp-GeminiRuns-badge-warning"))
    expect(glaciers.locator(".jp-GeminiRuns-cancel")).to_be_hidden()
    page.wait_for_timeout(3_000)  # two polls
    expect(page.locator(TOAST, has_text=B)).to_have_count(0)

    # Open notebook brings A back.
    tides.locator(".jp-GeminiRuns-open").click()
    page.wait_for_function("path => window.jupyterapp.shell.currentWidget?.context?.path === path", arg=A)

    # The status bar: the chain, model, turns, tokens and cost of the notebook in front.
    status = page.locator(".jp-GeminiStatus")
    expect(status).to_have_text(re.compile(r"^Gemini: \S+ · .+ · \d+ turns? · [\d.]+k? tokens · ≈ \$"))
    summary = sidebar.locator(".jp-GeminiRuns-summary")
    expect(summary).to_have_text(re.compile(r"^\d+ runs?$"))
    assert page.errors == [], page.errors


# -- %%gemini cells are highlighted ---------------------------------------------------------------------

HIGHLIGHT = "highlight_cells.ipynb"
PROMPT = (
    "%%gemini --model gemini-3-flash-preview -t 0.2 --background summary\n"
    "# Tide pools\n"
    "Don't *panic*: use **bold**, `code` and {data.columns[0]}, not {{literal}} or ${HOME}."
)
PYTHON = "x = 'a string'  # a comment"
# Text and classes of the highlighted spans in a cell's editor.
SPANS = """cell => [...cell.querySelectorAll('.cm-content [class*="cm-gemini-"]')]
  .map(e => [e.className.split(' ').filter(c => c.startsWith('cm-gemini-')).join(' '), e.textContent])"""
COLOR = "e => getComputedStyle(e).color"
# The colour a CSS variable of the theme resolves to.
RESOLVE = """name => {
  const e = document.createElement('span');
  e.style.color = `var(${name})`;
  document.body.append(e);
  const colour = getComputedStyle(e).color;
  e.remove();
  return colour;
}"""


def spans(cell: Any, kind: str) -> list[str]:
    return [text for classes, text in cell.evaluate(SPANS) if f"cm-gemini-{kind}" in classes.split()]


def test_gemini_cells_are_highlighted_as_a_magic_line_and_markdown(
    open_notebook: Any, lab: Lab, artifacts: Path
) -> None:
    write_notebook(lab, HIGHLIGHT, [PROMPT, PYTHON])
    nb = open_notebook(HIGHLIGHT)
    page = nb.page
    gemini, python = nb.cell(0), nb.cell(1)
    expect(gemini.locator(".cm-gemini-magic")).to_have_text("%%gemini")
    assert spans(gemini, "flag") == ["--model", "-t", "--background"]
    assert spans(gemini, "value") == ["gemini-3-flash-preview", "0.2"]
    assert spans(gemini, "name") == ["summary"]  # --background takes no value: the NAME follows it
    assert "Tide pools" in "".join(spans(gemini, "heading"))
    assert spans(gemini, "emphasis") == ["panic"] or "panic" in "".join(spans(gemini, "emphasis"))
    assert "bold" in "".join(spans(gemini, "strong"))
    assert "code" in "".join(spans(gemini, "code"))
    assert spans(gemini, "reference") == ["{data.columns[0]}"]  # not {{literal}}, not ${HOME}
    assert python.evaluate(SPANS) == [], "a Python cell got the %%gemini highlighting"

    # The apostrophe of "Don't" opens no Python string: the prose is not coloured as one.
    string_colour = python.locator(".cm-line span", has_text="'a string'").evaluate(COLOR)
    prose = gemini.locator(".cm-line", has_text="Don't")
    assert prose.evaluate(COLOR) != string_colour
    assert all(
        span.evaluate(COLOR) != string_colour
        for span in prose.locator("span").all()
        if "cm-gemini-value" not in (span.get_attribute("class") or "")
    )

    # Typing makes a cell a %%gemini cell, and back.
    set_source = (
        "([i, s]) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.setSource(s)"
    )
    page.evaluate(set_source, [1, "%%gemini -m x\n*hi* {name}"])
    expect(python.locator(".cm-gemini-reference")).to_have_text("{name}")
    page.evaluate(set_source, [1, PYTHON])
    expect(python.locator('[class*="cm-gemini-"]')).to_have_count(0)
    nb.screenshot(artifacts, "lab-highlight-light")
    gemini.screenshot(path=str(artifacts / "lab-highlight-cell-light.png"))

    # Light and dark: the theme's editor colours.
    for kind, variable in (("flag", "attribute"), ("value", "string"), ("magic", "keyword")):
        colour = gemini.locator(f".cm-gemini-{kind}").first.evaluate(COLOR)
        assert colour == page.evaluate(RESOLVE, f"--jp-mirror-editor-{variable}-color"), kind
    light = gemini.locator(".cm-gemini-flag").first.evaluate(COLOR)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    try:
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        expect(gemini.locator(".cm-gemini-flag").first).not_to_have_css("color", light, timeout=10_000)
        dark = gemini.locator(".cm-gemini-flag").first.evaluate(COLOR)
        assert dark == page.evaluate(RESOLVE, "--jp-mirror-editor-attribute-color")
        nb.screenshot(artifacts, "lab-highlight-dark")
        gemini.screenshot(path=str(artifacts / "lab-highlight-cell-dark.png"))
    finally:
        page.evaluate(
            "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
        )
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=20_000)
    assert page.errors == [], page.errors


# -- what runs carry stays text -------------------------------------------------------------------------

POISONED = "<img src=x onerror=window.__gm_pwned_name=1>.ipynb"  # a notebook's name
TITLE = '<img src=x onerror="window.__gm_pwned_title=1"> Poisoned research [emulator: unsafe_html]'
BROKEN = "<img src=x onerror=window.__gm_pwned_fail=1>"
POISONED_CELLS = [
    "%load_ext gemini_magics",
    f"%%gemini deep --new --research\n{TITLE}",
    f"%%gemini broken --new --research\nBroken research [emulator: fail={BROKEN}]",
]
# Control: the sidebar's texts given to innerHTML (renamed so they set other globals) do run.
CONTROL = """texts => {
  const box = document.createElement('div');
  box.innerHTML = texts.map(t => t.replaceAll('__gm_pwned', '__gm_control')).join('<br>');
  document.body.append(box);
}"""


def test_payloads_in_runs_stay_inert_in_the_sidebar_the_report_and_the_notifications(
    open_notebook: Any, lab: Lab, artifacts: Path
) -> None:
    write_notebook(lab, POISONED, POISONED_CELLS)
    write_notebook(lab, "sidebar_start.ipynb", ["1 + 1"])
    page = open_notebook("sidebar_start.ipynb").page
    nb = open_in_page(page, lab, POISONED)
    nb.execute_quietly("%config GeminiMagics.emulator_agent_seconds = 4")
    nb.run_all()
    nb.wait_until_done()
    save_and_close(page)  # the runs end while the notebook is closed: notifications name it
    sidebar = show_sidebar(page)
    # This notebook's rows (test_lab_security ran the same prompts in another notebook of this server).
    deep = row(page, POISONED).filter(has_text="Poisoned research")
    broken = row(page, POISONED).filter(has_text="Broken research")
    expect(deep.locator(".jp-GeminiRuns-badge")).to_have_text("✓ completed", timeout=60_000)
    expect(broken.locator(".jp-GeminiRuns-badge")).to_have_text("✗ failed", timeout=60_000)

    # Everything is on screen as text.
    expect(deep.locator(".jp-GeminiRuns-run-notebook")).to_have_text(POISONED)
    expect(deep.locator(".jp-GeminiRuns-run-title")).to_contain_text(
        '<img src=x onerror="window.__gm_pwned_title=1">'
    )
    expect(broken.locator(".jp-GeminiRuns-run-error")).to_contain_text(BROKEN)
    thought = deep.locator(".jp-GeminiRuns-run-thought")
    expect(thought).to_contain_text("<script>")
    toasts = page.locator(TOAST, has_text="<img src=x onerror=window.__gm_pwned_name")
    expect(toasts.first).to_be_visible(timeout=10_000)
    page.wait_for_timeout(500)  # a failing <img> fires onerror within milliseconds
    check_inert(page, sidebar, "the sidebar")
    check_inert(page, page.locator(".Toastify"), "the notifications")

    # The report, rendered: its payloads are inert, its links harmless when clicked.
    deep.locator(".jp-GeminiRuns-report").click()
    report = page.locator(REPORT)
    expect(report.locator(".jp-GeminiReport-body h1")).to_contain_text("Poisoned research", timeout=15_000)
    expect(
        report.get_by_text("<script>window.__gm_pwned = 'source script'</script>", exact=False).first
    ).to_be_attached()
    page.wait_for_timeout(500)
    check_inert(page, report, "the report tab")
    check_inert(page, page.locator(".lm-DockPanel-tabBar").first, "the report's tab title")
    page.screenshot(path=str(artifacts / "lab-sidebar-payloads.png"), full_page=True)
    assert page.evaluate(CLICK_ALL, report.element_handle()) > 3
    page.wait_for_timeout(500)
    assert page.evaluate(PWNED) == [], "clicking in the report ran a payload"

    # Control: the same texts as HTML would have run, so the checks above bite.
    texts = [deep.locator(".jp-GeminiRuns-run-notebook").inner_text(), thought.inner_text(), BROKEN]
    page.evaluate(CONTROL, texts)
    page.wait_for_function("() => window.__gm_control_name === 1 && window.__gm_control_fail === 1")
    assert page.errors == [], page.errors
