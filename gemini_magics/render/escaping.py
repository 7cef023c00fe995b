"""Untrusted text made inert in Markdown: model output keeps its Markdown but loses raw HTML and unsafe
link targets (``safe_markdown``, ``escape_html``), and text we build around it is escaped (``escape``,
``code_span``, ``safe_url``, ``fence``).

JupyterLab renders the Markdown of outputs produced in the session as *trusted*, without its sanitizer,
so a ``<script>`` or ``<img onerror=…>`` in the text would run (tests/browser/test_lab_security.py shows
it). The math pass mirrors JupyterLab's own (``_remove_math``, compared with it in
tests/unit/test_untrusted.py). ``static.py`` builds the views from these and re-exports them.
"""

from __future__ import annotations

import bisect
import functools
import html
import itertools
import re

from . import fences

_UNSAFE_LINK = re.compile(r"\]\(\s*<?\s*(?!https?:|mailto:|#|/)([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_UNSAFE_AUTOLINK = re.compile(r"<\s*(javascript|vbscript|data|file):[^>]*>", re.IGNORECASE)
# Link destinations: inline links ``](dest`` and reference definitions ``[label]: dest``.
_LINK_TARGET = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s)]+)")
_REFERENCE_TARGET = re.compile(r"(^ {0,3}\[[^\]\n]+\]:[ \t]*)(<[^>\n]*>|\S+)", re.MULTILINE)
_SAFE_SCHEMES = ("http", "https", "mailto")
_MD_SPECIAL = re.compile(r"([`*_\[\]#|<>~])")


def safe_markdown(text: str) -> str:
    """Model Markdown with raw HTML shown as text and link targets other than http(s)/mailto made inert."""
    text = _UNSAFE_LINK.sub(lambda m: "](#blocked-" + m.group(1).lower() + "-link:", text)
    text = _LINK_TARGET.sub(_inert_target, text)
    text = _REFERENCE_TARGET.sub(_inert_target, text)
    text = _UNSAFE_AUTOLINK.sub("`blocked link`", text)
    return escape_html(text)


def _inert_target(match: re.Match[str]) -> str:
    """A link destination whose scheme, as a browser reads it, is not a web or mail one → an anchor."""
    target = html.unescape(match.group(2).strip("<>"))  # CommonMark decodes entities in destinations
    target = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", target)  # ... and backslash escapes
    target = re.sub(r"[\x00-\x20\x7f]", "", target)  # browsers drop tabs, newlines and leading controls
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", target, re.IGNORECASE)
    if scheme is None or scheme.group(1).lower() in _SAFE_SCHEMES:
        return match.group(0)
    return match.group(1) + "#blocked-link"


# -- escaping Markdown as JupyterLab will read it ---------------------------------------------------------
#
# ``<`` is escaped in prose and left alone only where JupyterLab's Markdown parser (marked) is sure to see
# code. Three things decide what it sees, and each is mirrored here:
#
# 1. Math. JupyterLab takes TeX out before marked parses the text and puts it back into the *HTML* after,
#    escaping only ``& < >`` (removeMath/replaceMath in @jupyterlab/rendermime's latex.ts). Math that swallows
#    a fence line changes what is code; math that lands in an attribute (a link target, an image's alt text, a
#    code block's language) closes it with a ``"`` and adds its own attributes. So math is found exactly as
#    JupyterLab finds it (``_remove_math`` ports it), the rest is analysed as marked will see it, and ``"`` in
#    math outside code becomes ``''``.
# 2. Fences. A fence inside a list item ends with the item, so a fence line indented 2-3 spaces (in a list or
#    not) is kept only while every reading agrees on where the fence ends; otherwise, and for fence lines that
#    only containers make fences (``- ```…``, ``> ```…``, 4+ spaces), the fence is neutralised (``\```…``: no
#    fence in any reading) and its lines escaped as prose. JupyterLab puts a fence's whole info string into
#    an HTML attribute unescaped: it is cut to a word. A fence left open is closed, so text after it is not
#    in it, closing lines are written as the opener's (so JupyterLab's math pass pairs fences as marked does),
#    and a fence line that pass would pair with one of the next block is neutralised. Multi-line link
#    reference definitions (whose title can swallow fence lines) are neutralised too.
# 3. Code spans pair differently inside link targets, table cells, or across paragraphs: inside them ``<``
#    before a letter gets an invisible word joiner instead of ``&lt;``, which is no tag in any reading.

