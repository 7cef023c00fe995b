"""GA steps as pre-GA (google-genai 1.x) content blocks: the ``outputs`` of a 1.x Interaction, and the
blocks and deltas of its event stream.

``legacy.py`` (client detection, statuses, the Interaction, the event translator) builds on these; every
block built here validates against exactly one 1.x model (see ``legacy.py``'s docstring for why).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MEDIA = ("image", "audio", "video", "document")
_MEDIA_KEYS = {
    "image": ("data", "mime_type", "uri", "resolution"),
    "video": ("data", "mime_type", "uri", "resolution"),
    "audio": ("data", "mime_type", "uri"),
    "document": ("data", "mime_type", "uri"),
}
_RESOLUTIONS = frozenset({"low", "medium", "high"})
MODALITIES = frozenset({"text", "image", "audio"})
_URL_STATUSES = frozenset({"success", "error", "paywall", "unsafe"})


def pick(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _annotation(annotation: Any) -> dict[str, Any] | None:
    """GA typed citations (url_citation, file_citation, …) → 1.x's ``{start_index, end_index, source}``."""
    if not isinstance(annotation, Mapping):
        return None
    out = pick(annotation, ("start_index", "end_index"))
    for key in ("url", "source", "document_uri", "file_name", "title"):
        if isinstance(annotation.get(key), str):
            out["source"] = annotation[key]
            break
    return out


def _annotations(annotations: Any) -> list[dict[str, Any]]:
    return [a for a in map(_annotation, annotations or []) if a is not None]


def content_block(block: Any) -> dict[str, Any] | None:
    """A GA content block (or media/text delta) as a 1.x block; None for types 1.x cannot parse."""
    if not isinstance(block, Mapping):
        return None
    kind = block.get("type")
    if kind == "text":
        out: dict[str, Any] = {"type": "text", "text": str(block.get("text") or "")}
        if block.get("annotations"):
            out["annotations"] = _annotations(block["annotations"])
        return out
    if kind in _MEDIA_KEYS:
        out = {"type": kind, **pick(block, _MEDIA_KEYS[kind])}
        if out.get("resolution") not in _RESOLUTIONS:
            out.pop("resolution", None)
        return out
    return None


def _thought_block(step: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "thought", **pick(step, ("signature",))}
    blocks = map(content_block, step.get("summary") or [])
    summary = [b for b in blocks if b is not None and b["type"] in ("text", "image")]
    if summary:
        out["summary"] = summary
    return out


