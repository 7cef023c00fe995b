"""GenerateContent shapes ↔ the emulator's interaction shapes, so the Batch API (``batches.py``) answers with
the same fake model as the Interactions routes.

A batch's inlined request is a ``GenerateContentRequest`` as google-genai's ``_InlinedRequest_to_mldev``
writes it: camelCase where the converter names the field, but values it dumps from its own types keep
proto field names (``inlineData.mime_type``, ``thinkingConfig.include_thoughts``,
``responseSchema.property_ordering``). The service's JSON parser takes both spellings, so every field here
is read in either (``pick``); names inside schemas, metadata and function arguments are data and are kept.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from .store import Record

_TOOLS = {"googleSearch": "google_search", "urlContext": "url_context", "codeExecution": "code_execution"}
_GENERATION = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "seed": "seed",
    "stopSequences": "stop_sequences",
    "maxOutputTokens": "max_output_tokens",
}
# OpenAPI ``Schema`` keywords (either spelling) → JSON Schema; None: not a constraint, dropped.
_SCHEMA_KEYS: dict[str, str | None] = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": None,
    "propertyOrdering": None,
    "example": None,
}
# How an interaction ended → the candidate's finishReason.
_FINISH = {"incomplete": "MAX_TOKENS", "budget_exceeded": "MAX_TOKENS"}


def pick(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a lowerCamelCase ``name``, or under its snake_case proto field name."""
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name), default)


