"""Static views: Markdown (and PNG) that read well in nbviewer, GitHub and nbconvert without widgets.

Model output is untrusted. Its Markdown is passed to the front end's sanitising Markdown renderer, never
as HTML; ``javascript:`` and other non-web link targets are neutralised first, and text we build around
it (titles, URLs, names) is escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import blocks as b

_UNSAFE_LINK = re.compile(r"\]\(\s*<?\s*(?!https?:|mailto:|#|/)([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_UNSAFE_AUTOLINK = re.compile(r"<\s*(javascript|vbscript|data|file):[^>]*>", re.IGNORECASE)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~])")


def safe_markdown(text: str) -> str:
    """Model Markdown with link targets other than http(s)/mailto/anchors made inert."""
    text = _UNSAFE_LINK.sub(lambda m: "](#blocked-" + m.group(1).lower() + "-link:", text)
    return _UNSAFE_AUTOLINK.sub("`blocked link`", text)


def escape(text: str) -> str:
    """Literal text inside Markdown: no formatting, no HTML."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


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


def block_markdown(block: b.Block, show_thoughts: bool = True) -> str:
    """One block as Markdown; images become a short placeholder (the PNG travels beside it)."""
    if isinstance(block, b.TextBlock):
        return safe_markdown(block.text)
    if isinstance(block, b.ThoughtBlock):
        if not show_thoughts or not block.summary.strip():
            return ""
        return "**Thoughts**\n\n" + quote(safe_markdown(block.summary))
    if isinstance(block, b.ImageBlock):
        size = f"{len(block.data):,} bytes" if block.data else "no data"
        return f"*[image: {escape(block.mime_type)}, {size}]*"
    if isinstance(block, b.CodeBlock):
        parts = [f"**Code execution** ({escape(block.language)})", fence(block.code, block.language.lower())]
        if block.output is not None:
            label = "**Error**" if block.is_error else "**Output**"
            parts += [label, fence(block.output or "(no output)")]
        return "\n\n".join(parts)
    if isinstance(block, b.FunctionCallBlock):
        args = json.dumps(block.arguments, ensure_ascii=False, indent=1, default=str)
        parts = [f"**Function call** `{escape(block.name)}`", fence(args, "json")]
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
    return f"*[{escape(block.kind)} step]* `{escape(block.preview[:120])}`"


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


def to_markdown(
    block_list: list[b.Block], show_thoughts: bool = True, header: str = "", footer: str = ""
) -> str:
    parts = [header] if header else []
    parts += [block_markdown(block, show_thoughts) for block in block_list]
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