_FENCE_LINE = re.compile(r"([ \t]*)(`{3,}|~{3,})(.*)")
_MARKER = r"(?:[-+*]|[0-9]{1,9}[.)])[ \t]+"  # a list item's marker
_PREFIXED_FENCE = re.compile(rf"[ \t]*(?:{_MARKER}|>)(?:[ \t>]|{_MARKER})*(?=`{{3,}}|~{{3,}})")
_DEF_START = re.compile(r"([ \t>]*(?:(?:[-+*]|[0-9]{1,9}[.)])[ \t]+[ \t>]*)*)\[((?:\\.|[^\[\]\\])*)(.?)(.?)")
_JS_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # JavaScript's \s
# marked's ``def`` rule (as in JupyterLab's bundle); \Z where JavaScript has $ without the m flag.
_MARKED_DEF = re.compile(
    r" {0,3}\[(?![" + _JS_SPACE + r"]*\])(?:\\.|[^\[\]\\])+\]: *(?:\n[ \t]*)?"
    r"(?:[^<" + _JS_SPACE + r"][^" + _JS_SPACE + r"]*|<[^\n\r\u2028\u2029]*?>)"
    r"(?:(?: +(?:\n[ \t]*)?| *\n[ \t]*)"
    r"(?:\"(?:\\\"?|[^\"\\])*\"|'[^'\n]*(?:\n[^'\n]+)*\n?'|\([^()]*\)))? *(?:\n+|\Z)"
)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # where HTML (or an autolink) can begin
_KEPT_AUTOLINK = re.compile(r"(<(?:https?://|mailto:)[^\s<>]*>)", re.IGNORECASE)
_WORD_JOINER = "\u2060"
_PROSE, _OPENER, _CODE, _CLOSER = range(4)
_MAX_PASSES = 64


def escape_html(text: str) -> str:
    """Raw HTML in Markdown is shown, not parsed: ``<`` outside code → ``&lt;`` (see the notes above).

    Code keeps its ``<`` where it is code in every reading, http(s) and mailto autolinks are kept, and TeX
    keeps rendering (``<`` in it becomes ``\\lt``). Text the analysis cannot settle is shown as a code block.
    """
    if "\r" in text or "\u2028" in text or "\u2029" in text:
        text = re.sub(r"\r\n?|[\u2028\u2029]", "\n", text)
    text = text.replace(_OPEN, "\ufffd").replace(_SHUT, "\ufffd")  # our placeholders' characters
    for _ in range(_MAX_PASSES):
        spans: list[tuple[int, int]] = []
        skeleton, math = _remove_math(text, spans)
        lines = skeleton.split("\n")
        kinds, fix = _read_lines(lines, skeleton)
        if fix is not None:  # neutralise or change a line, or close a fence; then read again
            row, begin, end, replacement = fix
            if row == len(lines):
                lines.append("")
            lines[row] = lines[row][:begin] + replacement + lines[row][end:]
            text = _restore("\n".join(lines), math)
            continue
        hidden = _stray_fence(text, _line_starts(skeleton, spans, kinds))
        if hidden is not None:  # it could pair with a fence line of whatever follows this text
            text = text[:hidden] + "\\" + text[hidden:]
            continue
        pairs = zip(lines, kinds, strict=True)
        out_lines = [_escape_line(line) if kind == _PROSE and "<" in line else line for line, kind in pairs]
        shown = [_inert_math(piece) for piece in math]
        for line, kind in zip(out_lines, kinds, strict=True):
            if kind == _CODE and _OPEN in line:  # math on code lines is shown as code: kept as it is
                for number in _PLACEHOLDER.findall(line):
                    shown[int(number)] = math[int(number)]
        skeleton = "\n".join(out_lines)
        out = _restore(skeleton, shown)
        if _remove_math(out) == (skeleton, shown):  # JupyterLab will find the same math in what we send
            return out
        break
    return fence(text)


