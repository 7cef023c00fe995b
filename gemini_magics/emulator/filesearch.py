"""The ``file_search`` tool of the fake model: real retrieval from the emulator's file search stores.

The prompt is the query; the chunks of the active documents in the named stores (filtered by
``metadata_filter``) are ranked by BM25 and the best ``top_k`` are the result. The steps stream as the
service streams its server tools (``docs_stream_google_search_plus_function_call.json``): ``step.start``
carries ``{id|call_id, signature: "", type}``, one ``step.delta`` of the step's type follows — for the
result, with the retrieved chunks (``FileSearchResultDelta.result``: ``title``, ``text``,
``file_search_store``, the fields google-genai 1.x typed). The stored steps hold only what google-genai
3.6.1's ``FileSearchCallStep`` / ``FileSearchResultStep`` declare (a client may send them back as
input, where anything else is an unknown parameter). The answer quotes the top chunks, each quote cited
by a ``file_citation`` annotation (UTF-8 byte offsets) naming the document it came from.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import metafilter
from .engine import Emit
from .filestore import Document, FileService

if TYPE_CHECKING:
    from .turn import Turn

DEFAULT_TOP_K = 5
QUOTED = 3  # chunks the answer quotes
_QUOTE_CHARS = 280
_STOP_WORDS = """
a an and are as at be by can do does for from has have how i in is it its me my of on or our so
that the their them there these this to was what when where which who why will with you your
about into tell please find show give list according file files document documents
"""
_STOP = frozenset(_STOP_WORDS.split())


class FileSearchError(ValueError):
    """A ``file_search`` tool the service would refuse; ``code`` is the HTTP status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hit:
    store: str
    document: Document
    chunk_index: int
    score: float

    @property
    def text(self) -> str:
        return self.document.chunks[self.chunk_index].text


def check_tools(service: FileService, tools: Any) -> None:
    """Refuse, before the model runs, a ``file_search`` tool naming a store that does not exist."""
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "file_search":
            continue
        names = tool.get("file_search_store_names") or []
        if not names:
            raise FileSearchError(400, "file_search needs at least one name in 'file_search_store_names'.")
        for name in names:
            if not isinstance(name, str) or not re.fullmatch(r"fileSearchStores/[a-z0-9-]+", name):
                raise FileSearchError(
                    400, f"Invalid file search store name {name!r}: expected 'fileSearchStores/{{id}}'."
                )
            if name not in service.stores:
                raise FileSearchError(404, f"File search store '{name}' not found.")
        top_k = tool.get("top_k")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise FileSearchError(
                400, f"Invalid value for 'top_k': {top_k!r}; it must be a positive integer."
            )
        if tool.get("metadata_filter"):
            try:
                metafilter.parse(tool["metadata_filter"])
            except metafilter.FilterError as exc:
                raise FileSearchError(400, f"Invalid metadata_filter: {exc}") from None


