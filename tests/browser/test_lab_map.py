"""``%%gemini VAR --map DATA`` in JupyterLab: the progress widget a user watches, and its Cancel button.

Each test writes a small notebook into JupyterLab's root whose rows are slow on purpose: every row carries
an emulator directive (``rate=8, deltas=4``: four text deltas at eight a second, about half a second a
row), and ``--concurrency 2`` keeps two in flight, so a job of 24 rows takes about six seconds — long
enough to watch the bar move and to press Cancel in the middle. The notebooks are the tests' own, not
examples, so they may name the emulator. The widget is sampled while the job runs; what it shows (its
bar's width and style, its line of figures, its button) and what the cell leaves behind are both checked.

Cancel is pressed on a ``--background`` job: while a foreground cell waits for its job, the kernel reads
no widget message, so its widget offers interrupting the kernel instead, which is tested too.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROWS = 24
SLOW = "[emulator: rate=8, deltas=4]"  # about 0.5 s a row
ITEMS = f"items = [f'item {{i}} {SLOW}' for i in range({ROWS})]"
PROMPT = "Say {text}"
CHECK = (
    "frame = out if isinstance(out, pd.DataFrame) else out.result\n"
    "print(len(frame), int(frame.answer.notna().sum()), int(frame.error.isna().sum()),"
    " int(frame.error.fillna('').str.startswith('not sent').sum()))"
)
# What the widget shows, read in one go from its element (the Label is a direct child; the progress
# bar has an empty description label of its own).
STATE = """el => {
  const bar = el.querySelector('.progress-bar');
  const button = el.querySelector('button');
  return {
    label: el.querySelector(':scope > .widget-label')?.textContent ?? '',
    width: bar ? bar.style.width : '',
    style: bar ? [...bar.classList].filter(c => c.startsWith('progress-bar-')).join(' ') : '',
    button: button ? button.textContent.trim() : '',
    disabled: button ? button.disabled : null,
  };
}"""
DONE = re.compile(r"^(\d+)/(\d+) rows")
# The first ``n`` code cells have run (their prompt shows an execution count).
FIRST_EXECUTED = r"""n => {
  const p = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell .jp-InputPrompt')]
              .map(e => e.textContent.trim());
  return p.length >= n && p.slice(0, n).every(t => /^\[\d+\]:$/.test(t));
}"""


def write_notebook(root: Path, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / name)
    return name


def done_of(state: dict[str, Any]) -> int:
    found = DONE.match(state["label"])
    assert found, f"the widget's line does not start with 'N/M rows': {state}"
    assert int(found.group(2)) == ROWS, state
    return int(found.group(1))


def percent(state: dict[str, Any]) -> float:
    assert state["width"].endswith("%"), state
    return float(state["width"][:-1])


def watch(progress: Any, until: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """The widget's distinct states, sampled every 50 ms until ``until(state)`` holds."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = progress.evaluate(STATE)
        if not seen or seen[-1] != state:
            seen.append(state)
        if until(state):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the widget never reached the awaited state; it showed: {seen[-5:]}")


def progress_of(nb: Any, index: int, cancel: bool = True) -> Any:
    progress = nb.outputs(index).locator(".gemini-map-progress")
    expect(progress, f"no progress widget under cell {index}").to_be_visible(timeout=30_000)
    expect(progress.locator(".widget-hprogress .progress-bar")).to_have_count(1)
    expect(progress.locator("button", has_text="Cancel")).to_have_count(1 if cancel else 0)
    return progress.first


def printed(nb: Any, index: int) -> list[int]:
    shown = nb.outputs(index).locator(".jp-OutputArea-output")
    expect(shown).to_have_count(1)
    return [int(n) for n in shown.inner_text().split()]


def run_from(nb: Any, index: int, command: str) -> None:
    """Make the cell at ``index`` active and run ``notebook:run-all-above`` or ``-below`` from it."""
    nb.page.evaluate(
        """([index, command]) => {
          window.jupyterapp.shell.currentWidget.content.activeCellIndex = index;
          window.jupyterapp.commands.execute(command);
        }""",
        [index, command],
    )


def test_the_progress_bar_advances_and_ends_green(open_notebook: Any, lab: Any, artifacts: Path) -> None:
    cells = ["%load_ext gemini_magics\nimport pandas as pd", ITEMS]
    cells += [f"%%gemini out --map items --concurrency 2\n{PROMPT}", CHECK]
    nb = open_notebook(write_notebook(lab.root, "map_progress.ipynb", cells))
    nb.run_all()
    index = nb.index("%%gemini out")
    progress = progress_of(nb, index, cancel=False)  # a foreground job: interrupting the kernel stops it
    seen = watch(progress, lambda s: s["style"] != "progress-bar-info")
    nb.wait_until_done()
    nb.screenshot(artifacts, "map-finished")

    during = [s for s in seen if s["style"] == "progress-bar-info" and 0 < done_of(s) < ROWS]
    assert len({done_of(s) for s in during}) >= 3, f"the row count did not advance while it ran: {seen}"
    counts = [done_of(s) for s in seen]
    assert counts == sorted(counts), f"the row count went backwards: {counts}"
    widths = [percent(s) for s in seen]
    assert widths == sorted(widths), f"the bar went backwards: {widths}"
    assert len({w for w in widths if 0 < w < 100}) >= 3, f"the bar did not move while it ran: {widths}"
    for state in during:
        assert re.search(r" · [\d.]+ rows/s · (ETA \d+:\d\d · )?concurrency [12] · ", state["label"]), state

    final = seen[-1]
    assert final["style"] == "progress-bar-success", final
    assert done_of(final) == ROWS and percent(final) == 100, final
    assert "rows/s" not in final["label"] and final["label"].endswith(" · 0 errors"), final
    expect(progress.locator(":scope > .widget-label").first).to_have_text(final["label"])  # and stays so
    expect(progress.get_by_text("interrupt the kernel")).to_be_hidden()  # nothing left to stop

    summary = nb.outputs(index).locator(".jp-RenderedMarkdown")
    expect(summary).to_contain_text(f"--map {ROWS} answers, 0 errors · {ROWS}/{ROWS} rows")
    assert printed(nb, nb.index("frame =")) == [ROWS, ROWS, ROWS, 0]
    assert nb.problems() == []


