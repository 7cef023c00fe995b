"""Untrusted text never becomes live HTML: the escaping in render/escaping.py, against how JupyterLab reads
Markdown, and the HTML of the Deep Research widget.

JupyterLab renders Markdown outputs of the running session as trusted (unsanitised). Before its Markdown
parser (marked) sees the text it takes TeX out, and after rendering it puts the TeX back into the HTML,
escaping only ``& < >`` (``removeMath``/``replaceMath``, @jupyterlab/rendermime's latex.ts). The escaping
mirrors that step exactly (``escaping._remove_math``), so it is compared here with JupyterLab's own code;
tests/browser/test_lab_security.py shows the results in JupyterLab itself.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import shutil
import subprocess
import time
from types import SimpleNamespace
from typing import Any

import pytest

from gemini_magics import blocks as b
from gemini_magics.render import escaping, static, view
from gemini_magics.research import progress
from gemini_magics.research.tracker import State
from gemini_magics.turn import Result

# removeMath as JupyterLab 4.6 bundles it (jlab_core, module "latex"), unminified; the one change: pieces
# are kept as written (JupyterLab escapes & < > in them for the HTML), so they compare with ours.
REMOVE_MATH_JS = r"""
const inline = '$';
const MATHSPLIT = /(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\[()[\]])/i;
function processMath(i, j, preProcess, math, blocks) {
  let block = blocks.slice(i, j + 1).join('');
  while (j > i) { blocks[j] = ''; j--; }
  blocks[i] = '@@' + math.length + '@@';
  if (preProcess) block = preProcess(block);
  math.push(block);
  return blocks;
}
function removeMath(text) {
  const math = [];
  let start = null, end = null, last = null, braces = 0, deTilde;
  if (text.includes('`') || text.includes('~~~')) {
    text = text.replace(/~/g, '~T')
      .replace(/^(?<fence>`{3,}|(~T){3,})[^`\n]*\n([\s\S]*?)^\k<fence>`*$/gm, w => w.replace(/\$/g, '~D'))
      .replace(/(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)/gm, w => w.replace(/\$/g, '~D'));
    deTilde = t => t.replace(/~([TD])/g, (w, c) => (c === 'T' ? '~' : inline));
  } else {
    deTilde = t => t;
  }
  let blocks = text.replace(/\r\n?/g, '\n').split(MATHSPLIT);
  for (let i = 1, m = blocks.length; i < m; i += 2) {
    const block = blocks[i];
    if (block.charAt(0) === '@') {
      blocks[i] = '@@' + math.length + '@@';
      math.push(block);
    } else if (start !== null) {
      if (block === end) {
        if (braces) { last = i; } else {
          blocks = processMath(start, i, deTilde, math, blocks); start = null; end = null; last = null;
        }
      } else if (block.match(/\n.*\n/)) {
        if (last !== null) { i = last; blocks = processMath(start, i, deTilde, math, blocks); }
        start = null; end = null; last = null; braces = 0;
      } else if (block === '{') { braces++; } else if (block === '}' && braces) { braces--; }
    } else if (block === inline || block === '$$') {
      start = i; end = block; braces = 0;
    } else if (block === '\\\\(' || block === '\\\\[') {
      start = i; end = block.slice(-1) === '(' ? '\\\\)' : '\\\\]'; braces = 0;
    } else if (block.substr(1, 5) === 'begin') {
      start = i; end = '\\end' + block.substr(6); braces = 0;
    }
  }
  if (start !== null && last !== null) { blocks = processMath(start, last, deTilde, math, blocks); }
  return { text: deTilde(blocks.join('')), math };
}
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map(removeMath)));
"""

# What removeMath gives for these (run through the code above): the skeleton with @@N@@ and the pieces.
REMOVE_MATH_CASES = [
    ("plain text, no math", "plain text, no math", []),
    ("Math $a < b$ and $$x^2$$ here", "Math @@0@@ and @@1@@ here", ["$a < b$", "$$x^2$$"]),
    ("$a$ `$b$` $c$", "@@0@@ `$b$` @@1@@", ["$a$", "$c$"]),  # $ in code is not math
    ("```\n$x$\n```\n$y$", "```\n$x$\n```\n@@0@@", ["$y$"]),
    ("  ```\n$x$\n  ```", "  ```\n@@0@@\n  ```", ["$x$"]),  # an indented fence does not protect its $
    ("$$\n```\n$$\n<img>", "@@0@@\n<img>", ["$$\n```\n$$"]),  # math takes a fence line away
    ("$a\n\nb$", "$a\n\nb$", []),  # not across a blank line
    ("$a\nb$", "@@0@@", ["$a\nb$"]),
    ("\\\\(x\\\\) and \\\\[y\\\\]", "@@0@@ and @@1@@", ["\\\\(x\\\\)", "\\\\[y\\\\]"]),
    ("\\begin{align}a&b\\end{align}", "@@0@@", ["\\begin{align}a&b\\end{align}"]),
    ("${a$}$ and ${b}$", "@@0@@ and @@1@@", ["${a$}$", "${b}$"]),  # braces are balanced
    ("$a{b$ c $d}$", "@@0@@", ["$a{b$ c $d}$"]),
    ("\\$5 and \\$6", "\\$5 and \\$6", []),
    ("~~~\n$x$\n~~~\n$y$", "~~~\n$x$\n~~~\n@@0@@", ["$y$"]),
    ("`$a` $b$ ``$c``", "`$a` @@0@@ ``$c``", ["$b$"]),
]


def jupyterlab_form(text: str, math: list[str]) -> tuple[str, list[str]]:
    """Our placeholders written as JupyterLab's @@N@@."""
    return re.sub("\ue000([0-9]+)\ue001", r"@@\1@@", text), math


@pytest.mark.parametrize(("text", "skeleton", "math"), REMOVE_MATH_CASES)
def test_math_is_found_as_jupyterlab_finds_it(text: str, skeleton: str, math: list[str]) -> None:
    assert jupyterlab_form(*escaping._remove_math(text)) == (skeleton, math)


# Pieces of text that matter to removeMath, marked or both.
FRAGMENTS = [
    *["```", "~~~", "```x", "  ```", "   ```", "    ```", "```~", "`", "``", "~", "\t"],
    *["$", "$$", "\\\\(", "\\\\)", "\\\\[", "\\\\]", "\\begin{a}", "\\end{a}", "\\$", "{", "}", "@@99@@"],
    *["\n", "\n", "\n", "\n\n", "\n \n", "\r\n", " ", "  ", "- ", "1. ", "> ", "[", "](", ")", "[r]: "],
    *['"', "'", "<", ">", "<img src=x>", "a", "word ", "|", "#", "\\", "*", "_", "\u2028", "\u00a0"],
]


def random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 30))) for _ in range(count)]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run JupyterLab's code")
def test_math_matches_jupyterlab_on_random_text(tmp_path: Any) -> None:
    # escape_html normalises line ends and separators first
    texts = [re.sub(r"\r\n?|\u2028", "\n", t) for t in random_texts(7, 3000)]
    script = tmp_path / "remove_math.js"
    script.write_text(REMOVE_MATH_JS)
    command = ["node", str(script)]
    ran = subprocess.run(
        command, input=json.dumps(texts), capture_output=True, text=True, timeout=120, check=True
    )
    for text, theirs in zip(texts, json.loads(ran.stdout), strict=True):
        # A piece here is as written; JupyterLab leaves its placeholders (@@N@@, N < 99) in a piece.
        pieces: list[str] = theirs["math"]

        def written(piece: str, pieces: list[str] = pieces) -> str:
            return re.sub("@@([0-9]|[1-8][0-9])@@", lambda m: written(pieces[int(m.group(1))]), piece)

        expected = [written(piece) for piece in pieces]
        assert jupyterlab_form(*escaping._remove_math(text)) == (theirs["text"], expected), repr(text)