def _text_of(value: Any) -> str:
    """A string result (1.x's code_execution_result.result is a string; GA also allows content blocks)."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list):
        texts = [b.get("text") for b in value if isinstance(b, Mapping) and b.get("type") == "text"]
        return "".join(str(t or "") for t in texts)
    return json.dumps(value, ensure_ascii=False)


def _tool_result(value: Any, *, for_delta: bool = False) -> Any:
    """function/mcp results: GA content lists become 1.x's ``{"items": [str | image]}``.

    A block's result may be any JSON value in 1.x; a delta's must be a string or an object.
    """
    if value is None:
        return ""
    if isinstance(value, str | dict):
        return value
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, Mapping) and item.get("type") == "text":
                items.append(str(item.get("text") or ""))
            elif isinstance(item, Mapping) and item.get("type") == "image":
                items.append(content_block(item))
            else:
                items.append(json.dumps(item, ensure_ascii=False))
        return {"items": items}
    return json.dumps(value, ensure_ascii=False) if for_delta else value


def _code_arguments(arguments: Any) -> dict[str, Any]:
    args = pick(arguments, ("code", "language")) if isinstance(arguments, Mapping) else {}
    if args.get("language") != "python":  # 1.x's Literal knows only python (GA adds bash)
        args.pop("language", None)
    return args


def _list_arguments(key: str) -> Callable[[Any], dict[str, Any]]:
    def convert(arguments: Any) -> dict[str, Any]:
        value = arguments.get(key) if isinstance(arguments, Mapping) else None
        return {key: [str(v) for v in value]} if isinstance(value, list) else {}

    return convert


def _search_results(result: Any) -> list[dict[str, Any]]:
    out = []
    for item in result if isinstance(result, list) else []:
        if isinstance(item, Mapping):
            entry = pick(item, ("rendered_content", "title", "url"))
            if "rendered_content" not in entry and isinstance(item.get("search_suggestions"), str):
                entry["rendered_content"] = item["search_suggestions"]
            out.append(entry)
    return out


def _url_results(result: Any) -> list[dict[str, Any]]:
    out = []
    for item in result if isinstance(result, list) else []:
        if isinstance(item, Mapping):
            entry = pick(item, ("url", "status"))
            if "status" in entry and entry["status"] not in _URL_STATUSES:
                entry["status"] = "error"
            out.append(entry)
    return out


def _file_results(result: Any) -> list[dict[str, Any]]:
    return [pick(r, ("file_search_store", "text", "title")) for r in result or [] if isinstance(r, Mapping)]


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _call(
    step: Mapping[str, Any], arguments: Callable[[Any], dict[str, Any]], *names: str, required: bool = False
) -> dict[str, Any]:
    """A *_call block. ``required``: 1.x requires id/name/arguments (function and MCP calls)."""
    out: dict[str, Any] = {"type": step["type"]}
    for key in ("id", *names):
        if step.get(key) is not None or required:
            out[key] = str(step.get(key) or "")
    if step.get("arguments") is not None or required:
        out["arguments"] = arguments(step.get("arguments"))
    return out


def _result(step: Mapping[str, Any], result: Callable[[Any], Any], *extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": step["type"], **pick(step, ("call_id", "is_error", "signature", *extra))}
    if step.get("result") is not None:
        out["result"] = result(step["result"])
    return out


def _required_result(step: Mapping[str, Any], *extra: str, for_delta: bool = False) -> dict[str, Any]:
    """function/mcp results: 1.x requires ``call_id`` and ``result`` on the block."""
    return {
        "type": step["type"],
        "call_id": str(step.get("call_id") or ""),
        "result": _tool_result(step.get("result"), for_delta=for_delta),
        **pick(step, extra),
    }


# One converter per GA tool step type that 1.x has a content block for. The same dict is a valid
# 1.x *delta* of that type: 1.x deltas reuse the block's field names.
TOOL_BLOCKS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "function_call": lambda s: _call(s, _dict, "name", required=True),
    "function_result": lambda s: _required_result(s, "is_error", "name"),
    "code_execution_call": lambda s: _call(s, _code_arguments),
    "code_execution_result": lambda s: _result(s, _text_of),
    "google_search_call": lambda s: _call(s, _list_arguments("queries")),
    "google_search_result": lambda s: _result(s, _search_results),
    "url_context_call": lambda s: _call(s, _list_arguments("urls")),
    "url_context_result": lambda s: _result(s, _url_results),
    "mcp_server_tool_call": lambda s: _call(s, _dict, "name", "server_name", required=True),
    "mcp_server_tool_result": lambda s: _required_result(s, "name", "server_name"),
    "file_search_result": lambda s: {"type": "file_search_result", "result": _file_results(s.get("result"))},
}
# What a block carries besides identifiers: a content.start shows the block without it.
PAYLOAD = ("arguments", "result", "is_error", "signature")
EMPTY_PAYLOAD = {
    "function_call": {"arguments": {}},
    "mcp_server_tool_call": {"arguments": {}},
    "function_result": {"result": ""},
    "mcp_server_tool_result": {"result": ""},
}
IDENTIFIERS = ("id", "call_id", "name", "server_name")


def delta_block(kind: str, step: Mapping[str, Any]) -> dict[str, Any]:
    """A 1.x tool delta: like the block, but a function/MCP result must be a string or an object."""
    if kind in ("function_result", "mcp_server_tool_result"):
        extra = ("is_error", "name") if kind == "function_result" else ("name", "server_name")
        return _required_result(step, *extra, for_delta=True)
    return TOOL_BLOCKS[kind](step)


def step_to_outputs(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The 1.x ``outputs`` entries for one GA step (none for user input and types 1.x cannot parse)."""
    kind = step.get("type")
    if kind == "model_output":
        return [b for b in map(content_block, step.get("content") or []) if b is not None]
    if kind == "thought":
        return [_thought_block(step)]
    if kind in TOOL_BLOCKS:
        return [TOOL_BLOCKS[kind](step)]
    return []
