"""Views of what grounding tools found, and of the sources an answer cites: Google Maps places, file search
passages with the file each came from, MCP tool calls with their results, and cited text whose ``[cite: N]``
markers and place names become links.

Everything shown here came from the service (place names, review titles, file names, passages, MCP
results, URLs) and is untrusted: names and passages are escaped as literal text (``static.escape``), links
go through ``static.link``/``static.safe_url`` (http(s) only, TeX and quote characters percent-encoded),
code-like values (arguments, results) sit in fences, and cited text is passed through
``static.safe_markdown`` *after* its markers became links, so the escaper sees the final Markdown.

``static.block_markdown`` finds these views in ``static.VIEWS``, which this module fills when imported
(``view`` and ``live`` import it; ``static`` cannot, as this module needs it). The widget view
(``widget``) shows file search passages in a collapsed accordion titled by file (titles are plain text) and
an MCP tool's images as images; everything else is the same Markdown in an ``Output``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .. import blocks as b
from ..blocks_grounding import CITE_MARKER, Citation, FileSearchBlock, MapsBlock
from . import static

QUOTE_CHARS = 400  # characters of a passage the view quotes
_PLAIN_SPAN = re.compile(r"[^\[\]\n`<>*_$\\|]+")  # a cited name that can be link text as it is
_SOURCE_ENTRY = re.compile(r"^\s*(\d+)\.\s+\[[^\]\n]*\]\(\s*<?([^\s)>]+)>?\s*\)", re.MULTILINE)
_SOURCES_HEADING = re.compile(r"^\W*sources\W*$", re.IGNORECASE | re.MULTILINE)


# -- Markdown ---------------------------------------------------------------------------------------------


def maps_markdown(block: MapsBlock, embed_images: bool = False) -> str:
    queries = ", ".join(f"*{static.escape(q)}*" for q in block.queries) or "*(no query)*"
    lines = [f"**Google Maps**: {queries}"]
    for place in block.places:
        parts = [static.link(place.name, place.url) if place.url else f"**{static.escape(place.name)}**"]
        if place.address:
            parts.append(static.escape(place.address))
        parts += [f"review: {static.link(f'“{r.title}”', r.url)}" for r in place.reviews[:3]]
        lines.append("- " + " · ".join(parts))
    if not block.places:
        lines.append("*(no places found)*" if block.answered else "*searching…*")
    return "\n".join(lines)


def _passage(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + " …"


def chunk_title(chunk: Any) -> str:
    """A passage's file, page and whether the answer cites it: plain text (an accordion title)."""
    title = chunk.file + (f", page {chunk.page}" if chunk.page else "")
    return title + (" · cited" if chunk.cited else "")


def file_search_markdown(block: FileSearchBlock, embed_images: bool = False) -> str:
    files = list(dict.fromkeys(c.file for c in block.chunks))
    if not block.chunks:
        found = "*(no passages)*" if block.answered else "*searching…*"
    else:
        passages = f"{len(block.chunks)} passage{'s' if len(block.chunks) != 1 else ''}"
        found = f"{passages} from {len(files)} file{'s' if len(files) != 1 else ''}"
    lines = [f"**File search**: {found}"]
    for number, chunk in enumerate(block.chunks, 1):
        where = [f"*{static.escape(chunk.file)}*"]
        if chunk.page:
            where.append(f"page {chunk.page}")
        if chunk.store:
            where.append(static.code_span(chunk.store))
        if chunk.cited:
            where.append("cited in the answer")
        lines.append(f"{number}. " + " · ".join(where))
        if chunk.text.strip():
            lines.append(f"   > {static.escape(_passage(chunk.text))}")
    return "\n".join(lines)


def _mcp_parts(result: Any) -> tuple[str, list[tuple[bytes, str]]]:
    """An MCP result's text (text blocks joined, an object as JSON) and its images (bytes, MIME type)."""
    if isinstance(result, str):
        return result, []
    if isinstance(result, list):
        texts, images = [], []
        for item in result:
            if isinstance(item, dict) and item.get("type") == "image":
                try:
                    data = base64.b64decode(str(item.get("data") or ""), validate=True)
                    images.append((data, str(item.get("mime_type") or "")))
                except (binascii.Error, ValueError):
                    texts.append("[an image that could not be decoded]")
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                texts.append(item["text"])
            else:
                texts.append(json.dumps(item, ensure_ascii=False, default=str))
        return "\n".join(texts), images
    return json.dumps(result, ensure_ascii=False, indent=1, default=str), []


def _image_markdown(data: bytes, mime_type: str, embed_images: bool) -> str:
    size = f"{len(data):,} bytes"
    if embed_images and mime_type in static.EMBEDDED_TYPES and 0 < len(data) <= static.MAX_EMBEDDED:
        encoded = base64.b64encode(data).decode("ascii")
        return f"![image: {mime_type}, {size}](data:{mime_type};base64,{encoded})"
    return f"*[image: {static.escape(mime_type or 'unknown type')}, {size}]*"


