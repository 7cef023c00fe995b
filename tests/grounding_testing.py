"""Helpers for the grounding and generation-control conformance tests (test_grounding.py, test_controls.py).

Server-side tool steps are read twice: raw from the wire, to check their exact keys against the service's
(real-samples/docs_stream_google_search_plus_function_call.json), and through the SDK, to check they parse
into its typed classes. Annotations are sliced by UTF-8 bytes, as the SDK's annotation types say.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
from google.genai import interactions as gi

from gemini_magics.emulator import EmulatorServer

MODEL = "gemini-3-flash-preview"
QUIET = {"thinking_level": "minimal"}  # no thought step: the tool steps come first


def function(name: str, parameter: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {parameter: {"type": kind}}, "required": [parameter]}
    return {
        "type": "function",
        "name": name,
        "description": f"{name} by {parameter}.",
        "parameters": schema,
        **extra,
    }


WEATHER = function("get_weather", "location")
TIME = function("get_time", "city")


def raw_stream(emulator: EmulatorServer, **request: Any) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events exactly as sent: (event name, data) pairs, up to the terminator."""
    body = {"model": MODEL, "stream": True, **request}
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "POST",
        f"{emulator.base_url}/v1beta/interactions",
        json=body,
        headers={"x-goog-api-key": "k"},
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
                if data != "[DONE]":
                    events.append((name, json.loads(data)))
    return events


def step_events(events: list[tuple[str, dict[str, Any]]], kinds: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The start/delta/stop events of the steps whose start has a type in ``kinds``."""
    wanted: set[int] = set()
    out: list[tuple[str, Any]] = []
    for name, data in events:
        if name == "step.start" and data["step"]["type"] in kinds:
            wanted.add(data["index"])
        if name.startswith("step.") and data["index"] in wanted:
            out.append((name, data.get("step") or data.get("delta")))
    return out


def sdk_stream(sdk: Any, **request: Any) -> tuple[list[Any], Any]:
    """All events the SDK parses from a stream, and the interaction of ``interaction.completed``."""
    events = list(sdk.interactions.create(model=MODEL, stream=True, **request))
    done = [e for e in events if isinstance(e, gi.InteractionCompletedEvent)]
    assert len(done) == 1, events
    for event in events:
        assert not type(event).__name__.startswith("Unknown"), event
        if isinstance(event, gi.StepDelta | gi.StepStart):
            inner = event.delta if isinstance(event, gi.StepDelta) else event.step
            assert not type(inner).__name__.startswith("Unknown"), inner
    return events, done[0].interaction


def streamed_text(events: list[Any]) -> str:
    return "".join(
        e.delta.text for e in events if isinstance(e, gi.StepDelta) and isinstance(e.delta, gi.TextDelta)
    )


def steps(interaction: Any, cls: type) -> list[Any]:
    """The steps of type ``cls``, each passing the SDK's strict validation (the SDK skips it for replies)."""
    found = [s for s in interaction.steps if isinstance(s, cls)]
    for step in found:
        cls.model_validate(step.model_dump(mode="json", by_alias=True, exclude_none=True))
    return found


def answer(interaction: Any) -> Any:
    [output] = steps(interaction, gi.ModelOutputStep)
    return output.content[-1]


def cited(block: Any) -> Iterator[tuple[Any, str]]:
    """Each annotation of ``block`` with the text it covers, sliced by UTF-8 bytes."""
    data = block.text.encode("utf-8")
    for annotation in block.annotations or []:
        assert 0 <= annotation.start_index < annotation.end_index <= len(data), annotation
        yield annotation, data[annotation.start_index : annotation.end_index].decode("utf-8")


def server_tool_shape(events: list[tuple[str, Any]], call: str, result: str) -> tuple[dict, dict]:
    """Call and result stream as the service streams Google Search; returns the two deltas."""
    assert [name for name, _ in events] == ["step.start", "step.delta", "step.stop"] * 2, events
    call_start, call_delta, _, result_start, result_delta, _ = (data for _, data in events)
    assert call_start == {"id": call_start["id"], "signature": "", "type": call}
    assert result_start == {"call_id": call_start["id"], "signature": "", "type": result}
    assert call_delta["type"] == call and result_delta["type"] == result
    assert base64.b64decode(call_delta["signature"]) and base64.b64decode(result_delta["signature"])
    return call_delta, result_delta