def json_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` (OpenAPI subset: upper-case types, ``nullable``) as the JSON Schema that the fake
    model's structured output fills; JSON Schema keywords pass through unchanged."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        name = _SCHEMA_KEYS.get(key, key)
        if name is None:
            continue
        if name == "type" and isinstance(value, str):
            value = value.lower()
        elif name == "properties" and isinstance(value, dict):
            value = {prop: json_schema(sub) for prop, sub in value.items()}
        elif name in ("items", "anyOf"):
            value = json_schema(value)
        out[name] = value
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def interaction_body(request: dict[str, Any], model: str) -> dict[str, Any]:
    """The stateless interaction create body that asks the fake model what ``request`` asks."""
    body: dict[str, Any] = {"model": model, "input": _steps(pick(request, "contents") or []), "store": False}
    system = pick(request, "systemInstruction")
    if system:
        text = system if isinstance(system, str) else " ".join(_texts(pick(system, "parts") or []))
        body["system_instruction"] = text
    tools = _tools(pick(request, "tools") or [])
    if tools:
        body["tools"] = tools
    config = pick(request, "generationConfig") or {}
    generation = {
        key: pick(config, wire) for wire, key in _GENERATION.items() if pick(config, wire) is not None
    }
    thinking = pick(config, "thinkingConfig") or {}
    if pick(thinking, "thinkingLevel"):
        generation["thinking_level"] = str(pick(thinking, "thinkingLevel")).lower()
    elif pick(thinking, "thinkingBudget") == 0:
        generation["thinking_level"] = "minimal"
    if pick(thinking, "includeThoughts"):
        generation["thinking_summaries"] = "auto"
    image = pick(config, "imageConfig")
    if isinstance(image, dict):
        sizes = (("aspectRatio", "aspect_ratio"), ("imageSize", "image_size"))
        generation["image_config"] = {key: pick(image, wire) for wire, key in sizes if pick(image, wire)}
    if generation:
        body["generation_config"] = generation
    mime = pick(config, "responseMimeType")
    if mime:
        body["response_mime_type"] = mime
    schema = pick(config, "responseJsonSchema")
    if schema is None and pick(config, "responseSchema") is not None:
        schema = json_schema(pick(config, "responseSchema"))
    if schema is not None:
        body["response_format"] = schema  # a bare JSON schema: structured output (media.wants_json)
    modalities = [str(m).lower() for m in pick(config, "responseModalities") or []]
    if modalities and modalities != ["text"]:
        body["response_modalities"] = modalities
    return body


def _texts(parts: list[Any]) -> list[str]:
    return [str(pick(p, "text")) for p in parts if pick(p, "text") is not None and not pick(p, "thought")]


def _kind(mime: str) -> str:
    top = mime.split("/", 1)[0]
    return top if top in ("image", "audio", "video") else "document"


def _steps(contents: list[Any]) -> list[dict[str, Any]]:
    """``contents`` as interaction steps: user turns, model turns, function calls and their results."""
    steps: list[dict[str, Any]] = []
    call_ids: dict[str, str] = {}  # a functionResponse without an id answers the last call of its name
    for turn, content in enumerate(contents if isinstance(contents, list) else [contents]):
        blocks: list[dict[str, Any]] = []
        tool_steps: list[dict[str, Any]] = []
        for part in pick(content, "parts") or []:
            blob, ref = pick(part, "inlineData"), pick(part, "fileData")
            call, reply = pick(part, "functionCall"), pick(part, "functionResponse")
            if pick(part, "text") is not None:
                if not pick(part, "thought"):  # thought summaries are not conversation
                    blocks.append({"type": "text", "text": str(pick(part, "text"))})
            elif isinstance(blob, dict):
                mime = str(pick(blob, "mimeType") or "application/octet-stream")
                data = str(pick(blob, "data") or "").replace("-", "+").replace("_", "/")  # SDK: base64url
                blocks.append({"type": _kind(mime), "data": data, "mime_type": mime})
            elif isinstance(ref, dict):
                mime = str(pick(ref, "mimeType") or "application/octet-stream")
                blocks.append({"type": _kind(mime), "uri": pick(ref, "fileUri"), "mime_type": mime})
            elif isinstance(call, dict):
                name = str(pick(call, "name") or "")
                call_ids[name] = str(pick(call, "id") or f"call_{turn}_{len(tool_steps)}")
                arguments = pick(call, "args") or {}
                tool_steps.append(
                    {"type": "function_call", "id": call_ids[name], "name": name, "arguments": arguments}
                )
            elif isinstance(reply, dict):
                name = str(pick(reply, "name") or "")
                call_id = pick(reply, "id") or call_ids.get(name, name)
                result = pick(reply, "response")
                tool_steps.append(
                    {"type": "function_result", "call_id": call_id, "name": name, "result": result}
                )
        if blocks:
            kind = "model_output" if pick(content, "role") == "model" else "user_input"
            steps.append({"type": kind, "content": blocks})
        steps += tool_steps
    return steps


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    """GenerateContent ``tools`` as interaction tools (function declarations and the built-in tools)."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        for declared in pick(tool, "functionDeclarations") or []:
            parameters = pick(declared, "parametersJsonSchema") or json_schema(
                pick(declared, "parameters") or {}
            )
            function = {"type": "function", "name": pick(declared, "name"), "parameters": parameters}
            if pick(declared, "description"):
                function["description"] = pick(declared, "description")
            out.append(function)
        out += [{"type": kind} for wire, kind in _TOOLS.items() if pick(tool, wire) is not None]
    return out


def response(record: Record, model: str, include_thoughts: bool) -> dict[str, Any]:
    """The ``GenerateContentResponse`` for what a finished interaction produced, shaped as the service's:
    one candidate (role ``model``, ``finishReason``, ``index``), usage, model version, response id."""
    parts: list[dict[str, Any]] = []
    signature = None  # a thought's signature travels on the function call that follows it
    for step in record.steps:
        kind = step.get("type")
        if kind == "thought":
            signature = step.get("signature")
            summary = "".join(b.get("text", "") for b in step.get("summary") or [] if isinstance(b, dict))
            if include_thoughts and summary:
                parts.append({"text": summary, "thought": True})
        elif kind == "model_output":
            for block in step.get("content") or []:
                if block.get("type") == "text":
                    parts.append({"text": block.get("text", "")})
                elif block.get("data"):
                    parts.append({"inlineData": {"mimeType": block.get("mime_type"), "data": block["data"]}})
        elif kind == "function_call":
            call = {"id": step.get("id"), "name": step.get("name"), "args": step.get("arguments") or {}}
            parts.append({"functionCall": call, **({"thoughtSignature": signature} if signature else {})})
            signature = None
        elif kind == "code_execution_call":
            arguments = step.get("arguments") or {}
            language = str(arguments.get("language") or "python").upper()
            parts.append({"executableCode": {"language": language, "code": arguments.get("code", "")}})
        elif kind == "code_execution_result":
            outcome = "OUTCOME_FAILED" if step.get("is_error") else "OUTCOME_OK"
            parts.append({"codeExecutionResult": {"outcome": outcome, "output": step.get("result", "")}})
    finish = _FINISH.get(record.status, "STOP")
    body: dict[str, Any] = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}]
    }
    if record.usage is not None:
        body["usageMetadata"] = usage_metadata(record.usage)
    body["modelVersion"] = model
    body["responseId"] = secrets.token_urlsafe(17)[:23]
    return body


def usage_metadata(usage: dict[str, Any]) -> dict[str, Any]:
    """An interaction's ``usage`` as ``usageMetadata`` (zero counts left out, as proto3 JSON does)."""
    out = {
        "promptTokenCount": usage.get("total_input_tokens", 0),
        "candidatesTokenCount": usage.get("total_output_tokens", 0),
        "totalTokenCount": usage.get("total_tokens", 0),
        "promptTokensDetails": [
            {"modality": str(m.get("modality", "text")).upper(), "tokenCount": m.get("tokens", 0)}
            for m in usage.get("input_tokens_by_modality") or []
        ],
        "thoughtsTokenCount": usage.get("total_thought_tokens", 0),
        "toolUsePromptTokenCount": usage.get("total_tool_use_tokens", 0),
    }
    return {key: value for key, value in out.items() if value}
