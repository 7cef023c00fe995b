"""Model output is untrusted: in JupyterLab no script from it runs, no handler fires, no link executes.

The emulator's ``unsafe_html`` directive answers with a ``<script>`` that sets ``window.__gm_pwned``, an
``<img onerror=…>`` that would set it, and a ``javascript:`` link that would set it when clicked; its search
results, URL context URLs and Deep Research thoughts, report and sources carry such payloads too. The
notebooks here are written by the tests (a directive is emulator-only, so it has no place in notebooks/).
Every payload sets a global whose name starts with ``__gm_pwned``; a control cell shows the same payloads
unescaped and proves they would run.
"""

from __future__ import annotations

import json
import random
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


# -- everything else the service sends: tools, functions, Deep Research, every block kind ------------------

TOOLS_NAME = "security_untrusted_tools.ipynb"
RESEARCH_SECONDS = 6  # the emulator's agent: a thought summary every second, the report after 6 s
# Markdown that was live HTML in JupyterLab before the escaping knew how JupyterLab reads Markdown. Each
# ``{P}`` becomes a statement setting its own ``window.__gm_pwned_<name>``. ``$…$`` is TeX to JupyterLab: it
# takes math out before parsing the Markdown and puts it back into the HTML escaping only ``& < >``, so a
# ``"`` in math that lands in an attribute ends the attribute.
VECTORS = {
    "img_src_math": '![alt](y$"onerror="{P};//$)',
    "img_alt_math": '![a$"onerror="{P};//$](nothere.png)',
    "href_math": '[Click me: href math](https://example.com/$"onclick="{P};//$)',
    "bare_url_math": 'Click me: https://example.com/$"onclick="{P};//$ here',
    "title_math": '[Click me: title math](https://example.com "t$"onclick="{P};//$")',
    "autolink_math": '<https://example.com/$"onclick="{P};//$>',
    "href_begin": r'[Click me: begin](https://example.com/\\begin{{a}}"onclick="{P};//"\\end{{a}})',
    "info_math": '```x$"onclick="{P};//$\ncode: info math\n```',
    "info_quote": '```python" onmouseover="{P}" x="\nprint("info quote")\n```',
    "fence_in_math": '$$\n```\n$$\n<img src=x onerror="{P}">',
    "fence_in_list": '- item\n  ```\n  code\n<img src=x onerror="{P}">',
    "fence_on_marker": '- ```\n  x\n  ```\n<img src=x onerror="{P}">',
    "marked_closer": '```\nx\n```~\n<img src=x onerror="{P}">\n```',
    "span_paragraphs": '`a\n\n<img src=x onerror="{P}">\n\n`',
    "span_table": '| h1 | h2 |\n|---|---|\n| `a | <img src=x onerror="{P}"> ` |',
    "span_link": '[a](`b) <img src=x onerror="{P}"> `',
    "span_autolink": '<https://a`> <img src=x onerror="{P}"> `',
    "span_heading": '# `a\n<img src=x onerror="{P}">`',
    "definition_title": '[r]: /u "a\n```\n"\n<img src=x onerror="{P}">\n```',
}
HOSTILE = '<img src=x onerror="window.__gm_pwned_crafted = 1"><script>window.__gm_pwned_crafted = 2</script>'
CRAFTED = f"""\
from gemini_magics.blocks import (
    Citation, CodeBlock, FunctionCallBlock, ImageBlock, SearchBlock, TextBlock, ThoughtBlock, UnknownBlock,
    UrlContextBlock,
)
from gemini_magics.blocks_grounding import Chunk, FileSearchBlock, MapsBlock, Place
from gemini_magics.turn import Result
vectors = {{name: text.format(P=f"window.__gm_pwned_{{name}}=1") for name, text in {VECTORS!r}.items()}}
hostile = {HOSTILE!r}
links = [
    Citation(hostile, "javascript:window.__gm_pwned_citation=1", "[1]"),
    Citation("Click me: " + hostile, " JaVaScRiPt:window.__gm_pwned_citation=2"),
    Citation("Click me: data", "data:text/html,<script>parent.__gm_pwned_citation=3</script>"),
    Citation("Click me: math", 'https://example.com/$"onclick="window.__gm_pwned_citation=4;//$'),
    Citation("Click me: quote", 'https://example.com/"onclick="window.__gm_pwned_citation=5"'),
]
svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__gm_pwned_image=1"/>'
blocks = [
    ThoughtBlock("\\n\\n".join(vectors.values())),
    SearchBlock("s1", [hostile, "$x$ <b>query</b>"], links),
    UrlContextBlock("u1", [link.url for link in links], {{link.url: hostile for link in links}}),
    CodeBlock("c1", hostile + "\\n```\\n" + hostile, 'py`"onclick="window.__gm_pwned_code=1"\\n<b>', hostile),
    FunctionCallBlock("f1", hostile, {{hostile: [hostile, "$x$"]}}, {{"html": hostile}}, answered=True),
    FunctionCallBlock("f2", "`" + hostile, {{}}, hostile, is_error=True, answered=True, server=hostile),
    UnknownBlock(hostile, hostile),
    ImageBlock(svg, 'image/svg+xml"onload="window.__gm_pwned_image=2'),
    *[TextBlock(text) for text in vectors.values()],
    TextBlock("Cited [1]. " + hostile, links),
    # grounding: places, file search passages and file names, an MCP result with an image, cite markers
    MapsBlock("m1", [hostile], [Place(c.title, c.url, hostile, hostile, [c]) for c in links], answered=True),
    FileSearchBlock("f3", [Chunk(hostile, "\\n\\n".join(vectors.values()), hostile, 2, cited=True)], True),
    FunctionCallBlock(
        "f4", hostile, {{}}, [{{"type": "text", "text": hostile}}, {{"type": "image", "data": "PHN2Zz4=",
        "mime_type": 'image/svg+xml"onload="window.__gm_pwned_image=3'}}], answered=True, server=hostile,
    ),
    TextBlock(
        "Report [cite: 1] [cite: 2, 3] [cite: 4, 5]. Visit Café. " + hostile + "\\n\\n**Sources:**\\n"
        + "".join(f"{{i}}. [s]({{link.url}})\\n" for i, link in enumerate(links, 1)),
        [Citation(hostile, links[3].url, "Café", kind="place", start=50)],
    ),
]
everything = Result("v1_everything", "failed", hostile, blocks=blocks, notes=[hostile], error=hostile)
display(everything)
display({{"text/markdown": everything._repr_mimebundle_()[0]["text/markdown"]}}, raw=True)"""
# Code for the code execution tool: prints the payloads (and a fence, to try to end the output's fence).
HOSTILE_CODE = """\
print('<img src=x onerror="window.__gm_pwned_code_output=1">')
print('`' * 3)
print('<script>window.__gm_pwned_code_output=2</script> $x$')"""
TOOL_FUNCTION = """\
def lookup(term: str) -> str:
    \"\"\"Look a term up.\"\"\"
    return '<img src=x onerror="window.__gm_pwned_function_result=1"> ' + term"""
