"""Every example notebook, run in JupyterLab in Chromium, shows what a user should see.

Each notebook in notebooks/ is opened, run with Run All against the offline emulator and checked for what
never belongs on screen (widget placeholders or errors, tracebacks outside cells tagged
``raises-exception``, page errors); every prompt cell must show its widget view. A notebook with more to
prove registers a check below under its file name; a new notebook needs nothing here to be covered.
Screenshots of each final state go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
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


def is_map(source: str) -> bool:
    """A ``--map`` cell: its answers are the rows of a DataFrame under a summary line, not one answer."""
    return source.startswith("%%gemini") and "--map" in source.split("\n", 1)[0].split()


def shows_widget(source: str) -> bool:
    """A prompt cell whose answer has a widget view (``--wait`` leaves only the static report, by design)."""
    return is_prompt(source) and "--wait" not in source.splitlines()[0].split()


@pytest.mark.parametrize("name", NAMES)
def test_notebook_in_jupyterlab(name: str, open_notebook: Any, artifacts: Path) -> None:
    stem = Path(name).stem
    nb = open_notebook(name)
    nb.artifacts = artifacts  # for hooks that take screenshots of their own
    nb.page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    if stem in BEFORE:
        BEFORE[stem](nb)
    nb.run_all()
    seen = DURING[stem](nb) if stem in DURING else None
    nb.wait_until_done()

    for i, cell in enumerate(nb.nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and shows_widget(cell.source) and "raises-exception" not in tags:
            view = nb.outputs(i).locator(".jupyter-widgets")
            expect(view.first, f"cell {i} shows no widget view").to_be_visible(timeout=10_000)
    if stem in AFTER:
        AFTER[stem](nb, seen)
    problems = nb.problems()
    if stem in FOCUS:
        nb.cell(nb.index(FOCUS[stem])).scroll_into_view_if_needed()
    nb.screenshot(artifacts)
    assert not problems, problems


UP_TO_MARKDOWN = "xpath=ancestor::div[contains(@class, 'jp-RenderedMarkdown')]"


def test_saved_notebooks_read_well_before_running(open_notebook: Any, lab: Any, artifacts: Path) -> None:
    """Opened as committed, without running: every answer shows its static Markdown (and PNG) view."""
    saved = lab.root / "as-committed"
    saved.mkdir(exist_ok=True)
    for name in NAMES:
        (saved / name).write_bytes((NOTEBOOKS / name).read_bytes())
        nb = open_notebook(f"as-committed/{name}")
        pictured = False  # a screenshot of the first image answer of each notebook
        for i, cell in enumerate(nb.nb.cells):
            if cell.cell_type == "code" and is_prompt(cell.source) and cell.outputs:
                if "raises-exception" in cell.metadata.get("tags", []):
                    continue
                if is_map(cell.source):  # the summary over the DataFrame; with --background, the handle
                    summary = nb.outputs(i).locator(".jp-RenderedMarkdown strong", has_text="--map")
                    handle = nb.outputs(i).get_by_text(re.compile(r"^<MapJob: \d+ rows"))
                    expect(summary.or_(handle).first, f"{name} cell {i}").to_be_visible()
                    continue
                said = re.compile("^(offline emulator|replayed)$")  # 13_replay: replayed emulator answers
                badge = nb.outputs(i).locator(".jp-RenderedMarkdown code", has_text=said)
                expect(badge.first, f"{name} cell {i}").to_be_visible()
                # An image answer shows its image: the PNG rides in the Markdown JupyterLab picks, as a
                # data URI its sanitizer keeps (an untrusted notebook), not only beside it.
                pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
                images = nb.outputs(i).locator('.jp-RenderedMarkdown img[src^="data:image/png;base64,"]')
                expect(images, f"{name} cell {i}").to_have_count(len(pngs))
                for k in range(len(pngs)):
                    assert images.nth(k).evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
                    shown_in = images.nth(k).locator(UP_TO_MARKDOWN)
                    expect(shown_in).not_to_have_class(re.compile("jp-mod-trusted"))  # sanitized
                if pngs and not pictured:
                    pictured = True
                    nb.cell(i).scroll_into_view_if_needed()
                    nb.screenshot(artifacts, "as_committed_" + Path(name).stem)
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


# -- code execution and built-in tools --------------------------------------------------------------------

# The colours CodeMirror gives the tokens of a rendered code block (JupyterLab highlights fenced code).
TOKEN_COLOURS = "e => [...new Set([...e.querySelectorAll('span')].map(s => getComputedStyle(s).color))]"


def highlighted(code: Any, language: str) -> None:
    """``code`` is a ``<code class="language-…">`` block whose tokens CodeMirror coloured: at least two
    colours besides that of the code's plain text."""
    expect(code).to_have_attribute("class", f"language-{language}")
    plain = code.evaluate("e => getComputedStyle(e).color")
    colours = set(code.evaluate(TOKEN_COLOURS)) - {plain}
    assert len(colours) >= 2, (colours, plain)