def terms(text: str) -> list[str]:
    """Lower-case word stems without stop words (plural and -ing/-ed endings folded)."""
    out = []
    for word in re.findall(r"[^\W_]+", text.lower()):
        if word in _STOP or (len(word) < 2 and not word.isdigit()):
            continue
        for suffix in ("ies", "ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 3 and word.endswith(suffix):
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        out.append(word)
    return out


def retrieve(service: FileService, tool: dict[str, Any], query: str) -> list[Hit]:
    """The best chunks for ``query`` in the tool's stores: BM25 over the active, matching documents."""
    rule = metafilter.parse(tool["metadata_filter"]) if tool.get("metadata_filter") else None
    candidates: list[tuple[str, Document, int, list[str]]] = []
    for name in tool.get("file_search_store_names") or []:
        store = service.stores.get(name)
        for document in list(store.documents.values()) if store else []:
            if not document.active or (rule is not None and not rule(document.metadata())):
                continue
            candidates += [(name, document, i, terms(c.text)) for i, c in enumerate(document.chunks)]
    wanted = Counter(terms(query))
    if not candidates or not wanted:
        return []
    frequency: Counter[str] = Counter()
    for *_, words in candidates:
        frequency.update(set(words))
    count = len(candidates)
    average = sum(len(words) for *_, words in candidates) / count or 1.0
    hits = []
    for store, document, index, words in candidates:
        tf = Counter(words)
        score = 0.0
        for term in wanted:
            if tf[term]:
                idf = math.log(1 + (count - frequency[term] + 0.5) / (frequency[term] + 0.5))
                score += idf * tf[term] * 2.2 / (tf[term] + 1.2 * (0.25 + 0.75 * len(words) / average))
        if score > 0:
            hits.append(Hit(store, document, index, score))
    hits.sort(key=lambda h: (-h.score, h.document.name, h.chunk_index))
    return hits[: int(tool.get("top_k") or DEFAULT_TOP_K)]


def _query(turn: Turn) -> str:
    return " ".join(w.strip(".,:;!?\"'()") for w in turn.prompt.split()).strip()[:500]


def _signature(*parts: str) -> str:
    return base64.b64encode(hashlib.sha256("|".join(parts).encode()).digest()).decode("ascii")


def run(turn: Turn) -> Iterator[Emit]:
    """A ``file_search_call`` and its ``file_search_result`` per declared ``file_search`` tool."""
    service = turn.files
    for tool in [t for t in turn.tools if isinstance(t, dict) and t.get("type") == "file_search"]:
        hits = retrieve(service, tool, _query(turn)) if service is not None else []
        call_id = turn.new_id("filesearch")
        sig = _signature("file_search_call", call_id)
        yield Emit(
            {"type": "file_search_call", "id": call_id, "signature": sig},
            deltas=[{"type": "file_search_call", "signature": sig}],
            start={"id": call_id, "signature": "", "type": "file_search_call"},
        )
        result = [
            {"title": h.document.display_name, "text": h.text, "file_search_store": h.store} for h in hits
        ]
        sig = _signature("file_search_result", call_id)
        yield Emit(
            {"type": "file_search_result", "call_id": call_id, "signature": sig},
            deltas=[{"type": "file_search_result", "signature": sig, "result": result}],
            start={"call_id": call_id, "signature": "", "type": "file_search_result"},
        )
        turn.notes.append(("file_search", answer(hits, tool)))


def excerpt(text: str) -> str:
    """The part of a chunk the answer quotes: whole, or cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= _QUOTE_CHARS:
        return flat
    return flat[:_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"


def answer(hits: list[Hit], tool: dict[str, Any]) -> str:
    """Markdown that quotes the top chunks, each followed by the document it came from."""
    stores = ", ".join(f"`{n}`" for n in tool.get("file_search_store_names") or [])
    if not hits:
        return f"I searched {stores} but found nothing that matches the question."
    lines = [f"From the files in {stores}:"]
    for hit in hits[:QUOTED]:
        page = (
            f", page {hit.document.chunks[hit.chunk_index].page}"
            if hit.document.chunks[hit.chunk_index].page
            else ""
        )
        lines.append(f"> {excerpt(hit.text)}\n\n— *{hit.document.display_name}*{page}")
    return "\n\n".join(lines)


def cite(turn: Turn, block: dict[str, Any]) -> dict[str, Any]:
    """``block`` with a ``file_citation`` on every quoted chunk (UTF-8 byte offsets, as the SDK says)."""
    service = turn.files
    if service is None or not any(kind == "file_search" for kind, _ in turn.notes):
        return block
    text = str(block.get("text") or "")
    raw = text.encode("utf-8")
    annotations = list(block.get("annotations") or [])
    for tool in [t for t in turn.tools if isinstance(t, dict) and t.get("type") == "file_search"]:
        for hit in retrieve(service, tool, _query(turn))[:QUOTED]:
            quote = excerpt(hit.text).encode("utf-8")
            start = raw.find(quote)
            if start < 0:
                continue
            citation: dict[str, Any] = {
                "type": "file_citation",
                "file_name": hit.document.display_name,
                "document_uri": hit.document.name,
                "source": hit.store,
                "start_index": start,
                "end_index": start + len(quote),
            }
            page = hit.document.chunks[hit.chunk_index].page
            if page:
                citation["page_number"] = page
            if hit.document.custom_metadata:
                citation["custom_metadata"] = hit.document.metadata()
            annotations.append(citation)
    return {**block, "annotations": annotations} if annotations else block