RESEARCH = "%%gemini deep --new --research\nPoisoned research [emulator: unsafe_html]"
BROKEN = "<img src=x onerror=window.__gm_pwned_fail=1>"
TOOLS_CELLS = [
    "%load_ext gemini_magics",
    "%%gemini --new --thoughts --json --tools google_search,url_context\n"
    "Read https://example.com/page and search the web [emulator: unsafe_html]",
    f"%%gemini --new --no-stream --tools code_execution\nRun this:\n```python\n{HOSTILE_CODE}\n```",
    TOOL_FUNCTION,
    "%%gemini --new --tool lookup\n"
    'Please lookup "<img src=x onerror=window.__gm_pwned_function_argument=1>" [emulator: unsafe_html]',
    RESEARCH,
    "%gemini wait",
    # The static fallback alone, as nbviewer, GitHub or a front end without widgets would get it.
    'display({"text/markdown": deep.result._repr_mimebundle_()[0]["text/markdown"]}, raw=True)',
    f"%%gemini broken --new --research\nBroken research [emulator: fail={BROKEN}]",
    "%gemini wait",
    CRAFTED,
    # Control: the same vectors unescaped, each setting window.__gm_control_<name>.
    "for name, text in vectors.items():\n"
    '    display({"text/markdown": text.replace("__gm_pwned", "__gm_control")}, raw=True)',
]
FAILS = {9}  # `%gemini wait` on the failed run raises (after showing the failed result)

