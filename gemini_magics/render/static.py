"""Static views: Markdown (and PNG) that read well in nbviewer, GitHub and nbconvert without widgets.

Model output is untrusted. Its Markdown is never sent as HTML, and raw HTML inside it is escaped: JupyterLab
renders the Markdown of outputs produced in the session as *trusted*, without its sanitizer, so a
``<script>`` or ``<img onerror=…>`` in the text would run (tests/browser/test_lab_security.py shows it). Link
targets other than http(s), mailto, anchors and relative paths are neutralised, and text we build around
model output (titles, URLs, names) is escaped: ``escaping.py`` does both, and its functions are importable
from here too; ``link`` and ``quote`` build Markdown around such text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .. import blocks as b
from ..blocks_media import AudioBlock
from . import audio
from .escaping import code_span, escape, fence, safe_markdown, safe_url
from .escaping import escape_html as escape_html  # the escaping is importable from here too

# Images the saved view embeds as data URIs (JupyterLab's sanitizer keeps them in an img src).
EMBEDDED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_EMBEDDED = 8_000_000  # bytes; a larger image keeps the placeholder (its PNG is still in the bundle)
# Views that render modules which import this one add: block type → ``view(block, embed_images)``, Markdown
# or None to leave the block to ``block_markdown`` (render/grounding.py: places, file search, MCP, citations).
VIEWS: dict[type, Any] = {}


def link(title: str, url: str) -> str:
    target = safe_url(url)
    return f"[{escape(title)}]({target})" if target else f"{escape(title)} ({escape(url)})"


def quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines())


def block_markdown(block: b.Block, show_thoughts: bool = True, embed_images: bool = False) -> str:
    """One block as Markdown; images become a short placeholder or, with ``embed_images``, the image itself
    as a data URI (for the saved view: JupyterLab prefers Markdown to a PNG in the same output)."""
    shown = VIEWS[type(block)](block, embed_images) if type(block) in VIEWS else None
    if shown is not None:
        return shown
    if isinstance(block, b.TextBlock):
        return safe_markdown(block.text)
    if isinstance(block, b.ThoughtBlock):
        if not show_thoughts or not block.summary.strip():
            return ""
        # Quoted first, then escaped: JupyterLab finds math in "> " lines as it finds it in the quote.
        return "**Thoughts**\n\n" + safe_markdown(quote(block.summary))
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
    if isinstance(block, AudioBlock):  # a player (embedded with ``embed_images``) and one line
        return audio.markdown(block, embed_images)
    kind = block.kind if len(block.kind) <= 60 else block.kind[:59] + "…"  # the service names it: unbounded
    return f"*[{escape(kind)} step]* {code_span(block.preview[:120])}"


def citations_markdown(block_list: list[b.Block]) -> str:
    """Numbered sources for the citations in the answer's text, as links."""
    seen: dict[str, b.Citation] = {}
    for block in block_list:
        if isinstance(block, b.TextBlock):
            for citation in block.citations:
                seen.setdefault(citation.url or citation.title, citation)  # a file has no URL
    if not seen:
        return ""
    shown = [link(c.title, c.url) if c.url else escape(c.title) for c in seen.values()]
    rows = [f"{i}. {source}" for i, source in enumerate(shown, 1)]
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
