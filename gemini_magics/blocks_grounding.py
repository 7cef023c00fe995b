"""What grounding tools bring back, as blocks: Google Maps places, file search chunks, and the citations of
an answer's text (web pages, places, files) — the wire shapes ``blocks.py`` hands over to this module.

``blocks.py`` knows the steps and deltas; this module knows what is inside the grounding ones
(``google_maps_call``/``_result``, ``file_search_call``/``_result``) and the annotation kinds
(``url_citation``, ``place_citation``, ``file_citation``). It imports nothing of the package, so
``blocks.py`` can call it with one line per hook.

**Offsets.** Annotations carry ``start_index``/``end_index``. google-genai's annotation types say they count
UTF-8 bytes, and the service's answers are cited so (Deep Research reports, whose text has accents, dashes,
CJK and emoji; file search and Maps answers). The recorded Google Search answer (tests/real_samples/
docs_sync_google_search_grounding.json) is ASCII, where bytes and characters agree, so it cannot tell them
apart. The rule (``cited_span``): offsets are bytes; only a span that is impossible in bytes (past the end,
or cutting a character in two), or a ``[cite: N]`` marker that only the character reading finds, is read in
characters — what a client or proxy that counts characters would send.

**Streams.** A streamed ``file_search_result`` delta carries the retrieved chunks; the stored step carries
none (google-genai 3.6.1's ``FileSearchResultStep`` declares no result), so a non-streamed answer's chunks
come from its ``file_citation`` annotations (``cite_files``), as a stream's search links come from its
``url_citation``s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CALLS = ("google_maps_call", "file_search_call")
CITE_MARKER = re.compile(r"\[cite: *(\d+(?: *, *\d+)*)\]")


@dataclass
class Citation:
    """A source of the answer's text: a web page (``url``), a Google Maps place (``place``) or a file of a
    file search store (``file``: no URL; ``source`` names the store)."""

    title: str
    url: str
    marker: str = ""  # the cited span of the text, e.g. "[1]" or "[cite: 2, 3]"
    kind: str = "url"
    source: str = ""
    page: int | None = None
    document: str = ""  # a file's document resource name
    start: int = -1  # where the cited span starts in the text, in characters (-1: unknown)


@dataclass
class Place:
    """A Google Maps place: its name, link and review snippets (each a ``Citation`` of kind ``url``)."""

    name: str
    url: str = ""
    place_id: str = ""
    address: str = ""  # not in google-genai 3.6.1's type; shown when a service sends one
    reviews: list[Citation] = field(default_factory=list)


@dataclass
class MapsBlock:
    """A ``google_maps_call`` with its queries and, once the result arrives, the places found."""

    call_id: str
    queries: list[str] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    widget_token: str = ""
    answered: bool = False

    kind = "google_maps_call"  # what a view that does not know this block shows (as for an UnknownBlock)

    @property
    def preview(self) -> str:
        return ", ".join(p.name for p in self.places) or ", ".join(self.queries)


@dataclass
class Chunk:
    """A passage file search retrieved, with the file (document display name) and store it came from."""

    file: str
    text: str
    store: str = ""
    page: int | None = None
    document: str = ""  # the document's resource name, when a citation named it
    cited: bool = False  # the answer cites it


@dataclass
class FileSearchBlock:
    """A ``file_search_call`` and the chunks it found (from the streamed result, or from the citations)."""

    call_id: str
    chunks: list[Chunk] = field(default_factory=list)
    answered: bool = False

    kind = "file_search_call"

    @property
    def preview(self) -> str:
        return ", ".join(dict.fromkeys(c.file for c in self.chunks))


GroundingBlock = MapsBlock | FileSearchBlock


# -- citations ----------------------------------------------------------------------------------------------


def cited_span(text: str, start: Any, end: Any) -> tuple[str, int]:
    """The text an annotation covers and where it starts (in characters); ``("", -1)`` when the offsets
    fit neither reading. Offsets are UTF-8 bytes unless impossible in bytes (see the module's notes)."""
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or start > end:
        return "", -1
    raw = text.encode("utf-8")
    in_bytes: tuple[str, int] | None = None
    if start >= 0 and end <= len(raw):
        try:
            in_bytes = raw[start:end].decode("utf-8"), len(raw[:start].decode("utf-8"))
        except UnicodeDecodeError:
            in_bytes = None
    in_chars = (text[start:end], start) if start >= 0 and end <= len(text) else None
    if in_bytes is not None and in_chars is not None and in_bytes != in_chars:
        marker_in_chars = CITE_MARKER.fullmatch(in_chars[0]) is not None
        if marker_in_chars and not CITE_MARKER.fullmatch(in_bytes[0]):
            return in_chars
    return in_bytes or in_chars or ("", -1)


def citations(block: dict[str, Any], text: str) -> list[Citation]:
    """The citations of a text block (or a ``text_annotation_delta``) whose text so far is ``text``."""
    out = []
    for note in block.get("annotations") or []:
        if not isinstance(note, dict):
            continue
        kind = note.get("type")
        marker, start = cited_span(text, note.get("start_index"), note.get("end_index"))
        if kind == "url_citation" and note.get("url"):
            url = str(note["url"])
            out.append(Citation(str(note.get("title") or url), url, marker, start=start))
        elif kind == "place_citation" and (note.get("name") or note.get("url")):
            url, name = str(note.get("url") or ""), str(note.get("name") or note.get("url"))
            place_id = str(note.get("place_id") or "")
            out.append(Citation(name, url, marker, kind="place", source=place_id, start=start))
        elif kind == "file_citation" and (note.get("file_name") or note.get("document_uri")):
            name = str(note.get("file_name") or note.get("document_uri"))
            page = note.get("page_number") if isinstance(note.get("page_number"), int) else None
            source, document = str(note.get("source") or ""), str(note.get("document_uri") or "")
            out.append(Citation(name, "", marker, "file", source, page, document, start))
    return out


def cite_files(blocks: list[Any], cited: list[Citation]) -> None:
    """File search blocks learn which chunks the answer cites; a block whose result carried no chunks (the
    stored step has none) gets the cited passages as its chunks."""
    files = [c for c in cited if c.kind == "file"]
    if not files:
        return
    for block in blocks:
        if not isinstance(block, FileSearchBlock):
            continue
        if not block.chunks:
            block.chunks = [Chunk(c.title, c.marker, c.source, c.page, c.document, cited=True) for c in files]
            continue
        for chunk in block.chunks:
            chunk.cited = chunk.cited or any(_same_passage(chunk, c) for c in files)


def _same_passage(chunk: Chunk, citation: Citation) -> bool:
    """A citation quotes a chunk: the same file, and the quoted words start the chunk (quotes are cut)."""
    if chunk.file != citation.title or not citation.marker.strip():
        return False
    quoted = " ".join(citation.marker.replace("…", " ").split())
    return " ".join(chunk.text.split()).startswith(quoted[: max(20, len(quoted) // 2)])


# -- calls and results ---------------------------------------------------------------------------------------


def call_block(kind: str, call_id: str, arguments: dict[str, Any]) -> GroundingBlock:
    if kind == "google_maps_call":
        return MapsBlock(call_id, [str(q) for q in arguments.get("queries") or []])
    return FileSearchBlock(call_id)


def fill_call(block: Any, delta: dict[str, Any]) -> bool:
    """A call whose arguments arrive in a delta after an empty ``step.start``."""
    if isinstance(block, MapsBlock):
        arguments = delta.get("arguments") if isinstance(delta.get("arguments"), dict) else {}
        block.queries = [str(q) for q in arguments.get("queries") or block.queries]
        return True
    return isinstance(block, FileSearchBlock)


def attach_result(block: Any, step: dict[str, Any]) -> bool:
    """Put a result (a stored step, or a streamed delta merged with its call id) into its call's block."""
    result = step.get("result")
    if isinstance(block, MapsBlock):
        block.answered = True
        for item in result if isinstance(result, list) else []:
            if isinstance(item, dict):
                block.places += [_place(p) for p in item.get("places") or [] if isinstance(p, dict)]
                block.widget_token = str(item.get("widget_context_token") or block.widget_token)
        return True
    if isinstance(block, FileSearchBlock):
        block.answered = True
        for item in result if isinstance(result, list) else []:
            if isinstance(item, dict) and (item.get("text") or item.get("title")):
                page = item.get("page_number") if isinstance(item.get("page_number"), int) else None
                store = str(item.get("file_search_store") or "")
                title, text = str(item.get("title") or "?"), str(item.get("text") or "")
                block.chunks.append(Chunk(title, text, store, page))
        return True
    return False


def _place(data: dict[str, Any]) -> Place:
    reviews = [
        Citation(str(r.get("title") or r.get("url")), str(r.get("url") or ""))
        for r in data.get("review_snippets") or []
        if isinstance(r, dict) and (r.get("title") or r.get("url"))
    ]
    address = data.get("address") or data.get("formatted_address") or ""
    return Place(
        str(data.get("name") or data.get("url") or "?"),
        str(data.get("url") or ""),
        str(data.get("place_id") or ""),
        str(address),
        reviews,
    )