PWNED = "() => Object.keys(window).filter(k => k.startsWith('__gm_pwned'))"
# Elements and attributes that run code, anywhere in an output.
LIVE_CODE = """root => {
  const found = [];
  for (const el of root.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'object', 'embed', 'frame', 'base', 'meta'].includes(tag)) found.push(tag);
    for (const a of el.attributes)
      if (a.name.startsWith('on') || a.name === 'srcdoc' || a.name === 'formaction')
        found.push(`${tag}[${a.name}="${a.value}"]`);
  }
  return found;
}"""
# Links as the browser parsed them (entities, case, whitespace and control characters already resolved).
BAD_URLS = """root => [
  ...[...root.querySelectorAll('a[href], area[href]')]
    .filter(a => ['javascript:', 'vbscript:', 'data:'].includes(a.protocol)).map(a => a.href),
  ...[...root.querySelectorAll('[src]')].map(e => e.src).filter(u => /^(javascript|vbscript):/i.test(u)
    || (/^data:/i.test(u) && !/^data:image\\/(png|jpeg|gif|webp)[;,]/i.test(u))),
]"""
# Click every link, code block and image (hidden ones too: element.click() follows a link as a user's click
# does) after a mouseover; http(s) links do not navigate (the network is closed), their handlers still run.
CLICK_ALL = """root => {
  const stay = e => { if (e.target.closest && e.target.closest('a[href^="http"]')) e.preventDefault(); };
  document.addEventListener('click', stay, true);
  const targets = [...root.querySelectorAll('a, pre code, img')];
  for (const el of targets) {
    el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    el.click();
  }
  document.removeEventListener('click', stay, true);
  return targets.length;
}"""


@pytest.fixture
def tools_notebook(lab: Any) -> str:
    cells = [nbformat.v4.new_code_cell(c) for c in TOOLS_CELLS]
    for i in FAILS:
        cells[i].metadata["tags"] = ["raises-exception"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / TOOLS_NAME)
    return TOOLS_NAME


def check_inert(page: Any, out: Any, where: str) -> None:
    """No live code in an output, no link or source that runs code, and nothing has run so far."""
    handle = out.element_handle()
    assert page.evaluate(LIVE_CODE, handle) == [], where
    assert page.evaluate(BAD_URLS, handle) == [], where
    assert page.evaluate(PWNED) == [], f"{where}: a payload ran"


def test_untrusted_tool_results_research_and_blocks_do_nothing(
    open_notebook: Any, tools_notebook: str, artifacts: Any
) -> None:
    nb = open_notebook(tools_notebook)
    page = nb.page
    nb.execute_quietly(f"%config GeminiMagics.emulator_agent_seconds = {RESEARCH_SECONDS}")
    nb.run_all()

    # While the research runs: its latest thought and the earlier ones (opened) carry the payloads.
    research = nb.outputs(TOOLS_CELLS.index(RESEARCH))
    expect(research.get_by_text("Earlier thoughts (")).to_be_visible(timeout=90_000)
    research.locator(".jupyter-widget-Collapse-header", has_text="Earlier thoughts").click()
    shown = research.get_by_text("window.__gm_pwned = 'script'", exact=False)
    expect(shown.nth(1)).to_be_visible()  # in the latest thought and in an earlier one
    check_inert(page, research, "the research widget while it runs")

    nb.wait_until_done(timeout=180)
    page.wait_for_timeout(500)  # a failing <img> fires onerror within milliseconds
    ours = [nb.outputs(i) for i in range(1, len(TOOLS_CELLS) - 1)]
    for out in ours:
        for header in out.locator(".jupyter-widget-Collapse-header").all():
            if header.is_visible():
                header.click()  # open every Thoughts section: their Markdown is rendered too
    page.wait_for_timeout(300)

    # Rendering happened: the payloads are on screen, as text.
    tooled, coded, _, called, _, waited, fallback, broken, failed, crafted = ours
    for text in (
        "Poisoned source",  # a search result's title, from the answer's citations (a stream has no chips)
        "javascript:window.__gm_pwned='url context'",
        "<img src=x onerror=\"window.__gm_pwned = 'query'\">",
    ):
        expect(tooled.get_by_text(text, exact=False).first).to_be_attached()
    expect(coded.get_by_text('<img src=x onerror="window.__gm_pwned_code_output=1">').first).to_be_attached()
    expect(called.get_by_text("window.__gm_pwned_function_result=1", exact=False).first).to_be_attached()
    expect(called.get_by_text("window.__gm_pwned_function_argument=1", exact=False).first).to_be_attached()
    for out in (research, waited, fallback):
        expect(out.locator("h1", has_text="Research report: Poisoned research").first).to_be_visible()
        script = out.get_by_text("<script>window.__gm_pwned = 'source script'</script>", exact=False)
        expect(script.first).to_be_attached()
    expect(research.locator(".progress-bar-success")).to_have_count(1)
    expect(broken.locator(".progress-bar-danger")).to_have_count(1)
    expect(broken.get_by_text(BROKEN, exact=False).first).to_be_visible()  # the status line
    expect(failed.get_by_text(BROKEN, exact=False).first).to_be_attached()
    expect(crafted.locator(".jupyter-widgets").first).to_be_visible()
    assert crafted.get_by_text("window.__gm_pwned_crafted = 1", exact=False).count() > 10
    rendered = crafted.inner_html()
    for name in VECTORS:  # each vector was rendered (a code block's language is cut to a word)
        assert f"__gm_pwned_{name}" in rendered or name.startswith("info_"), name

    for i, out in enumerate(ours, 1):
        check_inert(page, out, f"cell {i}: {TOOLS_CELLS[i].splitlines()[0]}")
    assert not nb.problems(), nb.problems()  # before clicking: JupyterLab opens relative links as files
    nb.screenshot(artifacts, "security_untrusted_tools")
    clicked = sum(page.evaluate(CLICK_ALL, out.element_handle()) for out in ours)
    assert clicked > 50, clicked
    page.wait_for_timeout(500)
    assert page.evaluate(PWNED) == [], "clicking a link, a code block or an image ran a payload"

    # Control: unescaped, every vector runs (some when clicked or hovered), so each check above bites.
    control = nb.outputs(len(TOOLS_CELLS) - 1)
    page.evaluate(CLICK_ALL, control.element_handle())
    page.wait_for_timeout(500)
    ran = page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__gm_control_'))")
    assert sorted(ran) == sorted(f"__gm_control_{name}" for name in VECTORS), ran


