"""Model output is untrusted: in JupyterLab no script from it runs, no handler fires, no link executes.

The emulator's ``unsafe_html`` directive answers with a ``<script>`` that sets ``window.__gm_pwned``, an
``<img onerror=…>`` that would set it, and a ``javascript:`` link that would set it when clicked. The
notebook here is written by the test (a directive is emulator-only, so it has no place in notebooks/).
"""

from __future__ import annotations

import re
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "security_unsafe_html.ipynb"
# More ways for text to become code than the emulator's payload has: each would set window.__gm_pwned.
PAYLOADS = """\
<script>window.__gm_pwned = 'script2'</script>
<img src=x onerror="window.__gm_pwned = 'img2'">
<svg onload="window.__gm_pwned = 'svg'"></svg>
<iframe srcdoc="<script>parent.__gm_pwned = 'iframe'</script>"></iframe>
<details open ontoggle="window.__gm_pwned = 'details'">details</details>
<a href="javascript:window.__gm_pwned = 'raw link'">Click me: raw link</a>
[Click me: entity](java&#115;cript:window.__gm_pwned='entity')
[Click me: tab](<java\tscript:window.__gm_pwned='tab'>)
[Click me: reference][r]

Math, taken out before Markdown: $a < b$ and $<img src=x onerror="window.__gm_pwned = 'math'">$

[r]: javascript:window.__gm_pwned='reference'
"""
CELLS = [
    "%load_ext gemini_magics",
    "%%gemini unsafe --new\nShow me something [emulator: unsafe_html]",
    "%%gemini --no-stream\nShow me something else [emulator: unsafe_html]",
    # The static fallback alone, as nbviewer, GitHub or a front end without widgets would get it.
    'display({"text/markdown": unsafe._repr_mimebundle_()[0]["text/markdown"]}, raw=True)',
    # The views of a result whose answer and thoughts carry every payload above.
    "from gemini_magics.blocks import TextBlock, ThoughtBlock\n"
    "from gemini_magics.turn import Result\n"
    f"payloads = {PAYLOADS!r}\n"
    'crafted = Result("v1_crafted", "completed", "test-model", '
    "blocks=[ThoughtBlock(summary=payloads), TextBlock(text=payloads)])\n"
    "display(crafted)\n"
    'display({"text/markdown": crafted._repr_mimebundle_()[0]["text/markdown"]}, raw=True)',
    # Control: the same payloads as raw Markdown, not through our views, set another variable. That they
    # do proves JupyterLab renders the Markdown of session outputs unsanitized, so the checks above bite.
    'control = payloads.replace("__gm_pwned", "__gm_control").replace("Click me", "Control")\n'
    'display({"text/markdown": control}, raw=True)',
]


@pytest.fixture
def unsafe_notebook(lab: Any) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / NAME)
    return NAME


def pwned(page: Any) -> Any:
    return page.evaluate("() => window.__gm_pwned")


def test_untrusted_html_in_answers_does_nothing(
    open_notebook: Any, unsafe_notebook: str, artifacts: Any
) -> None:
    nb = open_notebook(unsafe_notebook)
    page = nb.page
    # Pace the stream so the live view (Markdown updated while the answer arrives) stays on screen a while.
    nb.execute_quietly("%config GeminiMagics.emulator_directives = 'rate=15'")
    nb.run_all()
    nb.wait_until_done()
    page.wait_for_timeout(500)  # a failing <img> fires onerror within milliseconds
    ours = [nb.cell(i).locator(".jp-Cell-outputArea") for i in range(1, len(CELLS) - 1)]

    assert all(out.locator("text=untrusted").count() for out in ours[:3]), "the answers were not rendered"
    for out in ours:
        for header in out.locator(".jupyter-widget-Collapse-header").all():
            header.click()  # open every Thoughts section: their Markdown is rendered too
    page.wait_for_timeout(300)
    assert pwned(page) is None, f"a script from model output ran: window.__gm_pwned = {pwned(page)!r}"
    for out in ours:
        assert out.locator("script, iframe, svg[onload], img[onerror], [ontoggle]").count() == 0
        assert out.locator("text=<script>").count() > 0, "the raw HTML should be shown as text"

    links = [link for out in ours for link in out.locator("a", has_text="Click me").all()]
    assert len(links) >= 3 + 2 * 4, len(links)
    for link in links:
        href = link.get_attribute("href") or ""
        assert not href.strip().lower().startswith("javascript:"), href
        link.click()
        page.wait_for_timeout(100)
        assert pwned(page) is None, f"clicking {href!r} ran a script"

    crafted = nb.outputs(len(CELLS) - 2)
    expect(crafted.locator("mjx-container").first).to_be_attached(timeout=20_000)  # MathJax typeset it
    shown = crafted.inner_text()
    assert "&lt;" not in shown, "the escaping shows through"
    assert re.search(r"𝑎\s*<\s*𝑏", shown), "$a < b$ is not typeset as math"  # TeX with < still renders

    control = page.evaluate("() => window.__gm_control")
    assert control is not None, "control: the raw payloads did not run, so this test proves nothing"
    assert not nb.problems()
    nb.screenshot(artifacts, "security_unsafe_html")
