"""The pre-GA wire shape (google-genai 1.x, e.g. 1.55.0), translated from the GA "steps" shape.

The emulator speaks the GA data model (typed ``steps``, ``step.*`` events). Clients built on google-genai
1.x parse a different shape: an Interaction with ``role`` and a flat ``outputs`` list of content blocks,
and a stream of ``interaction.start`` / ``content.start|delta|stop`` / ``interaction.complete`` events.
This module is a pure translation (no I/O, no emulator state) so that one event log can be served in
either shape; the content blocks themselves are built by ``legacy_blocks.py``.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .legacy_blocks import (
    EMPTY_PAYLOAD,
    IDENTIFIERS,
    MEDIA,
    MODALITIES,
    PAYLOAD,
    TOOL_BLOCKS,
    content_block,
    delta_block,
    pick,
    step_to_outputs,
)

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
    out = pick(usage, _USAGE_FIELDS)
    if "total_thought_tokens" not in out and usage.get("total_reasoning_tokens") is not None:
        out["total_thought_tokens"] = usage["total_reasoning_tokens"]
    for key in _USAGE_LISTS:  # 1.x's modality Literal knows text, image and audio only
        entries = [pick(e, ("modality", "tokens")) for e in usage.get(key) or [] if isinstance(e, Mapping)]
        entries = [e for e in entries if e.get("modality") in MODALITIES]
        if entries:
            out[key] = entries
    return out


def interaction_to_legacy(resource: dict) -> dict:
    """A GA Interaction dict in the 1.x shape: ``role`` and ``outputs`` instead of ``steps``.

    Keeps only fields 1.x's Interaction model declares (``errors``, ``input``, echoed request fields
    are dropped). ``outputs`` is present only when there is output: lifecycle events and running
    interactions carry none, as recorded (real-samples/preGA_deep_research_get_in_progress_and_completed).
    """
    out: dict[str, Any] = pick(resource, _KEPT_FIELDS)
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
        out = {"event_type": "interaction.status_update", **pick(event, ("interaction_id",))}
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
        if kind not in TOOL_BLOCKS:  # user_input, and steps 1.x has no block type for
            state.dropped = True
            return []
        block = TOOL_BLOCKS[kind](step)
        shell = {k: v for k, v in block.items() if k not in PAYLOAD} | EMPTY_PAYLOAD.get(kind, {})
        out = self._open(state, shell)
        if any(block.get(k) not in (None, {}, [], "") for k in PAYLOAD):
            out.append(self._delta(state, delta_block(kind, step)))
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
            text = content_block(
                {"type": "text", "text": delta.get("text"), "annotations": delta.get("annotations")}
            )
            out.append(self._delta(state, text or {"type": "text", "text": ""}))
        elif kind in MEDIA:  # each media delta is a whole item: its own block
            out += self._open(state, {"type": kind})
            out.append(self._delta(state, content_block(delta) or {"type": kind}))
        return out

    def _thought(self, state: _Step, delta: Mapping[str, Any]) -> list[dict]:
        out = [] if state.block is not None else self._open(state, {"type": "thought"})
        if delta.get("type") == "thought_summary":
            raw = delta.get("content")
            if isinstance(raw, Mapping) and "type" not in raw and "text" in raw:  # Deep Research's untyped
                raw = {"type": "text", **raw}
            content = content_block(raw)
            if content is None or content["type"] not in ("text", "image"):
                return out
            out.append(self._delta(state, {"type": "thought_summary", "content": content}))
        elif delta.get("type") == "thought_signature" and delta.get("signature") is not None:
            signature = {"type": "thought_signature", "signature": str(delta["signature"])}
            out.append(self._delta(state, signature))
        return out

    def _tool(self, state: _Step, delta: Mapping[str, Any]) -> list[dict]:
        """Tool steps: 1.x deltas carry whole values, so partial argument JSON is held until complete."""
        identifiers = pick(state.head, IDENTIFIERS)
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
        return [self._delta(state, delta_block(state.kind, merged))]


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
