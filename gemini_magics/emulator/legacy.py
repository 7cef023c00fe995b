"""The pre-GA wire shape (google-genai 1.x, e.g. 1.55.0), translated from the GA "steps" shape.

The emulator speaks the GA data model (typed ``steps``, ``step.*`` events). Clients built on google-genai
1.x parse a different shape: an Interaction with ``role`` and a flat ``outputs`` list of content blocks,
and a stream of ``interaction.start`` / ``content.start|delta|stop`` / ``interaction.complete`` events.
This module is a pure translation (no I/O, no emulator state) so that one event log can be served in
either shape.

Why it is careful about validity: 1.x parses a stream event as a plain ``Union`` of six event models.
If the payload fails validation against the intended variant (an unknown delta type, a status outside
its ``Literal``, an integer error ``code``), the SDK silently constructs the *first* variant,
``InteractionEvent``, so a ``content.delta`` arrives as an object without ``delta``. Every event built
here therefore validates against exactly one 1.x model; GA constructs that 1.x cannot express (steps
such as ``google_maps_call``, ``file_search_call``, statuses such as ``queued``) are dropped or mapped.

Event ids: every translated event keeps the ``event_id`` of the GA event that caused it; one GA event
may yield several 1.x events, which then share that id (resume with ``last_event_id`` stays exact
because the translation of a GA event is always sent as a whole, see :func:`translate_log`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LEGACY_STATUSES",
    "LegacyEventTranslator",
    "interaction_to_legacy",
    "is_legacy_client",
    "legacy_status",
    "step_to_outputs",
    "translate_log",
]

# -- client detection -------------------------------------------------------------------------------

# google-genai sends "google-genai-sdk/<version> gl-python/<py>" in user-agent and x-goog-api-client.
# 1.x's interactions client also sends a second User-Agent, "GeminiNextGenAPIClient/Python <version>"
# (the version is the SDK's); servers that keep only one of the two duplicate headers may see either.
_SDK_TOKEN = re.compile(r"google-genai-sdk/v?(\d+)\.", re.IGNORECASE)
_NEXTGEN_TOKEN = re.compile(r"GeminiNextGenAPIClient/Python\s+v?(\d+)\.", re.IGNORECASE)
_IDENTITY_HEADERS = frozenset({"user-agent", "x-goog-api-client"})
_FIRST_GA_MAJOR = 2


def is_legacy_client(headers: Mapping[str, str]) -> bool:
    """True when the request comes from google-genai 0.x/1.x, which parses only the pre-GA shape.

    Scans every value of ``user-agent`` and ``x-goog-api-client`` (any key case; duplicate headers as
    a multi-dict's ``items()`` or comma-joined). Unknown clients get the current (GA) shape.
    """
    values = [str(value) for key, value in headers.items() if str(key).lower() in _IDENTITY_HEADERS]
    majors = [int(m) for value in values for m in _SDK_TOKEN.findall(value)]
    if not majors:
        majors = [int(m) for value in values for m in _NEXTGEN_TOKEN.findall(value)]
    return bool(majors) and all(major < _FIRST_GA_MAJOR for major in majors)


# -- statuses ---------------------------------------------------------------------------------------

LEGACY_STATUSES = frozenset({"in_progress", "requires_action", "completed", "failed", "cancelled"})

# GA statuses 1.x does not know, mapped to the 1.x status a 1.x caller should act on.
_STATUS_MAP = {
    "queued": "in_progress",  # not started yet: keep polling
    "incomplete": "completed",  # stopped early (e.g. token limit) but has outputs
    "idle": "completed",  # the turn is over
    "requires_continuation": "requires_action",  # the caller must send the next turn
    "budget_exceeded": "failed",  # the agent gave up
}


def legacy_status(status: Any) -> str:
    """A status from 1.x's ``Literal``; unknown future statuses become ``failed`` so pollers stop."""
    if status in LEGACY_STATUSES:
        return str(status)
    return _STATUS_MAP.get(status, "failed") if isinstance(status, str) else "failed"


# -- content blocks ---------------------------------------------------------------------------------

_MEDIA = ("image", "audio", "video", "document")
_MEDIA_KEYS = {
    "image": ("data", "mime_type", "uri", "resolution"),
    "video": ("data", "mime_type", "uri", "resolution"),
    "audio": ("data", "mime_type", "uri"),
    "document": ("data", "mime_type", "uri"),
}
_RESOLUTIONS = frozenset({"low", "medium", "high"})
_MODALITIES = frozenset({"text", "image", "audio"})
_URL_STATUSES = frozenset({"success", "error", "paywall", "unsafe"})


def _pick(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _annotation(annotation: Any) -> dict[str, Any] | None:
    """GA typed citations (url_citation, file_citation, …) → 1.x's ``{start_index, end_index, source}``."""
    if not isinstance(annotation, Mapping):
        return None
    out = _pick(annotation, ("start_index", "end_index"))
    for key in ("url", "source", "document_uri", "file_name", "title"):
        if isinstance(annotation.get(key), str):
            out["source"] = annotation[key]
            break
    return out


def _annotations(annotations: Any) -> list[dict[str, Any]]:
    return [a for a in map(_annotation, annotations or []) if a is not None]


def _content_block(block: Any) -> dict[str, Any] | None:
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
        out = {"type": kind, **_pick(block, _MEDIA_KEYS[kind])}
        if out.get("resolution") not in _RESOLUTIONS:
            out.pop("resolution", None)
        return out
    return None


def _thought_block(step: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "thought", **_pick(step, ("signature",))}
    blocks = map(_content_block, step.get("summary") or [])
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
                items.append(_content_block(item))
            else:
                items.append(json.dumps(item, ensure_ascii=False))
        return {"items": items}
    return json.dumps(value, ensure_ascii=False) if for_delta else value


def _code_arguments(arguments: Any) -> dict[str, Any]:
    args = _pick(arguments, ("code", "language")) if isinstance(arguments, Mapping) else {}
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
            entry = _pick(item, ("rendered_content", "title", "url"))
            if "rendered_content" not in entry and isinstance(item.get("search_suggestions"), str):
                entry["rendered_content"] = item["search_suggestions"]
            out.append(entry)
    return out


def _url_results(result: Any) -> list[dict[str, Any]]:
    out = []
    for item in result if isinstance(result, list) else []:
        if isinstance(item, Mapping):
            entry = _pick(item, ("url", "status"))
            if "status" in entry and entry["status"] not in _URL_STATUSES:
                entry["status"] = "error"
            out.append(entry)
    return out


def _file_results(result: Any) -> list[dict[str, Any]]:
    return [_pick(r, ("file_search_store", "text", "title")) for r in result or [] if isinstance(r, Mapping)]


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
    out: dict[str, Any] = {"type": step["type"], **_pick(step, ("call_id", "is_error", "signature", *extra))}
    if step.get("result") is not None:
        out["result"] = result(step["result"])
    return out


def _required_result(step: Mapping[str, Any], *extra: str, for_delta: bool = False) -> dict[str, Any]:
    """function/mcp results: 1.x requires ``call_id`` and ``result`` on the block."""
    return {
        "type": step["type"],
        "call_id": str(step.get("call_id") or ""),
        "result": _tool_result(step.get("result"), for_delta=for_delta),
        **_pick(step, extra),
    }


# One converter per GA tool step type that 1.x has a content block for. The same dict is a valid
# 1.x *delta* of that type: 1.x deltas reuse the block's field names.
_TOOL_BLOCKS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
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
_PAYLOAD = ("arguments", "result", "is_error", "signature")
_EMPTY_PAYLOAD = {
    "function_call": {"arguments": {}},
    "mcp_server_tool_call": {"arguments": {}},
    "function_result": {"result": ""},
    "mcp_server_tool_result": {"result": ""},
}
_IDENTIFIERS = ("id", "call_id", "name", "server_name")


def _delta_block(kind: str, step: Mapping[str, Any]) -> dict[str, Any]:
    """A 1.x tool delta: like the block, but a function/MCP result must be a string or an object."""
    if kind in ("function_result", "mcp_server_tool_result"):
        extra = ("is_error", "name") if kind == "function_result" else ("name", "server_name")
        return _required_result(step, *extra, for_delta=True)
    return _TOOL_BLOCKS[kind](step)


def step_to_outputs(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The 1.x ``outputs`` entries for one GA step (none for user input and types 1.x cannot parse)."""
    kind = step.get("type")
    if kind == "model_output":
        return [b for b in map(_content_block, step.get("content") or []) if b is not None]
    if kind == "thought":
        return [_thought_block(step)]
    if kind in _TOOL_BLOCKS:
        return [_TOOL_BLOCKS[kind](step)]
    return []


# -- the Interaction --------------------------------------------------------------------------------

# The recorded pre-GA replies (real-samples/preGA_*) echo none of the request's fields, not even
# previous_interaction_id.
_KEPT_FIELDS = ("id", "object", "status", "created", "updated", "model", "agent")
_USAGE_FIELDS = (
    "total_input_tokens",
    "total_output_tokens",
    "total_cached_tokens",
    "total_tool_use_tokens",
    "total_tokens",
    "total_thought_tokens",
)
_USAGE_LISTS = (
    "input_tokens_by_modality",
    "output_tokens_by_modality",
    "cached_tokens_by_modality",
    "tool_use_tokens_by_modality",
)


def _usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Usage as the service sent it to 1.x clients: ``total_thought_tokens``, not 1.x's declared
    ``total_reasoning_tokens`` (real-samples/preGA_api_reference_examples and
    preGA_function_result_turn_completed)."""
    out = _pick(usage, _USAGE_FIELDS)
    if "total_thought_tokens" not in out and usage.get("total_reasoning_tokens") is not None:
        out["total_thought_tokens"] = usage["total_reasoning_tokens"]
    for key in _USAGE_LISTS:  # 1.x's modality Literal knows text, image and audio only
        entries = [_pick(e, ("modality", "tokens")) for e in usage.get(key) or [] if isinstance(e, Mapping)]
        entries = [e for e in entries if e.get("modality") in _MODALITIES]
        if entries:
            out[key] = entries
    return out


def interaction_to_legacy(resource: dict) -> dict:
    """A GA Interaction dict in the 1.x shape: ``role`` and ``outputs`` instead of ``steps``.

    Keeps only fields 1.x's Interaction model declares (``errors``, ``input``, echoed request fields
    are dropped). ``outputs`` is present only when there is output: lifecycle events and running
    interactions carry none, as recorded (real-samples/preGA_deep_research_get_in_progress_and_completed).
    """
    out: dict[str, Any] = _pick(resource, _KEPT_FIELDS)
    if "status" in resource:
        out["status"] = legacy_status(resource["status"])
    out["role"] = "agent" if resource.get("agent") else "model"
    outputs = [
        block
        for step in resource.get("steps") or []
        if isinstance(step, Mapping) and step.get("type") != "user_input"
        for block in step_to_outputs(step)
    ]
    if outputs:  # a running interaction has none, and the service then sends no outputs field
        out["outputs"] = outputs
    if isinstance(resource.get("usage"), Mapping):
        out["usage"] = _usage(resource["usage"])
    return out


# -- the event stream -------------------------------------------------------------------------------

_DELTA_STEP = {
    "text": "model_output",
    "text_annotation_delta": "model_output",
    "image": "model_output",
    "audio": "model_output",
    "video": "model_output",
    "document": "model_output",
    "thought_summary": "thought",
    "thought_signature": "thought",
}


@dataclass
class _Step:
    """What the translator remembers about one GA step while it streams."""

    kind: str
    head: dict[str, Any]  # the step as ``step.start`` showed it
    dropped: bool = False  # user input, or a type 1.x cannot parse
    block: int | None = None  # 1.x content index of the block open for this step
    block_kind: str | None = None
    arguments: str = ""  # arguments_delta text received so far


class LegacyEventTranslator:
    """Translates one interaction's GA event stream into 1.x events, event by event.

    Stateful because the two index spaces differ: GA ``index`` counts steps, 1.x ``index`` counts
    content blocks. A ``model_output`` step may hold several blocks (text then image) and starts
    empty, so 1.x blocks are opened by the deltas that fill them; ``user_input`` steps and step types
    1.x cannot parse open none. Use one translator per stream, fed from the first event.
    """

    def __init__(self) -> None:
        self._steps: dict[int, _Step] = {}
        self._next_index = 0

    def translate(self, event: dict) -> list[dict]:
        """The 1.x events for one GA event (possibly none), each with the GA event's ``event_id``."""
        handler = {
            "interaction.created": self._created,
            "interaction.status_update": self._status_update,
            "interaction.completed": self._completed,
            "step.start": self._step_start,
            "step.delta": self._step_delta,
            "step.stop": self._step_stop,
            "error": self._error,
        }.get(event.get("event_type"))
        out = handler(event) if handler else []
        if event.get("event_id") is not None:
            for item in out:
                item["event_id"] = event["event_id"]
        return out

    # lifecycle events

    def _created(self, event: dict) -> list[dict]:
        interaction = event.get("interaction") if isinstance(event.get("interaction"), dict) else {}
        start = interaction_to_legacy(interaction)
        start.pop("role", None)  # the recorded interaction.start carries id, model, object, status only
        return [{"event_type": "interaction.start", "interaction": start}]

    def _status_update(self, event: dict) -> list[dict]:
        out = {"event_type": "interaction.status_update", **_pick(event, ("interaction_id",))}
        if event.get("status") is not None:
            out["status"] = legacy_status(event["status"])
        return [out]

    def _completed(self, event: dict) -> list[dict]:
        # A cancelled run ends without step.stop: close what is open so 1.x blocks are balanced.
        out = [stop for state in self._steps.values() for stop in self._close(state)]
        self._steps.clear()
        interaction = event.get("interaction") if isinstance(event.get("interaction"), dict) else {}
        out.append({"event_type": "interaction.complete", "interaction": interaction_to_legacy(interaction)})
        return out

    def _error(self, event: dict) -> list[dict]:
        error = event.get("error") if isinstance(event.get("error"), Mapping) else {}
        legacy: dict[str, Any] = {}
        if error.get("code") is not None:
            legacy["code"] = str(error["code"])  # 1.x: a string (GA's types say so too)
        if error.get("message") is not None:
            legacy["message"] = str(error["message"])
        return [{"event_type": "error", "error": legacy}]

    # blocks

    def _open(self, state: _Step, content: dict[str, Any]) -> list[dict]:
        out = self._close(state)
        state.block, state.block_kind = self._next_index, content["type"]
        self._next_index += 1
        out.append({"event_type": "content.start", "index": state.block, "content": content})
        return out

    def _close(self, state: _Step) -> list[dict]:
        if state.block is None:
            return []
        index, state.block, state.block_kind = state.block, None, None
        return [{"event_type": "content.stop", "index": index}]

    def _delta(self, state: _Step, delta: dict[str, Any]) -> dict:
        return {"event_type": "content.delta", "index": state.block, "delta": delta}

    # steps

    def _step_start(self, event: dict) -> list[dict]:
        step = event.get("step") if isinstance(event.get("step"), Mapping) else {}
        return self._start(event.get("index", -1), dict(step))

    def _start(self, index: int, step: dict[str, Any]) -> list[dict]:
        kind = str(step.get("type") or "")
        state = self._steps[index] = _Step(kind, step)
        if kind == "model_output":  # blocks already in step.start are streamed like deltas
            return [e for block in step.get("content") or [] for e in self._model_output(state, block)]
        if kind == "thought":
            out = self._open(state, {"type": "thought"})
            for part in step.get("summary") or []:
                out += self._thought(state, {"type": "thought_summary", "content": part})
            if step.get("signature"):
                out += self._thought(state, {"type": "thought_signature", "signature": step["signature"]})
            return out
        if kind not in _TOOL_BLOCKS:  # user_input, and steps 1.x has no block type for
            state.dropped = True
            return []
        block = _TOOL_BLOCKS[kind](step)
        shell = {k: v for k, v in block.items() if k not in _PAYLOAD} | _EMPTY_PAYLOAD.get(kind, {})
        out = self._open(state, shell)
        if any(block.get(k) not in (None, {}, [], "") for k in _PAYLOAD):
            out.append(self._delta(state, _delta_block(kind, step)))
        return out

    def _step_delta(self, event: dict) -> list[dict]:
        delta = event.get("delta") if isinstance(event.get("delta"), Mapping) else {}
        index = event.get("index", -1)
        out: list[dict] = []
        state = self._steps.get(index)
        if state is None:  # a stream joined mid-step: infer the step from the delta
            kind = _DELTA_STEP.get(delta.get("type"), delta.get("type"))
            out = self._start(index, {"type": kind})
            state = self._steps[index]
        if state.dropped:
            return out
        if state.kind == "model_output":
            return out + self._model_output(state, delta)
        if state.kind == "thought":
            return out + self._thought(state, delta)
        return out + self._tool(state, delta)

    def _step_stop(self, event: dict) -> list[dict]:
        state = self._steps.pop(event.get("index", -1), None)
        return self._close(state) if state is not None else []

    def _model_output(self, state: _Step, delta: Mapping[str, Any]) -> list[dict]:
        # Deep Research streams its report's text deltas without a type (docs_stream_deep_research_agent).
        kind = delta.get("type") or ("text" if "text" in delta else None)
        out: list[dict] = []
        if kind in ("text", "text_annotation_delta"):
            if state.block_kind != "text":
                out += self._open(state, {"type": "text"})
            text = _content_block(
                {"type": "text", "text": delta.get("text"), "annotations": delta.get("annotations")}
            )
            out.append(self._delta(state, text or {"type": "text", "text": ""}))
        elif kind in _MEDIA:  # each media delta is a whole item: its own block
            out += self._open(state, {"type": kind})
            out.append(self._delta(state, _content_block(delta) or {"type": kind}))
        return out

    def _thought(self, state: _Step, delta: Mapping[str, Any]) -> list[dict]:
        out = [] if state.block is not None else self._open(state, {"type": "thought"})
        if delta.get("type") == "thought_summary":
            raw = delta.get("content")
            if isinstance(raw, Mapping) and "type" not in raw and "text" in raw:  # Deep Research's untyped
                raw = {"type": "text", **raw}
            content = _content_block(raw)
            if content is None or content["type"] not in ("text", "image"):
                return out
            out.append(self._delta(state, {"type": "thought_summary", "content": content}))
        elif delta.get("type") == "thought_signature" and delta.get("signature") is not None:
            signature = {"type": "thought_signature", "signature": str(delta["signature"])}
            out.append(self._delta(state, signature))
        return out

    def _tool(self, state: _Step, delta: Mapping[str, Any]) -> list[dict]:
        """Tool steps: 1.x deltas carry whole values, so partial argument JSON is held until complete."""
        identifiers = _pick(state.head, _IDENTIFIERS)
        if delta.get("type") == "arguments_delta":
            state.arguments += str(delta.get("arguments") or "")
            try:
                arguments = json.loads(state.arguments)
            except ValueError:
                return []  # incomplete so far; a prefix of a JSON object is never valid JSON
            if not isinstance(arguments, dict):
                return []
            merged = {**identifiers, "type": state.kind, "arguments": arguments}
        elif delta.get("type") == state.kind:
            merged = {**identifiers, **delta, "type": state.kind}
        else:
            return []
        return [self._delta(state, _delta_block(state.kind, merged))]


def translate_log(events: Iterable[dict], last_event_id: str | None = None) -> list[dict]:
    """The 1.x events for a GA event log, only those after the GA event ``last_event_id`` if given.

    Resuming needs the whole log translated from its start (content indexes depend on every earlier
    step); the 1.x events that share a skipped GA event's id are skipped with it. An id that is not in
    the log yields nothing: the caller decides whether that is an error.
    """
    translator = LegacyEventTranslator()
    out: list[dict] = []
    skipping = last_event_id is not None
    for event in events:
        translated = translator.translate(event)
        if not skipping:
            out.extend(translated)
        elif str(event.get("event_id")) == str(last_event_id):
            skipping = False
    return out