def test_cancel_stops_the_job_and_keeps_the_finished_rows(
    open_notebook: Any, lab: Any, artifacts: Path
) -> None:
    """Cancel on a ``--background`` job: no row starts after the click, the bar turns orange, the handle
    says cancelled, the DataFrame holds the finished rows, and the same cell run again sends only the
    others."""
    cells = ["%load_ext gemini_magics\nimport pandas as pd", ITEMS]
    cells += [f"%%gemini out --map items --concurrency 2 --background\n{PROMPT}"]
    cells += [f"print(out.state)\nprint(out.summary())\n{CHECK}"]
    cells += [f"%%gemini again --map items --concurrency 2\n{PROMPT}"]
    nb = open_notebook(write_notebook(lab.root, "map_cancel.ipynb", cells))
    index = nb.index("%%gemini out")
    run_from(nb, index + 1, "notebook:run-all-above")
    nb.page.wait_for_function(FIRST_EXECUTED, arg=3, timeout=30_000)
    progress = progress_of(nb, index)
    watch(progress, lambda s: done_of(s) >= 4)
    progress.locator("button", has_text="Cancel").click()
    seen = watch(progress, lambda s: s["disabled"] is True, timeout=30)
    final = seen[-1]
    kept = done_of(final)
    time.sleep(1.5)  # three rows' time: nothing more may arrive
    assert progress.evaluate(STATE) == final, "the widget changed after the job ended"
    nb.screenshot(artifacts, "map-cancelled")

    assert final["style"] == "progress-bar-warning", f"the bar does not say cancelled: {seen}"
    assert 4 <= kept < ROWS - 2, f"Cancel did not stop the job: {seen}"
    assert percent(final) == pytest.approx(100 * kept / ROWS, abs=0.01), final
    assert "rows/s" not in final["label"], final

    run_from(nb, index + 1, "notebook:run-all-below")
    nb.wait_until_done()
    check = nb.outputs(index + 1).locator(".jp-OutputArea-output")
    expect(check).to_have_count(1)
    state, summary, counts = check.inner_text().strip().split("\n")
    assert state == "cancelled", check.inner_text()
    assert summary == f"{kept} answers, 0 errors, {ROWS - kept} not run (cancelled)", summary
    # Every row is in the DataFrame: the finished ones with their answers, the others marked not sent.
    assert [int(n) for n in counts.split()] == [ROWS, kept, kept, ROWS - kept], counts

    again = nb.outputs(nb.index("%%gemini again")).locator(".jp-RenderedMarkdown")
    expect(again).to_contain_text(f"--map {ROWS} answers, 0 errors · {ROWS}/{ROWS} rows · {kept} from an")
    expect(again).to_contain_text(f"{kept} rows answered by an earlier run of this cell were not sent again")
    assert nb.problems() == []


def test_a_foreground_job_is_stopped_by_an_interrupt_that_keeps_the_finished_rows(
    open_notebook: Any, lab: Any, artifacts: Path
) -> None:
    """A foreground cell holds the kernel while its job runs, so its widget offers no Cancel button (a
    click would be read only once the job ended) but says to interrupt the kernel, which stops the job:
    the bar turns orange, the cell ends with the finished rows and the next cells run."""
    cells = ["%load_ext gemini_magics\nimport pandas as pd", ITEMS]
    cells += [f"%%gemini out --map items --concurrency 2\n{PROMPT}", CHECK]
    nb = open_notebook(write_notebook(lab.root, "map_interrupt.ipynb", cells))
    nb.run_all()
    index = nb.index("%%gemini out")
    progress = progress_of(nb, index, cancel=False)
    expect(progress.locator(".widget-label", has_text="interrupt the kernel to stop")).to_have_count(1)
    watch(progress, lambda s: done_of(s) >= 4)
    nb.page.evaluate("window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    seen = watch(progress, lambda s: s["style"] != "progress-bar-info", timeout=30)
    nb.wait_until_done()
    nb.screenshot(artifacts, "map-interrupted")
    final = seen[-1]
    kept = done_of(final)
    assert final["style"] == "progress-bar-warning" and " · cancelled · " in final["label"], final
    assert 4 <= kept < ROWS - 2, f"the interrupt did not stop the job: {seen}"
    summary = nb.outputs(index).locator(".jp-RenderedMarkdown")
    expect(summary).to_contain_text("stopped with Ctrl-C: the rows that finished are kept")
    assert printed(nb, nb.index("frame =")) == [ROWS, kept, kept, ROWS - kept]
    assert nb.problems() == []
