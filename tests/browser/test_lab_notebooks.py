"""Every example notebook, run in JupyterLab in Chromium, shows what a user should see.

Each notebook in notebooks/ is opened, run with Run All against the offline emulator and checked for what
never belongs on screen (widget placeholders or errors, tracebacks outside cells tagged
``raises-exception``, page errors); every prompt cell must show its widget view. A notebook with more to
prove registers a check below under its file name; a new notebook needs nothing here to be covered.
Screenshots of each final state go to test-artifacts/browser/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from gemini_magics.options import SUBCOMMANDS

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

Check = Callable[[Any], Any]
BEFORE: dict[str, Check] = {}  # set-up in the kernel before Run All (never part of the notebook)
DURING: dict[str, Check] = {}  # watches the page while the cells run; returns what it saw
AFTER: dict[str, Callable[[Any, Any], None]] = {}  # checks the final state (and what DURING saw)
FOCUS: dict[str, str] = {}  # the cell to scroll to before the screenshot (start of its source)


def is_prompt(source: str) -> bool:
    """A cell that sends a prompt: ``%%gemini …`` or ``%gemini`` with a first word that is no subcommand."""
    if source.startswith("%%gemini"):
        return True
    words = source.split()
    return bool(words) and words[0] == "%gemini" and len(words) > 1 and words[1] not in SUBCOMMANDS


@pytest.mark.parametrize("name", NAMES)
def test_notebook_in_jupyterlab(name: str, open_notebook: Any, artifacts: Path) -> None:
    stem = Path(name).stem
    nb = open_notebook(name)
    nb.page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    if stem in BEFORE:
        BEFORE[stem](nb)
    nb.run_all()
    seen = DURING[stem](nb) if stem in DURING else None
    nb.wait_until_done()

    for i, cell in enumerate(nb.nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and is_prompt(cell.source) and "raises-exception" not in tags:
            view = nb.outputs(i).locator(".jupyter-widgets")
            expect(view.first, f"cell {i} shows no widget view").to_be_visible(timeout=10_000)
    if stem in AFTER:
        AFTER[stem](nb, seen)
    problems = nb.problems()
    if stem in FOCUS:
        nb.cell(nb.index(FOCUS[stem])).scroll_into_view_if_needed()
    nb.screenshot(artifacts)
    assert not problems, problems


def test_saved_notebooks_read_well_before_running(open_notebook: Any, lab: Any, artifacts: Path) -> None:
    """Opened as committed, without running: every answer shows its static Markdown (and PNG) view."""
    saved = lab.root / "as-committed"
    saved.mkdir(exist_ok=True)
    for name in NAMES:
        (saved / name).write_bytes((NOTEBOOKS / name).read_bytes())
        nb = open_notebook(f"as-committed/{name}")
        for i, cell in enumerate(nb.nb.cells):
            if cell.cell_type == "code" and is_prompt(cell.source) and cell.outputs:
                if "raises-exception" in cell.metadata.get("tags", []):
                    continue
                badge = nb.outputs(i).locator(".jp-RenderedMarkdown code", has_text="offline emulator")
                expect(badge.first, f"{name} cell {i}").to_be_visible()
        assert not nb.problems(), (name, nb.problems())
    nb.screenshot(artifacts, "as_committed_" + Path(NAMES[-1]).stem)


# -- quick start ------------------------------------------------------------------------------------------


def after_quick_start(nb: Any, seen: Any) -> None:
    joke = nb.outputs(nb.index("%%gemini\nTell me a short joke"))
    expect(joke.locator("code", has_text="offline emulator").first).to_be_visible()
    expect(joke.locator(".jp-RenderedMarkdown sub", has_text="gemini-3-flash-preview").first).to_be_visible()
    bullets = nb.outputs(nb.index("%%gemini answer")).locator(".jp-RenderedMarkdown li")
    expect(bullets).to_have_count(3)
    error = nb.outputs(nb.index("%%gemini --temperature 5")).locator(".jp-OutputArea-output")
    expect(error).to_have_count(1)
    assert error.inner_text().strip() == "UsageError: --temperature must be between 0.0 and 2.0"


AFTER["01_quick_start"] = after_quick_start
FOCUS["01_quick_start"] = "%%gemini\nTell me a short joke"


# -- conversations ----------------------------------------------------------------------------------------


def after_conversations(nb: Any, seen: Any) -> None:
    names = [
        nb.outputs(i).locator(".jp-RenderedMarkdown strong").last.inner_text()
        for i, cell in enumerate(nb.nb.cells)
        if cell.source.endswith("What is my name?") and "--no-store" not in cell.source
    ]
    assert names == ["Phil", "Anna", "Phil"], names  # the chain, after a new name, and a branch
    stateless = nb.outputs(nb.index("%%gemini --no-store"))
    expect(stateless.get_by_text("You haven't told me your name yet.")).to_be_visible()
    history = nb.outputs(nb.index("%gemini history")).locator("table tbody tr")
    expect(history).to_have_count(7)
    expect(history.filter(has_text="◀ head")).to_have_count(1)


AFTER["02_conversations"] = after_conversations
FOCUS["02_conversations"] = "%%gemini branch --from intro"


# -- thinking ---------------------------------------------------------------------------------------------


def after_thinking(nb: Any, seen: Any) -> None:
    first = nb.outputs(nb.index("%%gemini --new --thinking low"))
    accordion = first.locator(".widget-accordion")
    expect(accordion).to_have_count(1)
    header = accordion.locator(".jupyter-widget-Collapse-header")
    expect(header).to_have_text("Thoughts")
    thought = accordion.get_by_text("Understanding the request")
    expect(thought).to_be_hidden()  # collapsed until the user opens it
    header.click()
    expect(thought).to_be_visible()
    expect(accordion.get_by_text("thinking level: low")).to_be_visible()
    quiet = nb.outputs(nb.index("%%gemini quiet --no-thoughts"))
    expect(quiet.locator(".widget-accordion")).to_have_count(0)


AFTER["03_thinking"] = after_thinking
FOCUS["03_thinking"] = "%%gemini --new --thinking low"


# -- streaming --------------------------------------------------------------------------------------------


def before_streaming(nb: Any) -> None:
    # Pace the in-kernel emulator (12 deltas of ~3 words a second) so the stream can be watched.
    nb.execute_quietly("%config GeminiMagics.emulator_directives = 'rate=12'")


def during_streaming(nb: Any) -> list[str]:
    """Snapshots of the first prompt cell's output while it runs."""
    index = next(i for i, c in enumerate(nb.nb.cells) if is_prompt(c.source))
    prompt = nb.cell(index).locator(".jp-InputPrompt")
    out = nb.cell(index).locator(".jp-Cell-outputArea")
    snapshots: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = " ".join(out.inner_text(timeout=5_000).split())
        if text and (not snapshots or snapshots[-1] != text):
            snapshots.append(text)
        if re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()) and "tokens" in text:
            break
        time.sleep(0.05)
    return snapshots