def _read_lines(lines: list[str], text: str) -> tuple[list[int], tuple[int, int, int, str] | None]:
    """Each line's kind as marked reads it in every reading, or the first fix needed to make that certain:
    ``(row, begin, end, replacement)`` for ``line[begin:end]``; a row past the end appends a line.
    ``text``: the lines joined with newlines."""
    kinds: list[int] = []
    fence: tuple[int, int, str, bool] | None = None  # opener row, column of its run, run, ambiguous
    offset = 0  # where the row starts in text
    opener_indent, closers = 0, _closers("```")  # the open fence's
    for row, line in enumerate(lines):
        offset, line_start = offset + len(line) + 1, offset
        if fence is None:
            if "[" not in line and "```" not in line and "~~~" not in line:  # no fence, no definition
                kinds.append(_PROSE)
                continue
            opened = _FENCE_LINE.fullmatch(line)
            if opened and not (opened.group(2)[0] == "`" and "`" in opened.group(3)):
                indent = _columns(opened.group(1))
                if indent >= 4:  # a fence only inside a list item (else indented code or a paragraph line)
                    return kinds, _neutralise(row, len(opened.group(1)))
                # JupyterLab puts the whole info string, unescaped, in the code element's class: a word only.
                language = re.findall(r"^[A-Za-z0-9_+#.-]*", opened.group(3).strip())[0]
                if opened.group(3) != language:
                    return kinds, (row, opened.start(3), len(line), language)
                fence = (row, len(opened.group(1)), opened.group(2), indent >= 2)
                opener_indent, closers = indent, _closers(opened.group(2))
                kinds.append(_OPENER)
                continue
            prefixed = _PREFIXED_FENCE.match(line)
            if prefixed:  # a fence opened on a list marker's or a quote's line
                return kinds, _neutralise(row, prefixed.end())
            definition = _definition_start(line, text, line_start)
            if definition is not None:
                return kinds, _neutralise(row, definition)
            kinds.append(_PROSE)
            continue
        start, column, run, ambiguous = fence
        indent = _columns(line)
        if run[0] not in line:  # no closer of any kind: code, unless it ends a list item the fence is in
            if ambiguous and line.strip() and indent < opener_indent:
                return kinds, _neutralise(start, column)
            kinds.append(_CODE)
            continue
        marked_close, common_close, closer_like = (pattern.fullmatch(line) for pattern in closers)
        if marked_close and common_close and (not ambiguous or indent >= opener_indent):
            closer = lines[start][:column] + run  # as JupyterLab's math pass pairs fences: exactly so
            if line != closer:
                return kinds, (row, 0, len(line), closer)
            kinds.append(_CLOSER)
            fence = None
        elif (
            (bool(marked_close) != bool(common_close))
            or (ambiguous and closer_like)
            or (ambiguous and line.strip() and indent < opener_indent)
        ):
            return kinds, _neutralise(start, column)  # where the fence ends depends on the reading
        else:
            kinds.append(_CODE)
    if fence is not None:
        start, column, run, _ambiguous = fence
        return kinds, (len(lines), 0, 0, lines[start][:column] + run)  # close it, at its opener's indent
    return kinds, None