# -- random Markdown -------------------------------------------------------------------------------------

FUZZ_NAME = "security_random_markdown.ipynb"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the current tab
FUZZ_CASES = 450
# Pieces that matter to JupyterLab's math pass, to marked, or to both; payloads carry their case number.
FRAGMENTS = [
    *["```", "~~~", "```x", "  ```", "   ```", "    ```", "```~", "`", "``", "~", "\t", "- ", "1. ", "> "],
    *["$", "$$", "\\\\(", "\\\\)", "\\begin{a}", "\\end{a}", "{", "}", "@@1@@", "\\", "|", "|---|", "#"],
    *["\n", "\n", "\n", "\n\n", " ", "a", '"', "'", "[", "](", ")", "[r]: ", "![", "<https://x", ">", "<"],
    *['<img src=x onerror="{P}">', '"onerror="{P};//', '"onclick="{P};//', "javascript:{P}", "&quot;"],
]


def random_cases(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        pieces = [rng.choice(FRAGMENTS) for _ in range(rng.randint(3, 40))]
        cases.append("".join(pieces).replace("{P}", f"window.__gm_pwned_random_{i}=1"))
    return cases


@pytest.fixture
def fuzz_notebook(lab: Any) -> str:
    (lab.root / "random_markdown.json").write_text(json.dumps(random_cases(2026, FUZZ_CASES)))
    # JupyterLab shows at most 50 outputs of a cell: 45 a cell. Even cases are a whole answer (a thought,
    # quoted, and text blocks, joined), odd ones one block.
    cells = ["import json\ncases = json.load(open('random_markdown.json'))"] + [
        "from gemini_magics.blocks import TextBlock, ThoughtBlock\n"
        "from gemini_magics.render import static\n"
        f"for i, case in enumerate(cases[{k}:{k + 45}]):\n"
        "    first, *rest = case.split('|')\n"
        "    blocks = [ThoughtBlock(first), *[TextBlock(part) for part in rest]]\n"
        "    text = static.safe_markdown(case) if i % 2 else static.to_markdown(blocks)\n"
        "    display({'text/markdown': text}, raw=True)"
        for k in range(0, FUZZ_CASES, 45)
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / FUZZ_NAME)
    return FUZZ_NAME


def test_random_markdown_does_nothing(open_notebook: Any, fuzz_notebook: str) -> None:
    """Random mixes of fences, math, code spans, containers and payloads: nothing runs, nothing is live."""
    nb = open_notebook(fuzz_notebook)
    nb.run_all()
    nb.wait_until_done()
    page = nb.page
    expect(page.locator(f"{NOTEBOOK} .jp-RenderedMarkdown")).to_have_count(FUZZ_CASES)
    page.wait_for_timeout(1000)  # MathJax and failing images
    check_inert(page, page.locator(NOTEBOOK), "random Markdown")
    assert not nb.problems(), nb.problems()
