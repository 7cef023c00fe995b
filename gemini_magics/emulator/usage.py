"""Token usage as the service reports it, with a stand-in tokenizer.

Field names, order and per-modality lists follow the recorded replies (real-samples/docs_stream_text.json:
``input_tokens_by_modality`` for models; agents add ``output_tokens_by_modality`` and
``grounding_tool_count``, docs_vertex_agent_stream_interaction_complete.json). A thought step always
costs thought tokens, with or without a summary: the model thought even when it did not say what.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Record

# What one piece of media costs in the service's accounting (per image; per second of audio/video).
IMAGE_TOKENS = 258
OUTPUT_IMAGE_TOKENS = 1290
AUDIO_TOKENS_PER_SECOND = 32
VIDEO_TOKENS_PER_SECOND = 263
DOCUMENT_PAGE_TOKENS = 258
_MEDIA = ("image", "audio", "video", "document")


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: about four characters a token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def step_text(step: dict[str, Any]) -> str:
    """All text a step carries (content, summaries, arguments, results), for usage figures."""
    parts: list[str] = []
    for key in ("content", "summary"):
        for block in step.get(key) or []:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(block.get("text", ""))
    for key in ("arguments", "result"):
        if key in step:
            parts.append(str(step[key]))
    return "".join(parts)


def _media_tokens(block: dict[str, Any], output: bool) -> int:
    kind = block.get("type")
    if kind == "image":
        return OUTPUT_IMAGE_TOKENS if output else IMAGE_TOKENS
    size = _decoded_size(block.get("data"))
    if kind == "audio":  # 16-bit mono at 24 kHz is 48,000 bytes a second
        return max(1, round(size / 48_000 * AUDIO_TOKENS_PER_SECOND)) if size else AUDIO_TOKENS_PER_SECOND
    if kind == "video":
        return max(1, round(size / 250_000 * VIDEO_TOKENS_PER_SECOND)) if size else VIDEO_TOKENS_PER_SECOND
    return max(DOCUMENT_PAGE_TOKENS, count_tokens("x" * (size // 2))) if size else DOCUMENT_PAGE_TOKENS


def _decoded_size(data: Any) -> int:
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (ValueError, binascii.Error):
        return 0


def _by_modality(steps: list[dict[str, Any]], output: bool) -> dict[str, int]:
    tally: dict[str, int] = {}
    for step in steps:
        text = count_tokens(step_text(step))
        if text:
            tally["text"] = tally.get("text", 0) + text
        for block in step.get("content") or []:
            if isinstance(block, dict) and block.get("type") in _MEDIA:
                tally[block["type"]] = tally.get(block["type"], 0) + _media_tokens(block, output)
    return tally


def _listed(tally: dict[str, int]) -> list[dict[str, Any]]:
    return [{"modality": kind, "tokens": tokens} for kind, tokens in tally.items() if tokens]


def usage_for(
    input_steps: list[dict[str, Any]],
    history: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    record: Record | None = None,
) -> dict[str, Any]:
    """The ``usage`` of one interaction: everything before it is input; its steps are the output."""
    inputs = _by_modality(history + input_steps, output=False)
    prompt = sum(inputs.values())
    thoughts = [s for s in outputs if s.get("type") == "thought"]
    # A thought step costs at least what the model read to think about it, summary or not.
    thought = sum(max(count_tokens(step_text(s)), 16 + prompt // 3) for s in thoughts)
    tools = [s for s in outputs if str(s.get("type", "")).endswith("_result")]
    tool = sum(count_tokens(step_text(s)) for s in tools)
    answers = [s for s in outputs if s.get("type") != "thought" and s not in tools]
    produced = _by_modality(answers, output=True)
    output = sum(produced.values())
    usage: dict[str, Any] = {
        "total_tokens": prompt + output + thought + tool,
        "total_input_tokens": prompt,
        "input_tokens_by_modality": _listed(inputs),
        "total_cached_tokens": 0,
        "total_output_tokens": output,
        "total_tool_use_tokens": tool,
        "total_thought_tokens": thought,
    }
    if record is not None and record.agent:
        usage["output_tokens_by_modality"] = _listed(produced)
        searches = sum(1 for s in outputs if s.get("type") == "google_search_call")
        usage["grounding_tool_count"] = [{"type": "google_search", "count": searches or len(thoughts)}]
    return usage
