"""Static views: Markdown (and PNG) that read well in nbviewer, GitHub and nbconvert without widgets.

Model output is untrusted. Its Markdown is never sent as HTML, and raw HTML inside it is escaped: JupyterLab
renders the Markdown of outputs produced in the session as *trusted*, without its sanitizer, so a
``<script>`` or ``<img onerror=…>`` in the text would run (tests/browser/test_lab_security.py shows it). Link
targets other than http(s), mailto, anchors and relative paths are neutralised, and text we build around
model output (titles, URLs, names) is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

from .. import blocks as b

_UNSAFE_LINK = re.compile(r"\]\(\s*<?\s*(?!https?:|mailto:|#|/)([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_UNSAFE_AUTOLINK = re.compile(r"<\s*(javascript|vbscript|data|file):[^>]*>", re.IGNORECASE)
# Link destinations: inline links ``](dest`` and reference definitions ``[label]: dest``.
_LINK_TARGET = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s)]+)")
_REFERENCE_TARGET = re.compile(r"(^ {0,3}\[[^\]\n]+\]:[ \t]*)(<[^>\n]*>|\S+)", re.MULTILINE)
_SAFE_SCHEMES = ("http", "https", "mailto")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_KEPT_AUTOLINK = re.compile(r"(<(?:https?://|mailto:)[^\s<>]*>)", re.IGNORECASE)
# TeX as JupyterLab finds it (it escapes HTML in math itself and hands it to MathJax).
_MATH = re.compile(
    r"(\$\$.+?\$\$|\$[^$\n]+?\$|\\\\?\(.+?\\\\?\)|\\\\?\[.+?\\\\?\]|\\begin\{([a-z]*\*?)\}.*?\\end\{\2\})",
    re.DOTALL | re.IGNORECASE,
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~])")
# Images the saved view embeds as data URIs (JupyterLab's sanitizer keeps them in an img src).
EMBEDDED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_EMBEDDED = 8_000_000  # bytes; a larger image keeps the placeholder (its PNG is still in the bundle)


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


def escape_html(text: str) -> str:
    """``<`` outside code fences and code spans → ``&lt;``: raw HTML in Markdown is shown, not parsed.

    http(s) and mailto autolinks (``<https://…>``) are kept; code keeps its ``<`` (it is shown literally
    there anyway)."""
    out: list[str] = []
    prose: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        opened = _FENCE.match(line)
        if fence:
            out.append(line)
            closing = opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence)
            if closing and not line.strip().strip(fence[0]):
                fence = ""
        elif opened and not (opened.group(1)[0] == "`" and "`" in line.strip()[len(opened.group(1)) :]):
            out.append(_escape_prose("".join(prose)))
            prose = []
            fence = opened.group(1)
            out.append(line)
        else:
            prose.append(line)
            continue
    out.append(_escape_prose("".join(prose)))
    return "".join(out)


def _escape_prose(text: str) -> str:
    """Escape ``<`` in text outside inline code spans (a run of N backticks up to the next run of N)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find("`", i)
        if start < 0:
            out.append(_escape_lt(text[i:]))
            break
        out.append(_escape_lt(text[i:start]))
        run = len(text[start:]) - len(text[start:].lstrip("`"))
        end = re.compile(r"(?<!`)" + "`" * run + r"(?!`)").search(text, start + run)
        stop = end.end() if end else start + run  # no closing run: the backticks are literal
        out.append(text[start:stop])
        i = stop
    return "".join(out)


def _escape_lt(text: str) -> str:
    """``<`` → ``&lt;``, but ``\\lt`` in TeX (an entity there would be shown as one) and kept in autolinks.

    Math found here that JupyterLab does not take for math shows ``\\lt`` as text: never a raw ``<``."""
    out: list[str] = []
    pieces = _MATH.split(text)
    for k in range(0, len(pieces), 3):  # split yields text, math, the environment group, text, …
        parts = _KEPT_AUTOLINK.split(pieces[k])
        out += [part if j % 2 else part.replace("<", "&lt;") for j, part in enumerate(parts)]
        if k + 1 < len(pieces):
            out.append(re.sub(r"<", r"\\lt ", pieces[k + 1]))
    return "".join(out)


def escape(text: str) -> str:
    """Literal text inside Markdown: no formatting, no HTML."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code_span(text: str) -> str:
    """Literal text as inline code; backslash escapes do not work inside a code span, so none are added."""
    text = " ".join(str(text).split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if not text or text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def safe_url(url: str) -> str | None:
    url = str(url).strip()
    if not re.match(r"^https?://[^\s<>()]+$", url):
        return None
    return url


def link(title: str, url: str) -> str:
    target = safe_url(url)
    return f"[{escape(title)}]({target})" if target else f"{escape(title)} ({escape(url)})"


def fence(text: str, language: str = "") -> str:
    """A code fence long enough that the content cannot close it."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines())


