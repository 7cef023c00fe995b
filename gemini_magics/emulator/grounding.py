"""Server-side grounding tools of the fake model: Google Maps, retrieval, tool search and media processing.

Every server-side tool step streams as the service streams Google Search
(``docs_stream_google_search_plus_function_call.json``): ``step.start`` carries only
``{id|call_id, signature: "", type}``, one ``step.delta`` of the step's own type brings its fields and
signature. What a tool found reaches the answer as annotations (``place_citation``, ``url_citation``)
whose offsets are UTF-8 bytes, as the SDK's annotation types say.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import controls
from .engine import Emit

if TYPE_CHECKING:
    from .turn import Turn


def signature(*parts: str) -> str:
    """A stable signature for a tool step (the service's is opaque base64)."""
    return base64.b64encode(hashlib.sha256("|".join(parts).encode()).digest()).decode("ascii")


def call_emit(step: dict[str, Any], **fields: Any) -> Emit:
    """A server tool's call step: start ``{id, signature: "", type}``, then a delta with its fields."""
    sig = signature(step["type"], step["id"])
    stored = {**step, **fields, "signature": sig}
    delta = {
        "signature": sig,
        "type": step["type"],
        **{k: v for k, v in stored.items() if k not in ("id", "type", "signature")},
    }
    return Emit(stored, deltas=[delta], start={"id": step["id"], "signature": "", "type": step["type"]})


def result_emit(step: dict[str, Any], delta_fields: dict[str, Any]) -> Emit:
    """A server tool's result step: start ``{call_id, signature: "", type}``, then ``delta_fields``."""
    sig = signature(step["type"], step["call_id"])
    stored = {**step, "signature": sig}
    delta = {"signature": sig, "type": step["type"], **delta_fields}
    return Emit(
        stored, deltas=[delta], start={"call_id": step["call_id"], "signature": "", "type": step["type"]}
    )


def declared(turn: Turn, kind: str) -> list[dict[str, Any]]:
    return [t for t in turn.tools if isinstance(t, dict) and t.get("type") == kind]


def run(turn: Turn) -> Iterator[Emit]:
    """The grounding tools the request declares, after Search, URL context and code execution."""
    for tool in declared(turn, "google_maps"):
        yield from google_maps(turn, tool)
    for tool in declared(turn, "retrieval"):
        yield from retrieval(turn, tool)
    if any(t.get("execution", "server") == "server" for t in declared(turn, "tool_search")):
        yield from tool_search(turn)


# -- media processing -----------------------------------------------------------------------------------


def agentic_media(turn: Turn) -> list[dict[str, Any]]:
    """Video inputs asking for ``processing: "agentic"``: the service analyses them in a processing step."""
    return [
        part
        for step in turn.input_steps
        if step.get("type") == "user_input"
        for part in step.get("content") or []
        if isinstance(part, dict) and part.get("type") == "video" and part.get("processing") == "agentic"
    ]


def processing(turn: Turn) -> Iterator[Emit]:
    """``processing_call``/``processing_result`` for each agentically processed video, before any tool."""
    for _ in agentic_media(turn):
        call_id = turn.new_id("proc")
        yield call_emit({"type": "processing_call", "id": call_id})
        yield result_emit({"type": "processing_result", "call_id": call_id}, {})


# -- Google Maps ----------------------------------------------------------------------------------------

_WHERE = re.compile(r"\b(?:in|near|around|at)\s+((?:[A-ZÀ-Ý][\w'’-]*)(?:\s+[A-ZÀ-Ý][\w'’-]*)*)")
_FILLER = controls.WORD
_SKIP = {
    "find", "show", "me", "some", "good", "best", "the", "a", "an", "any", "where", "what", "are", "is",
    "there", "please", "nearby", "near", "in", "around", "at", "to", "for", "can", "i", "get", "open", "now",
    "recommend", "list", "which", "top", "with", "and", "of", "my", "places", "place",
}  # fmt: skip
_NAMES = (
    "{loc} {kind} Co.",
    "Café {loc}",
    "The Corner {kind}",
    "{kind} Atelier {loc}",
    "Old Town {kind}",
    "{loc} Central {kind}",
    "Little {kind} House",
)
_REVIEWS = (
    "Friendly staff and quick service",
    "Worth the detour",
    "Busy at lunch, calm later",
    "Great value",
)


def maps_query(turn: Turn, tool: dict[str, Any]) -> tuple[str, str, str]:
    """(query, kind of place, location) for a Maps prompt: "coffee near Zürich HB" → coffee, Zürich HB."""
    where = _WHERE.search(turn.prompt)
    if where:
        location = where.group(1)
    elif isinstance(tool.get("latitude"), int | float) and isinstance(tool.get("longitude"), int | float):
        location = f"{tool['latitude']:.4f},{tool['longitude']:.4f}"
    else:
        location = "you"
    skip = _SKIP | set(_FILLER.findall(location.lower()))
    words = [w for w in re.findall(r"[^\W\d_]+", turn.prompt.lower()) if w not in skip]
    kind = " ".join(words[:2]) or "restaurant"
    kind = " ".join(_singular(w) for w in kind.split())
    query = f"{kind} near {location}"
    return query, kind, location


def _singular(word: str) -> str:
    """ "bakeries" → "bakery", "shops" → "shop", "glass" stays."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and len(word) > 3 and not word.endswith("ss") else word


def places_for(query: str, kind: str, location: str, count: int = 3) -> list[dict[str, Any]]:
    """Plausible places for ``query``: stable names, ``places/…`` ids, Maps URLs and one review each."""
    digest = hashlib.sha256(query.encode()).digest()
    loc = (
        location
        if location != "you" and not location[:1].isdigit() and location[:1] != "-"
        else "Main Street"
    )
    names: list[str] = []
    for i in range(len(_NAMES)):
        template = _NAMES[(digest[0] + i) % len(_NAMES)]
        name = template.format(loc=loc, kind=kind.title())
        if name not in names:
            names.append(name)
        if len(names) == count:
            break
    places = []
    for i, name in enumerate(names):
        h = hashlib.sha256(f"{query}|{name}".encode()).digest()
        place_id = "places/ChIJ" + base64.urlsafe_b64encode(h[:17]).decode().rstrip("=")
        cid = int.from_bytes(h[:8], "big") >> 1
        review_id = "Ci9" + base64.urlsafe_b64encode(h[17:29]).decode().rstrip("=")
        places.append(
            {
                "name": name,
                "place_id": place_id,
                "url": f"https://maps.google.com/?cid={cid}",
                "review_snippets": [
                    {
                        "review_id": review_id,
                        "title": _REVIEWS[(digest[1] + i) % len(_REVIEWS)],
                        "url": f"https://www.google.com/maps/reviews/data=!4m8!14m7!1m6!2m5!1s{review_id}",
                    }
                ],
            }
        )
    return places


def google_maps(turn: Turn, tool: dict[str, Any]) -> Iterator[Emit]:
    query, kind, location = maps_query(turn, tool)
    call_id = turn.new_id("maps")
    yield call_emit({"type": "google_maps_call", "id": call_id, "arguments": {"queries": [query]}})
    found: dict[str, Any] = {"places": places_for(query, kind, location)}
    if tool.get("enable_widget"):
        found["widget_context_token"] = "widgetcontent/" + signature("widget", query)[:40]
    result = [found]
    yield result_emit(
        {"type": "google_maps_result", "call_id": call_id, "result": result}, {"result": result}
    )
    turn.notes.append(("maps", f"{kind}|{location}"))
    turn.grounded.append(("maps", found["places"]))


# -- retrieval (Vertex AI Search, RAG Engine, Exa, Parallel) -------------------------------------------

_TOPIC_SKIP = _SKIP | {"does", "do", "our", "say", "says", "about", "tell", "how", "why", "who", "you"}
_LABELS = {
    "vertex_ai_search": "Vertex AI Search",
    "rag_store": "the RAG store",
    "exa_ai_search": "Exa search",
    "parallel_ai_search": "Parallel search",
}
_CONFIGS = {
    "vertex_ai_search": "vertex_ai_search_config",
    "rag_store": "rag_store_config",
    "exa_ai_search": "exa_ai_search_config",
    "parallel_ai_search": "parallel_ai_search_config",
}


def retrieval_types(tool: dict[str, Any]) -> list[str]:
    """The retrieval kinds a ``retrieval`` tool enables: ``retrieval_types``, else those configured."""
    kinds = [k for k in tool.get("retrieval_types") or [] if k in _LABELS]
    return kinds or [k for k, key in _CONFIGS.items() if key in tool] or ["vertex_ai_search"]


def documents_for(kind: str, config: dict[str, Any], query: str) -> list[dict[str, str]]:
    """What a retrieval kind finds for ``query``: titles and URIs shaped like that backend's."""
    words = [w for w in re.findall(r"[A-Za-z0-9]+", query) if w.lower() not in _TOPIC_SKIP][:4]
    words = words or ["documents"]
    slug = "-".join(w.lower() for w in words)
    topic = " ".join(words).capitalize()
    if kind == "rag_store":
        resources = config.get("rag_resources") or [{}]
        corpus = resources[0].get("rag_corpus") or "projects/default/locations/us-central1/ragCorpora/default"
        files = resources[0].get("rag_file_ids") or [slug, f"{slug}-notes", f"{slug}-faq"]
        wanted = (
            (config.get("rag_retrieval_config") or {}).get("top_k") or config.get("similarity_top_k") or 2
        )
        return [
            {"title": f"{topic} ({f})", "url": f"{corpus}/ragFiles/{f}"} for f in files[: max(1, int(wanted))]
        ]
    if kind == "vertex_ai_search":
        store = (config.get("datastores") or [None])[0] or config.get("engine") or "default_data_store"
        return [
            {
                "title": f"{topic} — handbook",
                "url": f"https://vertexaisearch.cloud.google.com/{store}/documents/{slug}",
            },
            {
                "title": f"{topic} — FAQ",
                "url": f"https://vertexaisearch.cloud.google.com/{store}/documents/{slug}-faq",
            },
        ]
    sites = (
        ("arxiv.org/abs", "github.com/topics")
        if kind == "exa_ai_search"
        else ("docs.python.org/3/search", "stackoverflow.com/questions/tagged")
    )
    return [{"title": f"{topic} | {site.split('/')[0]}", "url": f"https://{site}/{slug}"} for site in sites]


def retrieval(turn: Turn, tool: dict[str, Any]) -> Iterator[Emit]:
    query = " ".join(w for w in (x.strip(".,:;!?\"'()") for x in turn.prompt.split()) if w)[:80] or "query"
    for kind in retrieval_types(tool):
        config = tool.get(_CONFIGS[kind]) or {}
        failed = kind in ("exa_ai_search",) and not config.get("api_key")
        call_id = turn.new_id("retrieval")
        yield call_emit(
            {"type": "retrieval_call", "id": call_id, "arguments": {"queries": [query]}}, retrieval_type=kind
        )
        yield result_emit(
            {"type": "retrieval_result", "call_id": call_id, "is_error": failed}, {"is_error": failed}
        )
        turn.notes.append(("retrieval", kind))
        turn.grounded.append(
            ("retrieval_error" if failed else "retrieval", (kind, documents_for(kind, config, query)))
        )


# -- tool search ----------------------------------------------------------------------------------------


def deferred(turn: Turn) -> list[dict[str, Any]]:
    return [f for f in declared(turn, "function") if f.get("defer_loading") and f.get("name")]


def loaded(turn: Turn) -> set[str]:
    """Deferred functions a server-side tool search put into the model's context this turn."""
    return {name for kind, name in turn.notes if kind == "tool_search"}


def callable_functions(turn: Turn, functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declared functions the model may call now: deferred ones only once a tool search loaded them."""
    if not any(t.get("execution", "server") == "server" for t in declared(turn, "tool_search")):
        return functions
    ready = loaded(turn)
    return [f for f in functions if not f.get("defer_loading") or f.get("name") in ready]


def definition(function: dict[str, Any]) -> dict[str, Any]:
    """A function declaration as tool search returns it: loaded, so no longer deferred."""
    return {**{k: v for k, v in function.items() if k != "defer_loading"}, "type": "function"}


def tool_search(turn: Turn) -> Iterator[Emit]:
    """A server tool search that loads the deferred functions the prompt asks for."""
    names = controls.permitted(
        turn, [f["name"] for f in deferred(turn) if controls.asks_for(f["name"], turn.prompt)]
    )
    if not names:
        return
    call_id = turn.new_id("toolsearch")
    arguments = {"function_names": names}
    yield call_emit({"type": "tool_search_call", "id": call_id, "arguments": arguments})
    found = [definition(f) for f in deferred(turn) if f["name"] in names]
    yield result_emit({"type": "tool_search_result", "call_id": call_id, "result": found}, {"result": found})
    turn.notes.extend(("tool_search", name) for name in names)


# -- the answer's annotations ---------------------------------------------------------------------------


def annotate(turn: Turn, block: dict[str, Any]) -> dict[str, Any]:
    """``block`` with what Maps and retrieval found appended, cited by byte-offset annotations."""
    if not turn.grounded:
        return block
    text = str(block.get("text") or "").rstrip()
    annotations = list(block.get("annotations") or [])
    for kind, found in turn.grounded:
        lines: list[tuple[str, dict[str, Any] | None]] = []
        if kind == "maps":
            lines.append(("Places I found on Google Maps:\n", None))
            for place in found:
                lines.append(("\n- ", None))
                lines.append((place["name"], {"type": "place_citation", **place}))
                lines.append((f": “{place['review_snippets'][0]['title']}”", None))
        elif kind == "retrieval":
            source, documents = found
            lines.append((f"From {_LABELS[source]}:\n", None))
            for doc in documents:
                lines.append(("\n- ", None))
                lines.append(
                    (doc["title"], {"type": "url_citation", "url": doc["url"], "title": doc["title"]})
                )
        else:
            lines.append((f"{_LABELS[found[0]]} could not be searched (no API key).", None))
        text = text + "\n\n" if text else ""
        for piece, citation in lines:
            start = len(text.encode("utf-8"))
            text += piece
            if citation is not None:
                annotations.append({**citation, "start_index": start, "end_index": len(text.encode("utf-8"))})
    out = {**block, "text": text}
    if annotations:
        out["annotations"] = annotations
    return out


__all__ = ["annotate", "call_emit", "callable_functions", "processing", "result_emit", "run"]