# -- what the escaping does to attacks -------------------------------------------------------------------

ATTACKS = {
    # TeX that JupyterLab puts back into an attribute: its " becomes '' and cannot end the attribute.
    "image target": ('![alt](y$"onerror="x;//$)', "![alt](y$''onerror=''x;//$)"),
    "image text": ('![a$"onerror="x;//$](y.png)', "![a$''onerror=''x;//$](y.png)"),
    "link title": ('[t](https://e.com "t$"onclick="x$")', "[t](https://e.com \"t$''onclick=''x$\")"),
    # A fence line hidden in math (math is taken out first): no fence, so the HTML after it is escaped;
    # the fence line is neutralised, as JupyterLab's math pass would pair it with a later block's.
    "fence in math": ('$$\n```\n$$\n<img src=x onerror="x">', '$$\n\\```\n$$\n&lt;img src=x onerror="x">'),
    # A fence whose end depends on whether it is in a list item: no fence in any reading.
    "fence in a list": ("- a\n  ```\n  b\n<img src=x>", "- a\n  \\```\n  b\n&lt;img src=x>"),
    "fence on a marker": ("- ```\n  b\n  ```\n<img src=x>", "- \\```\n  b\n  \\```\n&lt;img src=x>"),
    "fence in a quote": ("> ```\n> <img src=x>", "> \\```\n> &lt;img src=x>"),
    # marked closes ``` with ```~, CommonMark does not: no fence.
    "closer": ("```\nx\n```~\n<img src=x>\n```", "\\```\nx\n```\n<img src=x>\n```"),
    # JupyterLab puts the whole info string into the code element's class, unescaped: a word is left.
    "info string": ('```python" onmouseover="x"\nprint(1)\n```', "```python\nprint(1)\n```"),
    # Code spans pair differently in marked (paragraphs, table cells, link targets): a word joiner after
    # < inside them makes no tag in any reading and looks the same.
    "span across paragraphs": ("`a\n\n<img src=x>\n\n`", "`a\n\n&lt;img src=x>\n\n`"),
    "span in a table": ("| `a | <img src=x> ` |", "| `a | <\u2060img src=x> ` |"),
    "span in a link": ("[a](`b) <img src=x> `", "[a](`b) <\u2060img src=x> `"),
    # A reference definition whose title spans lines can swallow a fence line: neutralised.
    "definition": ('[r]: /u "a\n```\n"\n<img src=x>', '\\[r]: /u "a\n```\n"\n<img src=x>\n```'),
    # An open fence is closed, so what follows (the next block) is not read as inside it.
    "open fence": ("```py\nif a < b:", "```py\nif a < b:\n```"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_are_neutralised(name: str) -> None:
    text, expected = ATTACKS[name]
    assert static.safe_markdown(text) == expected


ORDINARY = """\
# Sorting in Python

Use `sorted(xs)` or `xs.sort()`; compare with `a < b`. Inline math: $a > b$, and $$\\sum_i x_i$$.

1. Install it:
   ```bash
   pip install "requests<3"
   ```
2. Use it:

   ```python
   if len(xs) < 10:
       print("<b>short</b>")
   ```

| name | type |
|------|------|
| `xs` | list |

> A quote with [a link](https://example.com/a_b?c=1).

```html
<div class="x">hi</div>
```

See [the docs][docs].

[docs]: https://docs.python.org/3/howto/sorting.html
"""


def test_ordinary_markdown_is_unchanged_but_for_html_in_prose() -> None:
    out = static.safe_markdown(ORDINARY + "Raw <b>bold</b> and a `<div>` tag.")
    assert out == ORDINARY + "Raw &lt;b>bold&lt;/b> and a `<\u2060div>` tag."


def test_math_keeps_rendering() -> None:
    assert static.safe_markdown("$a < b$ and $<img src=x>$") == "$a \\lt  b$ and $\\lt img src=x>$"


def test_blocks_joined_are_as_safe_as_alone() -> None:
    """The static view joins blocks: a fence line of one must not pair with one of the next."""
    first, second = "$$\n```\n$$", '```\n<img src=x onerror="x">\n```'
    joined = static.to_markdown([b.TextBlock(first), b.TextBlock(second)])
    assert joined == "$$\n\\```\n$$\n\n" + second
    thoughts = static.to_markdown([b.ThoughtBlock(first + "\n<img src=x>")])  # quoted, then escaped
    assert thoughts == "**Thoughts**\n\n> $$\n> ```\n> $$\n> &lt;img src=x>"


@pytest.mark.parametrize("seed", [1, 2])
def test_random_text_never_raises_and_needs_no_fallback(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fallbacks: list[str] = []
    monkeypatch.setattr(static, "fence", lambda text, language="": fallbacks.append(text) or text)
    hostile = ['<img src=x onerror="x">', '"onclick="x;//', "javascript:x", "```\n"]
    for text in random_texts(seed, 2000):
        out = static.safe_markdown(text + random.Random(text).choice(hostile) + text)
        assert "\ue000" not in out and "\ue001" not in out
    assert fallbacks == []


def test_a_long_answer_escapes_in_linear_time() -> None:
    """The live view escapes the whole answer again on each render while it streams. A 150 KB answer with
    many fences took seconds when finding fence lines was quadratic; it takes tens of milliseconds now."""
    fences = "~~~\n<b>\n~~~\n\n```\n<i>\n```\n\n"
    para = (
        "Some *text* with `code <x>` and $a<b$, <img src=x onerror=P> and a [link](https://x.y/z).\n\n"
        "- item 1\n- item 2\n\n```python\nprint('<hi>')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    ) + fences * 3
    count = 150_000 // len(para)
    started = time.perf_counter()
    out = static.safe_markdown(para * count)
    elapsed = time.perf_counter() - started
    # HTML in prose escaped, code spans and math made inert, the fences (and the HTML in them) kept
    shown = para.replace("`code <x>`", "`code <\u2060x>`").replace("$a<b$", "$a\\lt b$")
    assert out == shown.replace("<img", "&lt;img") * count
    assert elapsed < 2, f"{elapsed:.2f} s for {len(para) * count:,} characters"


# -- links, fences and names we build around model output ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.com/a?b=1", "[t](https://example.com/a?b=1)"),
        ('https://example.com/$"onclick="x;//$', "[t](https://example.com/%24%22onclick=%22x;//%24)"),
        ("https://example.com/\\begin{a}'`", "[t](https://example.com/%5Cbegin%7Ba%7D%27%60)"),
        ("javascript:alert(1)", "t (javascript:alert(1))"),
        # Not a link, but text GFM makes a link of: no TeX in it (it would end up in the href).
        ('https://e.com/$"onclick="x y;//$', 't (https://e.com/&dollar;"onclick="x y;//&dollar;)'),
        (" JaVaScRiPt:alert(1)", "t (JaVaScRiPt:alert(1))"),
        ("data:text/html,<script>x</script>", "t (data:text/html,\\<script\\>x\\</script\\>)"),
    ],
)
def test_links_to_sources(url: str, shown: str) -> None:
    assert static.link("t", url) == shown


def test_escaped_text_has_no_markup_and_no_tex() -> None:
    text = "a\\(b\\) $x$ \\begin{a} <b>*c*</b> [d](e) `f` #g _h_ |i| ~j~"
    assert static.escape(text) == (
        "a&bsol;(b&bsol;) &dollar;x&dollar; &bsol;begin{a} \\<b\\>\\*c\\*\\</b\\> "
        "\\[d\\](e) \\`f\\` \\#g \\_h\\_ \\|i\\| \\~j\\~"
    )
    assert escaping._remove_math(static.escape(text))[1] == []


def test_fence_language_is_a_word() -> None:
    assert static.fence("<b>", 'py`"onclick="x"\n<i>') == "```pyonclickxi\n<b>\n```"
    assert static.fence("````\n<b>", "c++") == "`````c++\n````\n<b>\n`````"


def test_every_block_kind_escapes_names_and_values() -> None:
    hostile = '<img src=x onerror="x">'
    blocks: list[b.Block] = [
        b.SearchBlock(
            "s", [hostile], [b.Citation(hostile, "javascript:x"), b.Citation("t", "https://e.com/$x$")]
        ),
        b.UrlContextBlock("u", ["javascript:x"], {"javascript:x": hostile}),
        b.CodeBlock("c", hostile, 'py"x', hostile),
        b.FunctionCallBlock("f", hostile, {hostile: hostile}, hostile, answered=True, server=hostile),
        b.UnknownBlock(hostile, hostile),
        b.TextBlock("cited", [b.Citation(hostile, "https://e.com/$x$")]),
    ]
    markdown = static.to_markdown(blocks)
    outside_code = re.sub(r"^(`{3,}).*?^\1$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    outside_code = re.sub(r"(`+)[^`\n]*?\1", "", outside_code)  # our code spans: one line, longest run + 1
    assert not re.search(r"(?<!\\)<img", outside_code) and "](javascript" not in outside_code
    assert "https://e.com/%24x%24" in markdown and "$x$" not in markdown.replace("\\<", "")


def test_grounding_views_escape_places_files_passages_and_mcp_results() -> None:
    """Place names, addresses, reviews, file names, passages, stores, MCP results and cited-source URLs are
    the service's (or a file's, or a server's) text: shown as text, linked only to http(s)."""
    from gemini_magics.blocks_grounding import Chunk, Citation, FileSearchBlock, MapsBlock, Place

    hostile = '<img src=x onerror="x">'
    math = '$"onclick="x;//$'
    bad_urls = ["javascript:x", f"https://e.com/{math}", "data:text/html,<script>x</script>"]
    places = [
        Place(hostile, url, f"places/{hostile}", hostile + math, [Citation(hostile, url)]) for url in bad_urls
    ]
    passage = f"{hostile}\n```\n{hostile}\n```\n[Click](javascript:x) {math}"
    chunks = [Chunk(hostile + "`", passage, hostile, 2, hostile, cited=True), Chunk("a.txt", "```", "`x`")]
    image = base64.b64encode(b'<svg onload="x"/>').decode()
    mcp_result = [
        {"type": "text", "text": "```\n" + hostile},
        {"type": "image", "data": image, "mime_type": 'image/svg+xml"onload="x'},
        {"type": "image", "data": "%%%", "mime_type": "image/png"},
    ]
    cited = "A [cite: 1] B [cite: 2, 3] C " + hostile
    citations = [
        Citation(hostile, url, "[cite: 1]", start=cited.index("[cite: 1]")) for url in bad_urls[:1]
    ] + [Citation(hostile, url, "[cite: 2, 3]", start=cited.index("[cite: 2")) for url in bad_urls[1:]]
    citations += [
        Citation(hostile, "", hostile, kind="file", source=hostile),
        Citation("Café [x](javascript:y)", "javascript:z", "C", kind="place", start=cited.index("C ")),
    ]
    blocks: list[b.Block] = [
        MapsBlock("m", [hostile, math], places, widget_token=hostile, answered=True),
        FileSearchBlock("f", chunks, answered=True),
        b.FunctionCallBlock("c", hostile, {hostile: math}, mcp_result, answered=True, server=hostile),
        b.FunctionCallBlock("d", "`", {}, {"x": hostile}, is_error=True, answered=True, server="s`"),
        b.TextBlock(cited + "\n\n**Sources:**\n3. [x](javascript:w)\n", citations),
    ]
    result = Result("v1_x", "completed", "m", blocks=blocks)
    texts = [static.to_markdown(blocks, embed_images=True), view.markdown(result)]

    def outputs(widget: Any) -> list[str]:
        found = [o["data"]["text/markdown"] for o in getattr(widget, "outputs", ())]
        for child in getattr(widget, "children", ()):
            found += outputs(child)
        return found

    widget = view.build_widget(result)
    texts += outputs(widget)
    for markdown in texts:
        outside_code = re.sub(r"^(`{3,}).*?^\1$", "", markdown, flags=re.MULTILINE | re.DOTALL)
        outside_code = re.sub(r"(`+)[^`\n]*?\1", "", outside_code)
        assert not re.search(r"(?<!\\)<(img|svg|script)", outside_code), markdown
        assert not re.search(r"(?<!\\)\]\(\s*(javascript|data:text)", markdown, re.IGNORECASE), markdown
        assert "$" not in outside_code, markdown  # no TeX that JupyterLab would put back into an attribute
    joined = "\n".join(texts)
    assert "data:image/svg" not in joined and "](https://e.com/%24%22onclick=%22x;//%24)" in joined
    assert "A \\[1\\] B \\[[2](https://e.com/%24%22onclick=%22x;//%24), 3\\]" in joined  # 1, 3: no links
    accordion = next(w for w in widget.children if type(w).__name__ == "VBox").children[1]
    assert accordion.titles[0] == hostile + "`, page 2 · cited"  # a title is text, never HTML


# -- the Deep Research widget ----------------------------------------------------------------------------


class FakeTracker:
    """What ProgressWidget asks of a tracker, with a state we choose."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.backend = SimpleNamespace(
            target=lambda: SimpleNamespace(label="offline emulator"), label_for=lambda _id: "offline emulator"
        )
        self.timing = SimpleNamespace(quiet_after=0.0)

    @property
    def done(self) -> bool:
        return self.state.done

    def snapshot(self) -> State:
        return dataclasses.replace(self.state, thoughts=list(self.state.thoughts))

    def subscribe(self, listener: Any) -> Any:
        return lambda: None


HOSTILE = '<img src=x onerror="window.x=1"><script>x</script>'


def html_values(widget: Any) -> list[str]:
    return [w.value for w in (widget.title, widget.status, widget.detail)]


def test_research_widget_escapes_what_the_service_says() -> None:
    state = State(HOSTILE, HOSTILE, status=HOSTILE, note=HOSTILE, cancel_note=HOSTILE, thoughts=[HOSTILE] * 3)
    widget = progress.ProgressWidget(FakeTracker(state))  # type: ignore[arg-type]
    progress.TICKER.discard(widget)
    for value in html_values(widget):
        assert "<img" not in value and "<script" not in value and "&lt;img" in value
    thoughts = [o["data"]["text/markdown"] for o in widget.latest.outputs + widget.history_output.outputs]
    assert thoughts == [static.safe_markdown(HOSTILE)] * 3 and "&lt;img" in thoughts[0]


def test_research_widget_escapes_a_failure() -> None:
    result = Result("v1_x", "failed", HOSTILE, blocks=[b.TextBlock(HOSTILE)], error=HOSTILE, notes=[HOSTILE])
    state = State("v1_x", HOSTILE, status="failed", mode="done", error=HOSTILE, result=result)
    widget = progress.ProgressWidget(FakeTracker(state))  # type: ignore[arg-type]
    assert widget.bar.bar_style == "danger"
    for value in html_values(widget):
        assert "<img" not in value and "<script" not in value
    assert "&lt;img" in widget.status.value  # the service's error, shown as text
    texts = [o["data"]["text/markdown"] for o in view.build_widget(result).children[0].outputs]
    assert texts and all("<img" not in t.replace("\\<", "") for t in texts)