def mcp_markdown(block: b.FunctionCallBlock, embed_images: bool = False, images: bool = True) -> str | None:
    """An MCP tool call (server, tool, arguments) and its result; None for a notebook function call."""
    if not block.server:
        return None
    arguments = json.dumps(block.arguments, ensure_ascii=False, indent=1, default=str)
    parts = [
        f"**MCP tool** {static.code_span(f'{block.server}: {block.name}')}",  # server: tool
        static.fence(arguments, "json"),
    ]
    if not block.answered:
        parts.append("*waiting for the server…*")
        return "\n\n".join(parts)
    text, found = _mcp_parts(block.result)
    parts.append("**MCP error**" if block.is_error else "**MCP result**")
    if text.strip() or not found:
        parts.append(static.fence(text or "(empty)"))
    if images:
        parts += [_image_markdown(data, mime, embed_images) for data, mime in found]
    return "\n\n".join(parts)


# -- cited text ---------------------------------------------------------------------------------------------


def cite_targets(block: b.TextBlock) -> dict[int, str]:
    """Source number → URL for the ``[cite: N]`` markers of a report. The annotations say it first: each
    covers the first marker citing its source (two share a ``[cite: 2, 3]``, in number order); then the
    numbered links under the report's *Sources* heading (what a report kept only as text still has)."""
    text, targets, seen = block.text, {}, set()
    at: dict[int, list[Citation]] = {}
    for citation in block.citations:
        if citation.kind == "url" and citation.start >= 0 and CITE_MARKER.fullmatch(citation.marker):
            at.setdefault(citation.start, []).append(citation)
    for marker in CITE_MARKER.finditer(text):
        numbers = [int(n) for n in re.findall(r"\d+", marker.group(1))]
        notes = at.get(marker.start(), [])
        fresh = [n for n in numbers if n not in seen]
        chosen = fresh if len(notes) == len(fresh) else numbers if len(notes) == len(numbers) else []
        for number, note in zip(chosen, notes, strict=False):
            targets.setdefault(number, note.url)
        seen.update(numbers)
    headings = list(_SOURCES_HEADING.finditer(text))
    if headings:
        for number, url in _SOURCE_ENTRY.findall(text, headings[-1].end()):
            targets.setdefault(int(number), url)
    return targets


def linked_text(block: b.TextBlock) -> str:
    """The block's Markdown with cited place names linked to their place and ``[cite: 2, 3]`` markers as
    ``[2, 3]`` whose numbers link to their sources (unsafe URLs stay plain numbers). Not yet escaped."""
    text = block.text
    targets = cite_targets(block)
    places = sorted(
        (c for c in block.citations if c.kind == "place" and c.start >= 0 and static.safe_url(c.url)),
        key=lambda c: c.start,
        reverse=True,
    )
    end = len(text) + 1
    for place in places:  # from the end, so earlier offsets stay right
        stop = place.start + len(place.marker)
        if stop <= end and text[place.start : stop] == place.marker and _PLAIN_SPAN.fullmatch(place.marker):
            text = f"{text[: place.start]}[{place.marker}]({static.safe_url(place.url)}){text[stop:]}"
            end = place.start

    def linked(marker: re.Match[str]) -> str:
        shown = []
        for number in (int(n) for n in re.findall(r"\d+", marker.group(1))):
            url = static.safe_url(targets.get(number, ""))
            shown.append(f"[{number}]({url})" if url else str(number))
        return "\\[" + ", ".join(shown) + "\\]"

    return CITE_MARKER.sub(linked, text)


def text_markdown(block: b.TextBlock, embed_images: bool = False) -> str | None:
    """Cited text with its links; None (the plain view) when nothing in it becomes a link."""
    if not (CITE_MARKER.search(block.text) or any(c.kind == "place" for c in block.citations)):
        return None
    return static.safe_markdown(linked_text(block))


static.VIEWS.update(
    {
        MapsBlock: maps_markdown,
        FileSearchBlock: file_search_markdown,
        b.FunctionCallBlock: mcp_markdown,
        b.TextBlock: text_markdown,
    }
)


# -- widgets ------------------------------------------------------------------------------------------------


def markdown_output(text: str) -> Any:
    """An ``Output`` widget holding Markdown (as ``Output.append_display_data`` would, without the shell's
    formatter, which drops Markdown where only text/plain is active)."""
    import ipywidgets as w

    out = w.Output()
    if text.strip():
        data = {"text/markdown": text, "text/plain": text}
        out.outputs += ({"output_type": "display_data", "data": data, "metadata": {}},)
    return out


def widget(block: Any) -> Any:
    """The rich view of a grounding block (file search passages in an accordion, an MCP tool's images as
    images), or None: the block's Markdown is its view."""
    import ipywidgets as w

    if isinstance(block, FileSearchBlock) and block.chunks:
        passages = [markdown_output(f"> {static.escape(chunk.text)}") for chunk in block.chunks]
        accordion = w.Accordion(children=passages)
        for index, chunk in enumerate(block.chunks):
            accordion.set_title(index, chunk_title(chunk)[:200])
        accordion.selected_index = None
        return w.VBox([markdown_output(file_search_markdown(block).split("\n", 1)[0]), accordion])
    if isinstance(block, b.FunctionCallBlock) and block.server and block.answered:
        found = _mcp_parts(block.result)[1]
        if found:
            children = [markdown_output(mcp_markdown(block, images=False) or "")]
            for data, mime in found:
                if mime in static.EMBEDDED_TYPES:
                    layout = w.Layout(max_width="256px")
                    children.append(w.Image(value=data, format=mime.split("/")[1], layout=layout))
                else:
                    children.append(markdown_output(_image_markdown(data, mime, False)))
            return w.VBox(children)
    return None