def after_streaming(nb: Any, snapshots: list[str]) -> None:
    final = snapshots[-1]
    assert "quantum entanglement" in final and "tokens" in final, final
    answer = "Keep the answer short and concrete"
    live = [s for s in snapshots if "is answering…" in s]
    assert live, f"the live view never showed: {snapshots}"
    partial = [s for s in live if "quantum entanglement" in s.lower() and answer not in s]
    assert partial, f"no partial answer was seen while streaming: {snapshots}"
    assert any(answer in s for s in live), "the live view did not show the whole answer before the final view"
    assert "is answering…" not in final


BEFORE["04_streaming"] = before_streaming
DURING["04_streaming"] = during_streaming
AFTER["04_streaming"] = after_streaming


# -- image generation -------------------------------------------------------------------------------------


def after_image_generation(nb: Any, seen: Any) -> None:
    for start in ("%%gemini picture", "%%gemini -m gemini-3-pro-image-preview\nNow"):
        image = nb.outputs(nb.index(start)).locator("img.widget-image")
        expect(image).to_have_count(1)
        assert image.evaluate("i => i.complete && i.naturalWidth") == 256
    shown = nb.cell(nb.index("Image(data=")).locator(".jp-RenderedImage img")
    assert shown.evaluate("i => i.complete && i.naturalWidth") == 256


AFTER["05_image_generation"] = after_image_generation
FOCUS["05_image_generation"] = "%%gemini picture"