@functools.lru_cache(maxsize=32)
def _closers(run: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """What closes a fence opened with ``run``: for marked, for CommonMark, and what looks like a closer."""
    return (
        re.compile(r" {0,3}" + re.escape(run) + r"[~`]* *"),
        re.compile(r" {0,3}" + re.escape(run[0]) + f"{{{len(run)},}}[ \t]*"),
        re.compile(r"[ \t]*" + re.escape(run) + r"[~`]*[ \t]*"),
    )


def _neutralise(row: int, column: int) -> tuple[int, int, int, str]:
    """A backslash before the fence (or bracket) at ``column``: no fence (or definition) in any reading."""
    return row, column, column, "\\"


def _definition_start(line: str, text: str, offset: int) -> int | None:
    """Where the ``[`` is of a line (at ``offset`` in ``text``) that may start a link reference definition
    spanning lines (marked's can swallow a fence line), or None."""
    found = _DEF_START.match(line)
    if found is None:
        return None
    prefix, _label, after, colon = found.groups()
    if after == "":  # the label goes on past this line
        return found.end(1)
    if after != "]" or colon != ":":
        return None
    if prefix.strip(" ") or _columns(prefix) > 3:  # inside a list or quote: not read as marked will
        return found.end(1)
    definition = _MARKED_DEF.match(text, offset)  # no ^ or lookbehind in it: as on text[offset:]
    return found.end(1) if definition is not None and "\n" in definition.group(0).rstrip("\n") else None


def _stray_fence(text: str, ours: set[int]) -> int | None:
    """Where a line starts that JupyterLab's math pass takes for a fence line but is none of ours (``ours``:
    where our fence and code lines start), or None.

    That pass (see ``_remove_math``) pairs fence lines before math is found, across the whole output; ours
    it pairs as marked does (they are closed exactly as it expects). Any other line it pairs (one inside
    math, say), or leaves open, changes what is math, here or in the next block."""
    tilded = (text + "\n").replace("~", "~T")
    tildes = [m.start() for m in re.finditer("~", tilded)]

    def at(offset: int) -> int:  # the offset in ``text``: each ~T before it is one character there
        return offset - bisect.bisect_left(tildes, offset - 1)

    paired = fences.pairs(tilded)  # in order, not overlapping
    starts = [start for start, _ in paired]
    for opener in _PREPASS_OPENER.finditer(tilded):
        index = bisect.bisect_right(starts, opener.start()) - 1  # the last pair starting at or before it
        match = paired[index] if index >= 0 and opener.start() < paired[index][1] else None
        if match is None or at(opener.start()) not in ours:
            return at(opener.start())  # left open, or not one of our fences
        if match[0] == opener.start():
            closer = tilded.rfind("\n", 0, match[1]) + 1
            if at(closer) not in ours:
                return at(closer)
    return None


def _line_starts(skeleton: str, spans: list[tuple[int, int]], kinds: list[int]) -> set[int]:
    """Where the lines that are not prose start in the text the skeleton was made from (``spans``: where
    its math was)."""
    starts: set[int] = set()
    offset = shift = 0  # in the skeleton; what the math before it adds
    placeholders = _PLACEHOLDER.finditer(skeleton)
    found = next(placeholders, None)
    for line, kind in zip(skeleton.split("\n"), kinds, strict=True):
        while found is not None and found.start() < offset:
            begin, end = spans[int(found.group(1))]
            shift += (end - begin) - (found.end() - found.start())
            found = next(placeholders, None)
        if kind != _PROSE:
            starts.add(offset + shift)
        offset += len(line) + 1
    return starts


def _columns(whitespace: str) -> int:
    """Indentation in columns (tabs to the next multiple of 4), of the leading whitespace of a string."""
    column = 0
    for char in whitespace:
        if char == " ":
            column += 1
        elif char == "\t":
            column += 4 - column % 4
        else:
            break
    return column


def _escape_line(line: str) -> str:
    """A prose line: ``<`` → ``&lt;``; inside a code span (a run of N backticks up to the next run of N on
    the line) ``<`` before a letter gets a word joiner; kept autolinks stay."""
    out: list[str] = []
    i = 0
    while i < len(line):
        start = line.find("`", i)
        if start < 0:
            out.append(_escape_lt(line[i:]))
            break
        out.append(_escape_lt(line[i:start]))
        run = len(line[start:]) - len(line[start:].lstrip("`"))
        end = re.compile(r"(?<!`)" + "`" * run + r"(?!`)").search(line, start + run)
        stop = end.end() if end else start + run  # no closing run: the backticks are literal
        out.append(_TAG_START.sub("<" + _WORD_JOINER, line[start:stop]))
        i = stop
    return "".join(out)


def _escape_lt(text: str) -> str:
    parts = _KEPT_AUTOLINK.split(text)
    return "".join(part if j % 2 else part.replace("<", "&lt;") for j, part in enumerate(parts))


def _inert_math(piece: str) -> str:
    """TeX that cannot leave an attribute (``"`` → ``''``) and shows ``<`` however it is parsed."""
    return piece.replace('"', "''").replace("<", "\\lt ")


# -- JupyterLab's removeMath, ported ---------------------------------------------------------------------

_OPEN, _SHUT = "\ue000", "\ue001"  # a placeholder: private-use characters around the piece's number
_PLACEHOLDER = re.compile(_OPEN + "([0-9]+)" + _SHUT)
_MATH_SPLIT = re.compile(  # the lookahead (what each alternative starts with) only makes it faster
    r"(?=[$\\{}\n@])(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n[" + _JS_SPACE + r"]*)+|@@[0-9]+@@"
    r"|\\\\(?:\(|\)|\[|\]))",
    re.IGNORECASE | re.ASCII,
)
_PREPASS_OPENER = re.compile(r"^(?:`{3,}|(?:~T){3,})[^`\n]*\n", re.MULTILINE)
_SPAN_DOLLARS = re.compile(r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)", re.MULTILINE)
_TWO_BREAKS = re.compile(r"\n[^\n\r\u2028\u2029]*\n")


def _untilde(text: str) -> str:
    return re.sub(r"~([TD])", lambda m: "~" if m.group(1) == "T" else "$", text)


def _remove_math(text: str, spans: list[tuple[int, int]] | None = None) -> tuple[str, list[str]]:
    """The text with each piece of TeX replaced by a placeholder, and the pieces: what JupyterLab's
    removeMath finds, step by step (its pieces are HTML-escaped there; here they are kept as written).
    Where each piece is in ``text`` is appended to ``spans`` if given."""
    untilde = None
    if "`" in text or "~~~" in text:  # $ in code is not math
        untilde = _untilde
        text = text.replace("~", "~T")
        text = fences.hide_dollars(text)
        text = "\n".join([_span_dollars(line) if "$" in line else line for line in text.split("\n")])
    blocks = _MATH_SPLIT.split(text)
    math: list[str] = []
    offsets: list[int] = []  # where blocks start in the text as changed
    tildes: list[int] = []  # where its ~T and ~D pairs are (a block never splits one)
    if spans is not None:
        offsets = list(itertools.accumulate(map(len, blocks), initial=0))
        tildes = [m.start() for m in re.finditer("~", text)] if untilde else []

    def start_of(index: int) -> int:  # where a block starts in the text as given: a pair is one character
        return offsets[index] - bisect.bisect_left(tildes, offsets[index])

    def take(first: int, last: int) -> None:
        if spans is not None:
            spans.append((start_of(first), start_of(last + 1)))
        piece = "".join(blocks[first : last + 1])
        piece = _PLACEHOLDER.sub(lambda m: math[int(m.group(1))], piece)  # an @@N@@ inside: as written
        math.append(untilde(piece) if untilde else piece)
        blocks[first + 1 : last + 1] = [""] * (last - first)
        blocks[first] = f"{_OPEN}{len(math) - 1}{_SHUT}"

    start: int | None = None
    end = ""
    last: int | None = None
    braces = 0
    i = 1
    while i < len(blocks):
        block = blocks[i]
        if block[:1] == "\n":  # line breaks (the most common): ends an unclosed piece at a blank line
            if start is not None and _TWO_BREAKS.search(block):
                if last is not None:
                    i = last
                    take(start, i)
                start, end, last, braces = None, "", None, 0
        elif block[:1] in ("@", _OPEN):  # @@N@@, or a placeholder seen again (JupyterLab's start with @ too)
            blocks[i] = f"{_OPEN}{len(math)}{_SHUT}"
            math.append(_restore(block, math))
            if spans is not None:
                spans.append((start_of(i), start_of(i + 1)))
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    take(start, i)
                    start, end, last = None, "", None
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block[-1] == "(" else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        take(start, last)
    joined = "".join(blocks)
    return (untilde(joined) if untilde else joined), math


def _span_dollars(line: str) -> str:
    """A line with the $ in its code spans hidden, as JupyterLab's pass over the whole text hides them: its
    matches never span lines (but for a newline before the backticks, where ``^`` matches as well)."""
    if "`" not in line:
        return line
    return _SPAN_DOLLARS.sub(lambda m: m.group(0).replace("$", "~D"), line)


def _restore(skeleton: str, pieces: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: pieces[int(m.group(1))], skeleton)


def escape(text: str) -> str:
    """Literal text inside Markdown: no formatting, no HTML, no TeX. ``\\`` and ``$`` become entities: as
    backslash escapes they would start TeX for JupyterLab (``\\\\(``, ``\\\\begin``), which it puts back into
    the HTML after rendering, inside the target of an autolinked URL too (see the notes above)."""
    text = " ".join(str(text).split()).replace("\\", "&bsol;").replace("$", "&dollar;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def code_span(text: str) -> str:
    """Literal text as inline code; backslash escapes do not work inside a code span, so none are added."""
    text = " ".join(str(text).split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if not text or text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def safe_url(url: str) -> str | None:
    """An http(s) URL to put in a Markdown link, or None. Characters that start TeX (``$``, ``\\``) or could
    end an HTML attribute are percent-encoded: JupyterLab would otherwise put math back inside the href."""
    url = str(url).strip()
    if not re.match(r"^https?://[^\s<>()]+$", url):
        return None
    return re.sub(r"[$\"'\\`{}]", lambda m: f"%{ord(m.group(0)):02X}", url)


def fence(text: str, language: str = "") -> str:
    """A code fence long enough that the content cannot close it; the language is reduced to a word (the
    service names it: a backtick or a newline in it would end the fence line, a ``"`` its HTML class)."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    ticks = "`" * (longest + 1)
    language = re.sub(r"[^A-Za-z0-9_+#.-]", "", language)[:40]
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"