def block_markdown(block: b.Block, show_thoughts: bool = True, embed_images: bool = False) -> str:
    """One block as Markdown; images become a short placeholder or, with ``embed_images``, the image itself
    as a data URI (for the saved view: JupyterLab prefers Markdown to a PNG in the same output)."""
    if isinstance(block, b.TextBlock):
        return safe_markdown(block.text)
    if isinstance(block, b.ThoughtBlock):
        if not show_thoughts or not block.summary.strip():
            return ""
        return "**Thoughts**\n\n" + quote(safe_markdown(block.summary))
    if isinstance(block, b.ImageBlock):
        size = f"{len(block.data):,} bytes" if block.data else "no data"
        fits = block.mime_type in EMBEDDED_TYPES and 0 < len(block.data) <= MAX_EMBEDDED
        if embed_images and fits:
            data = base64.b64encode(block.data).decode("ascii")
            return f"![image: {block.mime_type}, {size}](data:{block.mime_type};base64,{data})"
        return f"*[image: {escape(block.mime_type)}, {size}]*"
    if isinstance(block, b.CodeBlock):
        parts = [f"**Code execution** ({escape(block.language)})", fence(block.code, block.language.lower())]
        if block.output is not None:
            label = "**Error**" if block.is_error else "**Output**"
            parts += [label, fence(block.output or "(no output)")]
        return "\n\n".join(parts)
    if isinstance(block, b.FunctionCallBlock):
        args = json.dumps(block.arguments, ensure_ascii=False, indent=1, default=str)
        title = f"**MCP tool** {code_span(f'{block.server}: {block.name}')}" if block.server else ""
        parts = [title or f"**Function call** {code_span(block.name)}", fence(args, "json")]
        if block.answered:
            label = "**Function error**" if block.is_error else "**Function result**"
            shown = block.result if isinstance(block.result, str) else json.dumps(block.result, default=str)
            parts += [label, fence(str(shown))]
        return "\n\n".join(parts)
    if isinstance(block, b.SearchBlock):
        queries = ", ".join(f"*{escape(q)}*" for q in block.queries) or "*(no query)*"
        lines = [f"**Google Search**: {queries}"]
        lines += [f"- {link(c.title, c.url)}" for c in block.links]
        return "\n".join(lines)
    if isinstance(block, b.UrlContextBlock):
        lines = ["**URL context**"]
        for url in block.urls:
            status = block.statuses.get(url, "pending")
            lines.append(f"- {link(url, url)} — {escape(status)}")
        return "\n".join(lines)
    kind = block.kind if len(block.kind) <= 60 else block.kind[:59] + "…"  # the service names it: unbounded
    return f"*[{escape(kind)} step]* {code_span(block.preview[:120])}"


def citations_markdown(block_list: list[b.Block]) -> str:
    """Numbered sources for the citations in the answer's text, as links."""
    seen: dict[str, b.Citation] = {}
    for block in block_list:
        if isinstance(block, b.TextBlock):
            for citation in block.citations:
                seen.setdefault(citation.url, citation)
    if not seen:
        return ""
    rows = [f"{i}. {link(c.title, c.url)}" for i, c in enumerate(seen.values(), 1)]
    return "**Sources**\n\n" + "\n".join(rows)


def merge_thoughts(block_list: list[b.Block]) -> list[b.Block]:
    """Consecutive thought summaries as one block (an agent sends dozens): one *Thoughts* section each."""
    merged: list[b.Block] = []
    for block in block_list:
        last = merged[-1] if merged else None
        if isinstance(block, b.ThoughtBlock) and isinstance(last, b.ThoughtBlock):
            summaries = [s for s in (last.summary.strip(), block.summary.strip()) if s]
            merged[-1] = b.ThoughtBlock("\n\n".join(summaries), last.signed or block.signed)
        else:
            merged.append(block)
    return merged


def to_markdown(
    block_list: list[b.Block],
    show_thoughts: bool = True,
    header: str = "",
    footer: str = "",
    embed_images: bool = False,
) -> str:
    parts = [header] if header else []
    parts += [block_markdown(block, show_thoughts, embed_images) for block in merge_thoughts(block_list)]
    sources = citations_markdown(block_list)
    text_has_sources = any(isinstance(x, b.TextBlock) and "Sources" in x.text for x in block_list)
    if sources and not text_has_sources:
        parts.append(sources)
    if footer:
        parts.append(footer)
    return "\n\n".join(p for p in parts if p.strip())


def first_png(block_list: list[b.Block]) -> bytes | None:
    return next(
        (x.data for x in block_list if isinstance(x, b.ImageBlock) and x.data and x.mime_type == "image/png"),
        None,
    )


def bundle(markdown: str, block_list: list[b.Block]) -> dict[str, Any]:
    data: dict[str, Any] = {"text/markdown": markdown, "text/plain": markdown}
    png = first_png(block_list)
    if png:
        data["image/png"] = png
    return data