def after_code_execution(nb: Any, seen: Any) -> None:
    primes = nb.outputs(nb.index("%%gemini primes")).locator(".jupyter-widgets")
    expect(primes.locator("strong", has_text="Code execution")).to_be_visible()
    code = primes.locator("pre code.language-python")
    expect(code).to_contain_text("while len(primes) < 50:")
    highlighted(code, "python")
    output = primes.locator("p:has(strong:text-is('Output')) + pre")
    expect(output).to_have_text("The first 50 primes sum to 5117")
    expect(primes.get_by_text("it printed")).to_be_visible()

    failing = nb.outputs(nb.index("%%gemini --tools code_execution")).locator(".jupyter-widgets")
    highlighted(failing.locator("pre code.language-python"), "python")
    error = failing.locator("p:has(strong:text-is('Error')) + pre")
    expect(error).to_contain_text("Traceback (most recent call last)")
    expect(error).to_contain_text("KeyError: 'banana'")
    expect(failing.locator("strong", has_text="Output")).to_have_count(0)

    search = nb.outputs(nb.index("%%gemini --new --tools google_search")).locator(".jupyter-widgets")
    expect(search.locator("strong", has_text="Google Search")).to_be_visible()
    links = search.locator("li a")
    expect(links).to_have_count(3)
    wikipedia = links.filter(has_text="James Webb Space Telescope - Wikipedia")
    expect(wikipedia).to_have_attribute("href", "https://en.wikipedia.org/wiki/James_Webb_Space_Telescope")
    assert all(h.startswith("https://") for h in links.evaluate_all("l => l.map(a => a.href)"))


AFTER["06_code_execution"] = after_code_execution
FOCUS["06_code_execution"] = "%%gemini --tools code_execution"


# -- image input ------------------------------------------------------------------------------------------


def after_image_input(nb: Any, seen: Any) -> None:
    for start, width in (("from PIL import", 320), ("sketch = ", 160)):  # the PIL images the cells show
        shown = nb.outputs(nb.index(start)).locator(".jp-RenderedImage img")
        assert shown.evaluate("i => i.complete && i.naturalWidth") == width
    answers = {
        "%%gemini --new --image chart": "I see 1 image (320×200 PNG). Its main colours: white, steel blue.",
        "%%gemini\nHere is a chart": "I see 2 images (320×200 PNG, 160×160 PNG). Main colours — image 1: "
        "white, steel blue; image 2: white, orange, sea green.",
        "%%gemini --file data/sales.csv": "I see 1 document (text/csv, 72 bytes).",
    }
    for start, said in answers.items():
        view = nb.outputs(nb.index(start)).locator(".jupyter-widgets")
        expect(view.get_by_text(said, exact=True)).to_be_visible()
    missing = nb.outputs(nb.index("%%gemini --image data/missing.png")).locator(".jp-OutputArea-output")
    expect(missing).to_have_text("UsageError: --image data/missing.png: no such file or notebook variable")


AFTER["07_image_input"] = after_image_input
FOCUS["07_image_input"] = "sketch = "


# -- function calling -------------------------------------------------------------------------------------


def function_calls(view: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of every function call view: the name, and the arguments' JSON block."""
    import json

    titles = view.locator("p:has(strong:text-is('Function call'))")
    names = [t.locator("code").inner_text() for t in titles.all()]
    arguments = view.locator("p:has(strong:text-is('Function call')) + pre code.language-json")
    assert arguments.count() == len(names)
    for i in range(arguments.count()):
        highlighted(arguments.nth(i), "json")
    return list(zip(names, [json.loads(a) for a in arguments.all_inner_texts()], strict=True))


def after_function_calling(nb: Any, seen: Any) -> None:
    first = nb.outputs(nb.index("%%gemini --new --tool get_weather")).locator(".jupyter-widgets")
    assert function_calls(first) == [("get_weather", {"city": "Paris", "unit": "celsius"})]
    result = first.locator("p:has(strong:text-is('Function result')) + pre")
    expect(result).to_contain_text('"temperature": 18')

    trip = nb.outputs(nb.index("%%gemini trip")).locator(".jupyter-widgets")
    assert function_calls(trip) == [
        ("get_weather", {"city": "Tokyo", "unit": "celsius"}),
        ("get_weather", {"city": "Oslo", "unit": "celsius"}),
        ("get_local_time", {"city": "Tokyo"}),
        ("get_local_time", {"city": "Oslo"}),
    ]  # parallel calls, each answered
    results = trip.locator("p:has(strong:text-is('Function result')) + pre")
    assert [" ".join(r.split()) for r in results.all_inner_texts()][2:] == ["21:00", "14:00"]
    printed = nb.outputs(nb.index("for call in trip.function_calls"))
    expect(printed).to_contain_text("get_local_time({'city': 'Oslo'}) -> 14:00")

    failed = nb.outputs(nb.index("%%gemini converted")).locator(".jupyter-widgets")
    assert function_calls(failed) == [("convert_currency", {"amount": 100.0, "currency": "CHF"})]
    error = failed.locator("p:has(strong:text-is('Function error')) + pre")
    expect(error).to_have_text("ValueError: no exchange rate for 'CHF'; known: USD, GBP, JPY")
    expect(failed.locator("li", has_text="failed: ValueError: no exchange rate")).to_be_visible()


AFTER["08_function_calling"] = after_function_calling
FOCUS["08_function_calling"] = "%%gemini trip"


# -- structured output ------------------------------------------------------------------------------------


def after_structured_output(nb: Any, seen: Any) -> None:
    import json

    for start, key, value in (
        ("%%gemini recipe", "name", "Fluffy pancakes"),
        ("%%gemini novel", "title", "Classic science fiction novel"),
    ):
        view = nb.outputs(nb.index(start)).locator(".jupyter-widgets")
        answer = view.locator("pre code.language-json")  # shown as a JSON block, not a paragraph
        expect(answer).to_have_count(1)
        highlighted(answer, "json")
        assert json.loads(answer.inner_text())[key] == value
    parsed = nb.outputs(nb.index("recipe.parsed"))
    expect(parsed).to_contain_text("Recipe(name='Fluffy pancakes'")


AFTER["09_structured_output"] = after_structured_output
FOCUS["09_structured_output"] = "%%gemini recipe"


# -- deep research ----------------------------------------------------------------------------------------

RESEARCH_SECONDS = 8  # the emulator's agent: a thought summary every 1.3 s, the report after 8 s
PROMPT_NUMBER = re.compile(r"\[\d+\]:")
CLOCK = re.compile(r"(?:in_progress|queued) · (\d+:\d{2})\b")  # the status line's elapsed time
THOUGHTS = re.compile(r"\b(\d+) thoughts?\b")


def before_deep_research(nb: Any) -> None:
    # The live widgets' claim to prove holds for ipykernel 7 (DESIGN.md's pitfalls): check the kernel has it.
    nb.execute_quietly("import ipykernel; assert ipykernel.__version__.startswith('7.')")
    nb.execute_quietly(f"%config GeminiMagics.emulator_agent_seconds = {RESEARCH_SECONDS}")


def during_deep_research(nb: Any) -> list[dict[str, Any]]:
    """Snapshots of the research widget, the panel and the prompts of the cells after it, until the report."""
    research, work = nb.index("%%gemini reefs"), nb.index("import time")
    panel, wait = nb.index("%gemini panel"), nb.index("%gemini wait")
    widget = nb.outputs(research).locator(".widget-vbox").first
    expect(widget.locator(".widget-hprogress")).to_be_visible(timeout=30_000)
    snapshots: list[dict[str, Any]] = []
    shot = shot_panel = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        prompts = [nb.cell(i).locator(".jp-InputPrompt").inner_text().strip() for i in (research, work, wait)]
        done = [bool(PROMPT_NUMBER.fullmatch(p)) for p in prompts]
        bar = widget.locator(".widget-hprogress .progress-bar").first.get_attribute("class") or ""
        snapshots.append(
            {
                "t": time.monotonic(),
                "working": done[0] and not done[1],  # the research cell returned; the CPU-bound cell runs
                "widget": " ".join(widget.inner_text(timeout=5_000).split()),
                "bar": bar,
                "panel": " ".join(nb.outputs(panel).inner_text(timeout=5_000).split()),
            }
        )
        count = THOUGHTS.search(snapshots[-1]["widget"])
        if not shot and snapshots[-1]["working"] and count and int(count.group(1)) >= 2:
            nb.cell(research).scroll_into_view_if_needed()
            nb.screenshot(nb.artifacts, "10_deep_research-running")
            shot = True
        if not shot_panel and done[1] and not done[2] and "in_progress" in snapshots[-1]["panel"]:
            nb.cell(research).evaluate("e => e.scrollIntoView({block: 'start'})")  # widget and panel
            nb.screenshot(nb.artifacts, "10_deep_research-waiting")
            shot_panel = True
        if done[2]:
            break
        time.sleep(0.1)
    return snapshots


def after_deep_research(nb: Any, snapshots: list[dict[str, Any]]) -> None:
    start = snapshots[0]["t"] if snapshots else 0.0
    seen = [dict(s, t=round(s["t"] - start, 2)) for s in snapshots]
    (nb.artifacts / "10_deep_research-snapshots.json").write_text(json.dumps(seen, indent=1))
    # 1. While the CPU-bound cell ran, the widget advanced: its clock and its thought summaries changed.
    working = [s for s in snapshots if s["working"]]
    assert len(working) >= 5, f"the cell after the research cell was hardly seen running: {snapshots[:3]}"
    clocks = [m.group(1) for s in working if (m := CLOCK.search(s["widget"]))]
    counts = [int(m.group(1)) if (m := THOUGHTS.search(s["widget"])) else 0 for s in working]  # 1.3 s apart
    assert len(set(clocks)) >= 2, f"the elapsed time did not move while another cell ran: {clocks}"
    assert max(counts) > min(counts), f"no new thought summary while another cell ran: {counts}"
    assert all("progress-bar-info" in s["bar"] for s in working)  # tqdm.notebook: info while running
    # Once there are two summaries, the older ones are collapsed (on a loaded machine the CPU-bound cell
    # may be over before the second summary: look at every snapshot, not only those taken during it).
    several = [s for s in snapshots if (m := THOUGHTS.search(s["widget"])) and int(m.group(1)) >= 2]
    assert several, f"never two thought summaries: {[s['widget'][:120] for s in snapshots[-3:]]}"
    assert any("Earlier thoughts" in s["widget"] for s in several)
    assert any("in_progress" in s["panel"] for s in snapshots), "the panel never showed the run running"

    # 2. The widget ends in the rendered report: Markdown, numbered citations, the sources' links.
    research = nb.outputs(nb.index("%%gemini reefs"))
    expect(research.locator(".progress-bar-success")).to_have_count(1)
    report = research.locator(".jp-RenderedMarkdown")
    expect(report.locator("h1", has_text="Research report: Coral reef restoration methods")).to_be_visible()
    expect(report.get_by_text("[cite:", exact=False)).to_have_count(0)  # the [cite: N] markers became links
    cited = research.locator('.jp-RenderedMarkdown p a[href^="https://vertexaisearch.cloud.google.com/"]')
    assert cited.count() >= 5 and set(cited.all_inner_texts()) == {"1", "2", "3"}, cited.all_inner_texts()
    links = research.locator('.jp-RenderedMarkdown li a[href^="https://"]')  # the Sources list
    assert links.count() == 3, links.all_inner_texts()
    # Deep Research's Sources list: the source's domain, linked through a grounding redirect
    assert "en.wikipedia.org" in links.all_inner_texts()
    assert all(
        str(links.nth(i).get_attribute("href")).startswith(
            "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
        )
        for i in range(links.count())
    )
    expect(research.get_by_role("button", name="Cancel")).to_be_hidden()  # the live part gave way
    waited = nb.outputs(nb.index("%gemini wait"))
    expect(waited.locator("h1", has_text="Research report: Coral reef")).to_be_visible()

    # 3. The follow-up cell continued the conversation from the report; the history mixes agent and model.
    follow = nb.outputs(nb.index("%%gemini\nBased on the report"))
    expect(follow.get_by_text("Coral reef restoration methods and their success rates")).to_be_visible()
    history = nb.outputs(nb.index("%gemini history")).locator("table tbody tr")
    expect(history.filter(has_text="deep-research-pro-preview-12-2025")).to_have_count(1)

    # 4. The panel lists every run, completed, and updated itself after it was displayed: the two reports,
    # the plan, its revision and the approved research (test_lab_planning.py follows those in detail).
    panel = nb.outputs(nb.index("%gemini panel"))
    expect(panel.get_by_text("Background runs of this notebook: 5")).to_be_visible()
    expect(panel.locator(".widget-html", has_text="✓ completed")).to_have_count(5)
    nb.cell(nb.index("%%gemini reefs")).scroll_into_view_if_needed()
    nb.screenshot(nb.artifacts, "10_deep_research-report")

    # 5. A third run, started from a new cell, cancelled with its Cancel button: the warning style.
    started = time.monotonic()
    nb.page.evaluate(
        """async source => {
          const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
          notebook.activeCellIndex = notebook.widgets.length - 1;
          await app.commands.execute('notebook:insert-cell-below');
          notebook.activeCell.model.sharedModel.setSource(source);
          await app.commands.execute('notebook:run-cell');
        }""",
        "%%gemini --research\nKelp forest restoration methods",
    )
    cancelled = nb.outputs(len(nb.nb.cells))
    expect(cancelled.get_by_text("1 thought")).to_be_visible(timeout=15_000)  # running
    cancelled.get_by_role("button", name="Cancel").click()
    expect(cancelled.locator(".progress-bar-warning")).to_have_count(1, timeout=10_000)
    expect(cancelled.get_by_text("■ cancelled after")).to_be_visible()
    expect(cancelled.get_by_text("Cancel: cancelled", exact=True)).to_be_visible()  # the outcome, said once
    expect(cancelled.get_by_text("cancelling")).to_have_count(0)
    assert time.monotonic() - started < RESEARCH_SECONDS, "the run was not cancelled before it ended"
    expect(panel.get_by_text("Background runs of this notebook: 6")).to_be_visible()
    expect(panel.locator(".widget-html", has_text="■ cancelled")).to_have_count(1)
    nb.cell(len(nb.nb.cells)).scroll_into_view_if_needed()
    nb.screenshot(nb.artifacts, "10_deep_research-cancelled")


BEFORE["10_deep_research"] = before_deep_research
DURING["10_deep_research"] = during_deep_research
AFTER["10_deep_research"] = after_deep_research
FOCUS["10_deep_research"] = "%%gemini reefs"


# -- prompts over data ------------------------------------------------------------------------------------


def after_map_over_data(nb: Any, seen: Any) -> None:
    """Each job's progress bar ends green, or red when a row failed (the umbrella review); the re-run
    reuses the eleven answered rows."""
    styles = {}
    for i, cell in enumerate(nb.nb.cells):
        refused = "raises-exception" in cell.metadata.get("tags", [])  # the cost gate
        if cell.cell_type == "code" and is_map(cell.source) and not refused:
            bar = nb.outputs(i).locator(".gemini-map-progress .progress-bar")
            expect(bar).to_have_count(1)
            styles[cell.source.split("\n", 1)[0]] = bar.get_attribute("class")
    assert "progress-bar-success" in styles["%%gemini gist --map reviews --limit 3"], styles
    assert "progress-bar-danger" in styles["%%gemini summaries --map reviews --into gist"], styles
    rerun = [i for i, c in enumerate(nb.nb.cells) if c.source.startswith("%%gemini summaries")][-1]
    note = nb.outputs(rerun).locator(".jp-RenderedMarkdown em")
    expect(note).to_have_text("Note: 11 rows answered by an earlier run of this cell were not sent again")


AFTER["14_map_over_data"] = after_map_over_data
FOCUS["14_map_over_data"] = "%%gemini verdicts"


# -- the notebook-aware assistant -------------------------------------------------------------------------


def offers_code(source: str) -> bool:
    """``%gemini fix`` or a ``--code`` prompt: the answer's code is offered as a new cell below, not run."""
    first = source.split("\n", 1)[0].split()
    return first[:2] == ["%gemini", "fix"] or (is_prompt(source) and "--code" in first)


def after_assistant(nb: Any, seen: Any) -> None:
    """In JupyterLab each fix and the ``--code`` answer put their code in a new cell right below them, not
    run — the code of the answer's Python block (as the committed run shows it: nbclient adds no cells) — and
    their note says so; Run All went on without running those cells."""
    cells = nb.page_cells()
    offering = [i for i, cell in enumerate(nb.nb.cells) if offers_code(cell.source)]
    assert len(offering) == 4 and len(cells) == len(nb.nb.cells) + len(offering), cells
    for i in offering:
        added = cells[nb.position(i) + 1]
        assert added["count"] is None and added["outputs"] == 0, added  # offered, not run
        answer = [
            o.data["text/markdown"] for o in nb.nb.cells[i].outputs if "text/markdown" in o.get("data", {})
        ]
        assert f"```python\n{added['source']}\n```" in answer[-1], (added, nb.nb.cells[i].source)
        expect(nb.outputs(i).get_by_text("in a new cell below, not run").first).to_be_visible()
    ratio = nb.index('scores = {"alice": 3, "bob": 0}\nratio = scores["alice"] / scores["bob"] if')
    expect(nb.outputs(ratio)).to_have_text(re.compile(r"nan"))


AFTER["15_assistant"] = after_assistant
FOCUS["15_assistant"] = "%gemini fix use .get"
