"""The pre-GA (google-genai 1.x) wire shape that ``gemini_magics.emulator.legacy`` produces.

Two layers: unit tests of the translators on hand-written GA payloads, and the real check, which parses
the translated payloads with google-genai 1.55.0's own models (and its real client against a local
server) in a separate venv, because 1.x and the project's 3.x cannot share one environment.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gemini_magics.emulator.legacy import (
    LegacyEventTranslator,
    interaction_to_legacy,
    is_legacy_client,
    legacy_status,
    translate_log,
)

LEGACY_SDK_VERSION = "1.55.0"

pytest_plugins = ["legacy_venv"]  # the legacy_python fixture: a Python with google-genai 1.55.0

MODEL = "gemini-3-flash-preview"
TS = "2026-06-01T12:00:00.000000Z"

# Runs under the 1.55.0 venv. Input on stdin: {"interactions": [...], "streams": [[event, ...], ...],
# "serve": {"interaction": ..., "events": [...]} | null}. Output on stdout: one JSON report.
LEGACY_PARSER = r'''
import json, sys, threading, warnings
warnings.simplefilter("ignore")
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
from google.genai import version
from google.genai._interactions._models import construct_type, validate_type
from google.genai._interactions.types import (
    ContentDelta, ContentStart, ContentStop, ErrorEvent, Interaction, InteractionEvent, InteractionSSEEvent,
    InteractionStatusUpdate,
)

MODELS = {"interaction.start": InteractionEvent, "interaction.complete": InteractionEvent,
          "interaction.status_update": InteractionStatusUpdate, "content.start": ContentStart,
          "content.delta": ContentDelta, "content.stop": ContentStop, "error": ErrorEvent}


def extras(value, path="$"):
    """Fields the 1.x models do not declare (their extra="allow" would hide them)."""
    found = []
    if isinstance(value, pydantic.BaseModel):
        found += [f"{path}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += extras(item, f"{path}[{i}]")
    return found


def inner(obj):
    for attr in ("content", "delta", "interaction"):
        value = getattr(obj, attr, None)
        if isinstance(value, pydantic.BaseModel):
            return type(value).__name__
    return None


def dump(model):
    return model.model_dump(mode="json", exclude_none=True)


def check_interaction(data):
    constructed = construct_type(type_=Interaction, value=data)
    out = {"sdk_outputs": [type(o).__name__ for o in constructed.outputs or []]}
    try:
        model = validate_type(type_=Interaction, value=data)
    except Exception as exc:
        return dict(out, error=str(exc))
    outputs = [type(o).__name__ for o in model.outputs or []]
    return dict(out, error=None, outputs=outputs, extras=extras(model), dump=dump(model))


def check_event(data):
    # What the SDK hands the caller (its stream uses construct_type, which falls back to the FIRST union
    # member when validation fails), and a strict validation against the model event_type names.
    out = {"sdk_class": type(construct_type(type_=InteractionSSEEvent, value=data)).__name__}
    try:
        model = MODELS[data.get("event_type")].model_validate(data)
        union = validate_type(type_=InteractionSSEEvent, value=data)
    except Exception as exc:
        return dict(out, error=str(exc))
    return dict(out, error=None, union_class=type(union).__name__, inner=inner(model), extras=extras(model),
                dump=dump(model))


def serve(interaction, events):
    """The real 1.x client against a local server that answers with the given payloads."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            headers = list(self.headers.items())
            requests.append({"method": self.command, "path": self.path, "headers": headers})
            if body.get("stream") or "stream=true" in self.path:
                frames = [b"event: %s\ndata: %s\n\n" % (e["event_type"].encode(), json.dumps(e).encode())
                          for e in events]
                data = b"".join(frames)
                kind = "text/event-stream"
            else:
                data, kind = json.dumps(interaction).encode(), "application/json"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = reply

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from google import genai
    from google.genai import types
    client = genai.Client(api_key="test-key",
                          http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{server.server_port}"))
    try:
        created = client.interactions.create(model="gemini-3-flash-preview", input="hi")
        fetched = client.interactions.get(created.id)
        events_seen = client.interactions.create(model="gemini-3-flash-preview", input="hi", stream=True)
        stream = [{"class": type(e).__name__, "inner": inner(e), "dump": dump(e)} for e in events_seen]
    finally:
        server.shutdown()
    outputs = [type(o).__name__ for o in created.outputs or []]
    return {"create": {"class": type(created).__name__, "outputs": outputs, "dump": dump(created)},
            "get": {"class": type(fetched).__name__, "dump": dump(fetched)},
            "stream": stream, "requests": requests}


payload = json.load(sys.stdin)
report = {"version": version.__version__,
          "interactions": [check_interaction(i) for i in payload.get("interactions", [])],
          "streams": [[check_event(e) for e in s] for s in payload.get("streams", [])]}
if payload.get("serve"):
    report["serve"] = serve(payload["serve"]["interaction"], payload["serve"]["events"])
print(json.dumps(report))
'''


def run_legacy_parser(python: Path, payload: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", LEGACY_PARSER],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


# -- hand-written GA payloads (what the emulator emits; checked against google-genai 3.6.1 below) ------


def numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Event ids as the emulator assigns them: "1", "2", … in log order."""
    return [dict(event, event_id=str(i)) for i, event in enumerate(events, 1)]


def lifecycle(status: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "id": "v1_abc",
        "object": "interaction",
        "status": status,
        "created": TS,
        "updated": TS,
        "model": MODEL,
    }
    return dict(body, usage=usage) if usage else body


USAGE = {
    "total_input_tokens": 12,
    "total_output_tokens": 30,
    "total_thought_tokens": 7,
    "total_tool_use_tokens": 4,
    "total_cached_tokens": 0,
    "total_tokens": 53,
    "input_tokens_by_modality": [{"modality": "text", "tokens": 10}, {"modality": "video", "tokens": 2}],
}

ANNOTATION = {
    "type": "url_citation",
    "url": "https://en.wikipedia.org/wiki/Ada",
    "title": "Ada - Wikipedia",
    "start_index": 0,
    "end_index": 5,
}
PNG = "iVBORw0KGgo="
IMAGE = {"type": "image", "data": PNG, "mime_type": "image/png"}


def arguments(text: str) -> dict[str, str]:
    """A GA ``arguments_delta``: a piece of the call's JSON arguments."""
    return {"type": "arguments_delta", "arguments": text}


def ga_resource() -> dict[str, Any]:
    """A GA Interaction with one step of every kind 1.x has a block for, and some it has not."""
    steps = [
        {"type": "user_input", "content": [{"type": "text", "text": "Who was Ada?"}]},
        {"type": "thought", "signature": "c2lnLTE=", "summary": [{"type": "text", "text": "Thinking."}]},
        {"type": "google_search_call", "id": "s1", "arguments": {"queries": ["Ada Lovelace"]}},
        {
            "type": "google_search_result",
            "call_id": "s1",
            "result": [{"search_suggestions": '<div class="carousel"></div>'}],
        },
        {"type": "url_context_call", "id": "u1", "arguments": {"urls": ["https://example.com/a"]}},
        {
            "type": "url_context_result",
            "call_id": "u1",
            "result": [{"url": "https://example.com/a", "status": "success"}],
        },
        {"type": "code_execution_call", "id": "x1", "arguments": {"code": "print(1)", "language": "python"}},
        {"type": "code_execution_result", "call_id": "x1", "result": "1\n", "is_error": False},
        {"type": "code_execution_call", "id": "x2", "arguments": {"code": "echo hi", "language": "bash"}},
        {"type": "code_execution_result", "call_id": "x2", "result": [{"type": "text", "text": "hi\n"}]},
        {"type": "file_search_call", "id": "f1"},
        {"type": "google_maps_call", "id": "m1"},
        {
            "type": "mcp_server_tool_call",
            "id": "p1",
            "name": "lookup",
            "server_name": "kb",
            "arguments": {"q": "Ada"},
        },
        {
            "type": "mcp_server_tool_result",
            "call_id": "p1",
            "name": "lookup",
            "server_name": "kb",
            "result": "found",
        },
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "London"}},
        {
            "type": "function_result",
            "call_id": "c1",
            "name": "get_weather",
            "result": [{"type": "text", "text": "sunny"}, IMAGE],
        },
        {
            "type": "model_output",
            "content": [
                {"type": "text", "text": "Ada was a mathematician.", "annotations": [ANNOTATION]},
                {"type": "image", "data": PNG, "mime_type": "image/png"},
            ],
        },
    ]
    return dict(
        lifecycle("incomplete", USAGE),
        previous_interaction_id="v1_prev",
        steps=steps,
        input=steps[:1],
        errors=[{"code": "x", "message": "m"}],
        system_instruction="Be brief.",
    )


def ga_text_stream() -> list[dict[str, Any]]:
    """The emulator's plain answer: a thought with a summary, then text in several deltas."""
    return numbered(
        [
            {"event_type": "interaction.created", "interaction": lifecycle("in_progress")},
            {"event_type": "interaction.status_update", "interaction_id": "v1_abc", "status": "in_progress"},
            {"event_type": "step.start", "index": 0, "step": {"type": "thought"}},
            {
                "event_type": "step.delta",
                "index": 0,
                "delta": {"type": "thought_summary", "content": {"type": "text", "text": "Hm. "}},
            },
            {
                "event_type": "step.delta",
                "index": 0,
                "delta": {"type": "thought_signature", "signature": "c2ln"},
            },
            {"event_type": "step.stop", "index": 0},
            {"event_type": "step.start", "index": 1, "step": {"type": "model_output"}},
            {"event_type": "step.delta", "index": 1, "delta": {"type": "text", "text": "Hello "}},
            {"event_type": "step.delta", "index": 1, "delta": {"type": "text", "text": "world."}},
            {
                "event_type": "step.delta",
                "index": 1,
                "delta": {"type": "text_annotation_delta", "annotations": [ANNOTATION]},
            },
            {"event_type": "step.stop", "index": 1},
            {"event_type": "interaction.completed", "interaction": lifecycle("completed", USAGE)},
        ]
    )


def ga_tool_stream() -> list[dict[str, Any]]:
    """Tools, a mixed text/image answer, a user_input step and steps 1.x has no block type for."""
    call = {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {}}
    return numbered(
        [
            {"event_type": "interaction.created", "interaction": lifecycle("queued")},
            {"event_type": "interaction.status_update", "interaction_id": "v1_abc", "status": "in_progress"},
            {
                "event_type": "step.start",
                "index": 0,
                "step": {"type": "user_input", "content": [{"type": "text", "text": "Weather?"}]},
            },
            {"event_type": "step.stop", "index": 0},
            {
                "event_type": "step.start",
                "index": 1,
                "step": {"type": "google_search_call", "id": "s1", "arguments": {"queries": ["weather"]}},
            },
            {"event_type": "step.stop", "index": 1},
            {
                "event_type": "step.start",
                "index": 2,
                "step": {
                    "type": "google_search_result",
                    "call_id": "s1",
                    "result": [{"search_suggestions": "<b>x</b>"}],
                },
            },
            {"event_type": "step.stop", "index": 2},
            {"event_type": "step.start", "index": 3, "step": {"type": "google_maps_call", "id": "m1"}},
            {"event_type": "step.delta", "index": 3, "delta": {"type": "google_maps_call", "arguments": {}}},
            {"event_type": "step.stop", "index": 3},
            {
                "event_type": "step.start",
                "index": 4,
                "step": {"type": "code_execution_call", "id": "x1", "arguments": {}},
            },
            {
                "event_type": "step.delta",
                "index": 4,
                "delta": {
                    "type": "code_execution_call",
                    "arguments": {"code": "print(2)", "language": "python"},
                },
            },
            {"event_type": "step.stop", "index": 4},
            {
                "event_type": "step.start",
                "index": 5,
                "step": {
                    "type": "code_execution_result",
                    "call_id": "x1",
                    "result": "2\n",
                    "is_error": False,
                },
            },
            {"event_type": "step.stop", "index": 5},
            {
                "event_type": "step.start",
                "index": 6,
                "step": {
                    "type": "url_context_call",
                    "id": "u1",
                    "arguments": {"urls": ["https://example.com"]},
                },
            },
            {"event_type": "step.stop", "index": 6},
            {
                "event_type": "step.start",
                "index": 7,
                "step": {
                    "type": "url_context_result",
                    "call_id": "u1",
                    "result": [{"url": "https://example.com", "status": "success"}],
                },
            },
            {"event_type": "step.stop", "index": 7},
            {"event_type": "step.start", "index": 8, "step": {"type": "model_output"}},
            {"event_type": "step.delta", "index": 8, "delta": {"type": "text", "text": "Here: "}},
            {"event_type": "step.delta", "index": 8, "delta": IMAGE},
            {"event_type": "step.delta", "index": 8, "delta": {"type": "text", "text": "done."}},
            {"event_type": "step.stop", "index": 8},
            {"event_type": "step.start", "index": 9, "step": call},
            {"event_type": "step.delta", "index": 9, "delta": arguments('{"city": ')},
            {"event_type": "step.delta", "index": 9, "delta": arguments('"Paris"}')},
            {"event_type": "step.stop", "index": 9},
            {
                "event_type": "step.start",
                "index": 10,
                "step": {
                    "type": "mcp_server_tool_call",
                    "id": "p1",
                    "name": "lookup",
                    "server_name": "kb",
                    "arguments": {},
                },
            },
            {"event_type": "step.delta", "index": 10, "delta": arguments('{"q": 1}')},
            {"event_type": "step.stop", "index": 10},
            {
                "event_type": "interaction.status_update",
                "interaction_id": "v1_abc",
                "status": "requires_action",
            },
            {"event_type": "interaction.completed", "interaction": lifecycle("requires_action", USAGE)},
        ]
    )


def ga_failed_stream() -> list[dict[str, Any]]:
    """The emulator's failure: an ``error`` event (integer code, as the emulator sends it), then failed."""
    return numbered(
        [
            {"event_type": "interaction.created", "interaction": lifecycle("in_progress")},
            {"event_type": "interaction.status_update", "interaction_id": "v1_abc", "status": "in_progress"},
            {"event_type": "error", "error": {"code": 500, "message": "boom"}},
            {"event_type": "interaction.completed", "interaction": lifecycle("failed")},
        ]
    )


def ga_cancelled_stream() -> list[dict[str, Any]]:
    """A cancel in the middle of a step: the log ends without ``step.stop``."""
    return numbered(
        [
            {"event_type": "interaction.created", "interaction": lifecycle("in_progress")},
            {"event_type": "step.start", "index": 0, "step": {"type": "model_output"}},
            {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "Partial"}},
            {"event_type": "interaction.status_update", "interaction_id": "v1_abc", "status": "cancelled"},
            {"event_type": "interaction.completed", "interaction": lifecycle("cancelled")},
        ]
    )


ALL_STREAMS = {
    "text": ga_text_stream,
    "tools": ga_tool_stream,
    "failed": ga_failed_stream,
    "cancelled": ga_cancelled_stream,
}


def translate_all(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    translator = LegacyEventTranslator()
    return [out for event in events for out in translator.translate(event)]


def ga_resource_from_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The Interaction a GA ``get`` would return once the stream ended (steps rebuilt from start+deltas)."""
    steps: dict[int, dict[str, Any]] = {}
    for event in events:
        if event["event_type"] == "step.start":
            steps[event["index"]] = dict(event["step"])
        elif event["event_type"] == "step.delta" and event["delta"]["type"] == "text":
            content = steps[event["index"]].setdefault("content", [])
            if content and content[-1]["type"] == "text":
                content[-1]["text"] += event["delta"]["text"]
            else:
                content.append({"type": "text", "text": event["delta"]["text"]})
    last = events[-1]["interaction"]
    return dict(last, steps=[steps[i] for i in sorted(steps)])


# -- GA fixtures are real GA --------------------------------------------------------------------------


def test_ga_fixtures_are_valid_for_the_current_sdk() -> None:
    """The hand-written inputs parse with google-genai 3.6.1's own models, without Unknown* variants."""
    from google.genai._gaos.types.interactions.interaction import Interaction
    from google.genai._gaos.types.interactions.interactionsseevent import InteractionSSEEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(InteractionSSEEvent)
    for name, make in ALL_STREAMS.items():
        for event in make():
            if event["event_type"] == "error":
                continue  # the emulator sends an integer code; 3.6.1's stream parser is lenient about it
            parsed = adapter.validate_python(event)
            for part in (parsed, getattr(parsed, "step", None), getattr(parsed, "delta", None)):
                assert not type(part).__name__.startswith("Unknown"), (name, event)
    resource = Interaction.model_validate(ga_resource())
    assert [type(s).__name__ for s in resource.steps][:2] == ["UserInputStep", "ThoughtStep"]
    assert not any(type(s).__name__.startswith("Unknown") for s in resource.steps)


# -- client detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "legacy"),
    [
        (
            {
                "user-agent": "google-genai-sdk/1.55.0 gl-python/3.11.7",
                "x-goog-api-client": "google-genai-sdk/1.55.0 gl-python/3.11.7",
            },
            True,
        ),
        ({"X-Goog-Api-Client": "google-genai-sdk/1.55.0 gl-python/3.11.7"}, True),
        ({"User-Agent": "google-genai-sdk/0.8.0 gl-python/3.10.0"}, True),
        ({"user-agent": "google-genai-sdk/1.33.0 gl-node/v20.11.0"}, True),
        # 1.x sends two User-Agent headers; a server that joins duplicates sees both, one that keeps the first
        # sees only the interactions client's own.
        (
            {"user-agent": "GeminiNextGenAPIClient/Python 1.55.0, google-genai-sdk/1.55.0 gl-python/3.11.7"},
            True,
        ),
        ({"user-agent": "GeminiNextGenAPIClient/Python 1.55.0"}, True),
        ({"user-agent": "google-genai-sdk/2.0.0 gl-python/3.12.1"}, False),
        (
            {
                "user-agent": "google-genai-sdk/3.6.1 gl-python/3.11.7",
                "x-goog-api-client": "google-genai-sdk/3.6.1 gl-python/3.11.7",
            },
            False,
        ),
        ({"user-agent": "curl/8.5.0"}, False),
        ({"user-agent": "python-httpx/0.28.1"}, False),
        ({}, False),
    ],
)
def test_is_legacy_client(headers: dict[str, str], legacy: bool) -> None:
    assert is_legacy_client(headers) is legacy


def test_is_legacy_client_reads_duplicate_headers_of_a_multidict() -> None:
    from starlette.datastructures import Headers

    raw = [
        (b"user-agent", b"GeminiNextGenAPIClient/Python 1.55.0"),
        (b"user-agent", b"google-genai-sdk/1.55.0 gl-python/3.11.7"),
    ]
    assert is_legacy_client(Headers(raw=raw))
    assert not is_legacy_client(Headers(raw=[(b"user-agent", b"google-genai-sdk/3.6.1 gl-python/3.11.7")]))


@pytest.fixture
def capture_server() -> Iterator[tuple[str, list[list[tuple[str, str]]]]]:
    """A local server that records request headers and answers with a minimal GA Interaction."""
    seen: list[list[tuple[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(list(self.headers.items()))
            body = json.dumps(dict(lifecycle("completed"), steps=[])).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_current_sdk_is_not_legacy(capture_server: tuple[str, list[list[tuple[str, str]]]]) -> None:
    from google import genai
    from google.genai import types

    url, seen = capture_server
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=url))
    client.interactions.create(model=MODEL, input="hi")
    assert seen and not is_legacy_client(dict(seen[0]))


# -- statuses and the Interaction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("in_progress", "in_progress"),
        ("requires_action", "requires_action"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
        ("queued", "in_progress"),
        ("incomplete", "completed"),
        ("idle", "completed"),
        ("requires_continuation", "requires_action"),
        ("budget_exceeded", "failed"),
        ("something_new", "failed"),
        (None, "failed"),
    ],
)
def test_legacy_status(status: str | None, expected: str) -> None:
    assert legacy_status(status) == expected


def test_interaction_to_legacy_flattens_steps_into_outputs() -> None:
    legacy = interaction_to_legacy(ga_resource())
    assert set(legacy) == {
        "id",
        "object",
        "status",
        "created",
        "updated",
        "model",
        "role",
        "outputs",
        "usage",
    }
    assert legacy["role"] == "model"
    assert legacy["status"] == "completed"  # GA "incomplete"
    assert [o["type"] for o in legacy["outputs"]] == [
        "thought",
        "google_search_call",
        "google_search_result",
        "url_context_call",
        "url_context_result",
        "code_execution_call",
        "code_execution_result",
        "code_execution_call",
        "code_execution_result",
        "mcp_server_tool_call",
        "mcp_server_tool_result",
        "function_call",
        "function_result",
        "text",
        "image",
    ]  # no user_input, no file_search_call / google_maps_call (1.x has no block for them)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for block in legacy["outputs"]:
        by_type.setdefault(block["type"], []).append(block)
    assert by_type["thought"] == [
        {"type": "thought", "signature": "c2lnLTE=", "summary": [{"type": "text", "text": "Thinking."}]}
    ]
    assert by_type["function_call"] == [
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "London"}}
    ]
    assert by_type["function_result"][0]["result"] == {
        "items": ["sunny", {"type": "image", "data": PNG, "mime_type": "image/png"}]
    }
    carousel = [{"rendered_content": '<div class="carousel"></div>'}]
    assert by_type["google_search_result"][0]["result"] == carousel
    assert by_type["code_execution_call"][1]["arguments"] == {"code": "echo hi"}  # 1.x knows only python
    assert by_type["code_execution_result"][1]["result"] == "hi\n"
    assert by_type["text"] == [
        {
            "type": "text",
            "text": "Ada was a mathematician.",
            "annotations": [
                {"start_index": 0, "end_index": 5, "source": "https://en.wikipedia.org/wiki/Ada"}
            ],
        }
    ]
    usage = legacy["usage"]
    assert usage["total_thought_tokens"] == 7 and "total_reasoning_tokens" not in usage  # as recorded
    assert usage["input_tokens_by_modality"] == [{"modality": "text", "tokens": 10}]


def test_lifecycle_interaction_has_no_outputs() -> None:
    legacy = interaction_to_legacy(lifecycle("queued"))
    assert legacy == {
        "id": "v1_abc",
        "object": "interaction",
        "status": "in_progress",
        "created": TS,
        "updated": TS,
        "model": MODEL,
        "role": "model",
    }


# -- the event stream -----------------------------------------------------------------------------------


def test_text_stream_translates_event_by_event() -> None:
    got = translate_all(ga_text_stream())
    citation = {"start_index": 0, "end_index": 5, "source": "https://en.wikipedia.org/wiki/Ada"}
    legacy_usage = interaction_to_legacy(lifecycle("completed", USAGE))
    assert got == [
        {
            "event_type": "interaction.start",
            # As recorded: the start event's interaction has no role.
            "interaction": {
                k: v for k, v in interaction_to_legacy(lifecycle("in_progress")).items() if k != "role"
            },
            "event_id": "1",
        },
        {
            "event_type": "interaction.status_update",
            "interaction_id": "v1_abc",
            "status": "in_progress",
            "event_id": "2",
        },
        {"event_type": "content.start", "index": 0, "content": {"type": "thought"}, "event_id": "3"},
        {
            "event_type": "content.delta",
            "index": 0,
            "delta": {"type": "thought_summary", "content": {"type": "text", "text": "Hm. "}},
            "event_id": "4",
        },
        {
            "event_type": "content.delta",
            "index": 0,
            "delta": {"type": "thought_signature", "signature": "c2ln"},
            "event_id": "5",
        },
        {"event_type": "content.stop", "index": 0, "event_id": "6"},
        # step.start of a model_output (event 7) opens nothing: the first text delta opens the text block.
        {"event_type": "content.start", "index": 1, "content": {"type": "text"}, "event_id": "8"},
        {
            "event_type": "content.delta",
            "index": 1,
            "delta": {"type": "text", "text": "Hello "},
            "event_id": "8",
        },
        {
            "event_type": "content.delta",
            "index": 1,
            "delta": {"type": "text", "text": "world."},
            "event_id": "9",
        },
        {
            "event_type": "content.delta",
            "index": 1,
            "delta": {"type": "text", "text": "", "annotations": [citation]},
            "event_id": "10",
        },
        {"event_type": "content.stop", "index": 1, "event_id": "11"},
        {"event_type": "interaction.complete", "interaction": legacy_usage, "event_id": "12"},
    ]


def blocks_of(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per 1.x content index: the block content.start announced and the deltas it received."""
    blocks: dict[int, dict[str, Any]] = {}
    open_now: set[int] = set()
    for event in events:
        kind = event["event_type"]
        if kind == "content.start":
            assert event["index"] not in blocks, "an index is opened once"
            assert event["index"] == len(blocks), "indexes count blocks from 0"
            blocks[event["index"]] = {"content": event["content"], "deltas": []}
            open_now.add(event["index"])
        elif kind == "content.delta":
            assert event["index"] in open_now, "deltas go to an open block"
            blocks[event["index"]]["deltas"].append(event["delta"])
        elif kind == "content.stop":
            open_now.remove(event["index"])
    assert not open_now, "every block is stopped"
    return blocks


@pytest.mark.parametrize("name", sorted(ALL_STREAMS))
def test_streams_are_balanced_and_keep_event_ids(name: str) -> None:
    ga = ALL_STREAMS[name]()
    got = translate_all(ga)
    blocks_of(got)
    ga_ids = [e["event_id"] for e in ga]
    positions = [ga_ids.index(e["event_id"]) for e in got]
    assert positions == sorted(positions), "1.x events keep the GA order and ids"
    assert got[0]["event_type"] == "interaction.start"
    assert got[-1]["event_type"] == "interaction.complete"


def test_tool_stream_maps_steps_to_blocks() -> None:
    blocks = blocks_of(translate_all(ga_tool_stream()))
    summary = [(b["content"]["type"], [d["type"] for d in b["deltas"]]) for b in blocks.values()]
    assert summary == [
        ("google_search_call", ["google_search_call"]),
        ("google_search_result", ["google_search_result"]),
        ("code_execution_call", ["code_execution_call"]),
        ("code_execution_result", ["code_execution_result"]),
        ("url_context_call", ["url_context_call"]),
        ("url_context_result", ["url_context_result"]),
        ("text", ["text"]),
        ("image", ["image"]),
        ("text", ["text"]),  # one model_output step, three blocks
        ("function_call", ["function_call"]),
        ("mcp_server_tool_call", ["mcp_server_tool_call"]),
    ]  # user_input and google_maps_call steps open nothing
    call = blocks[9]
    assert call["content"] == {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {}}
    # Two partial arguments_delta chunks become one delta with the whole object, once it parses.
    assert call["deltas"] == [
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert blocks[1]["content"] == {"type": "google_search_result", "call_id": "s1"}
    assert blocks[1]["deltas"] == [
        {"type": "google_search_result", "call_id": "s1", "result": [{"rendered_content": "<b>x</b>"}]}
    ]
    assert blocks[2]["deltas"] == [
        {"type": "code_execution_call", "id": "x1", "arguments": {"code": "print(2)", "language": "python"}}
    ]
    assert blocks[10]["content"]["server_name"] == "kb"


def test_error_and_status_are_1x_values() -> None:
    got = translate_all(ga_failed_stream())
    assert got[2] == {"event_type": "error", "error": {"code": "500", "message": "boom"}, "event_id": "3"}
    assert got[-1]["interaction"]["status"] == "failed"
    tools = translate_all(ga_tool_stream())
    assert tools[0]["interaction"]["status"] == "in_progress"  # GA "queued"


def test_cancel_mid_step_closes_the_open_block() -> None:
    got = translate_all(ga_cancelled_stream())
    assert [e["event_type"] for e in got] == [
        "interaction.start",
        "content.start",
        "content.delta",
        "interaction.status_update",
        "content.stop",
        "interaction.complete",
    ]
    assert got[4] == {"event_type": "content.stop", "index": 0, "event_id": "5"}


def test_unknown_events_and_late_joins() -> None:
    translator = LegacyEventTranslator()
    assert translator.translate({"event_type": "interaction.heartbeat", "event_id": "1"}) == []
    # A delta for a step never started (stream joined late) still opens a block of the right type.
    got = translator.translate(
        {"event_type": "step.delta", "index": 3, "event_id": "2", "delta": {"type": "text", "text": "tail"}}
    )
    assert [e["event_type"] for e in got] == ["content.start", "content.delta"]
    assert got[1]["delta"] == {"type": "text", "text": "tail"}


def test_function_call_without_deltas_and_unparsable_arguments() -> None:
    translator = LegacyEventTranslator()
    whole = {"type": "function_call", "id": "c9", "name": "f", "arguments": {"a": [1, 2]}}
    got = translator.translate({"event_type": "step.start", "index": 0, "step": whole, "event_id": "1"})
    assert got[0]["content"] == dict(whole, arguments={})
    assert got[1]["delta"] == whole
    translator.translate({"event_type": "step.stop", "index": 0, "event_id": "2"})
    translator.translate(
        {
            "event_type": "step.start",
            "index": 1,
            "event_id": "3",
            "step": {"type": "function_call", "id": "c10", "name": "g", "arguments": {}},
        }
    )
    assert (
        translator.translate(
            {
                "event_type": "step.delta",
                "index": 1,
                "event_id": "4",
                "delta": {"type": "arguments_delta", "arguments": "{oops"},
            }
        )
        == []
    )


def test_translate_log_resumes_after_an_event() -> None:
    ga = ga_tool_stream()
    full = translate_log(ga)
    assert full == translate_all(ga)
    resumed = translate_log(ga, last_event_id="24")  # the last text delta of the model_output step
    assert resumed == [e for e in full if int(e["event_id"]) > 24]
    assert resumed[0] == {"event_type": "content.stop", "index": 8, "event_id": "25"}  # indexes continue
    assert translate_log(ga, last_event_id="nope") == []


# -- the real check: google-genai 1.55.0 parses what the translators produce ------------------------


@pytest.fixture(scope="module")
def legacy_report(legacy_python: Path) -> dict[str, Any]:
    text = translate_all(ga_text_stream())
    payload = {
        "interactions": [
            interaction_to_legacy(ga_resource()),
            interaction_to_legacy(ga_resource_from_stream(ga_text_stream())),
            interaction_to_legacy(lifecycle("queued")),
        ],
        "streams": [translate_all(make()) for make in ALL_STREAMS.values()]
        # Controls: raw GA events, which 1.x must NOT parse as what they are (proves the checker bites).
        + [[ga_failed_stream()[2], ga_text_stream()[7], ga_text_stream()[1] | {"status": "queued"}]],
        "serve": {
            "interaction": interaction_to_legacy(ga_resource_from_stream(ga_text_stream())),
            "events": text,
        },
    }
    return run_legacy_parser(legacy_python, payload)


# The service sent total_thought_tokens to 1.x clients (recorded live replies), not total_reasoning_tokens.
ALLOWED_EXTRAS = {"$.usage.total_thought_tokens", "$.interaction.usage.total_thought_tokens"}

EVENT_CLASSES = {
    "interaction.start": "InteractionEvent",
    "interaction.complete": "InteractionEvent",
    "interaction.status_update": "InteractionStatusUpdate",
    "content.start": "ContentStart",
    "content.delta": "ContentDelta",
    "content.stop": "ContentStop",
    "error": "ErrorEvent",
}


def test_legacy_sdk_version(legacy_report: dict[str, Any]) -> None:
    assert legacy_report["version"] == LEGACY_SDK_VERSION


def test_legacy_sdk_parses_translated_interactions(legacy_report: dict[str, Any]) -> None:
    full, from_stream, bare = legacy_report["interactions"]
    for report in (full, from_stream, bare):
        assert report["error"] is None
        assert set(report["extras"]) <= ALLOWED_EXTRAS, "only fields 1.x declares"
    assert (
        full["outputs"]
        == full["sdk_outputs"]
        == [
            "ThoughtContent",
            "GoogleSearchCallContent",
            "GoogleSearchResultContent",
            "URLContextCallContent",
            "URLContextResultContent",
            "CodeExecutionCallContent",
            "CodeExecutionResultContent",
            "CodeExecutionCallContent",
            "CodeExecutionResultContent",
            "MCPServerToolCallContent",
            "MCPServerToolResultContent",
            "FunctionCallContent",
            "FunctionResultContent",
            "TextContent",
            "ImageContent",
        ]
    )
    assert full["dump"]["usage"]["total_thought_tokens"] == 7
    assert full["dump"]["role"] == "model"
    assert from_stream["outputs"] == ["ThoughtContent", "TextContent"]
    assert from_stream["dump"]["outputs"][-1]["text"] == "Hello world."
    assert "outputs" not in bare["dump"]


def test_legacy_sdk_parses_every_translated_event(legacy_report: dict[str, Any]) -> None:
    streams = [translate_all(make()) for make in ALL_STREAMS.values()]
    for events, reports in zip(streams, legacy_report["streams"], strict=False):
        assert len(events) == len(reports)
        for event, report in zip(events, reports, strict=True):
            expected = EVENT_CLASSES[event["event_type"]]
            assert report["error"] is None, (event, report["error"])
            assert report["sdk_class"] == report["union_class"] == expected, event
            assert set(report["extras"]) <= ALLOWED_EXTRAS, (event, report["extras"])
            if event["event_type"] == "content.delta":
                assert report["inner"].startswith("Delta") and report["inner"].endswith("Delta"), report
            if event["event_type"] == "content.start":
                assert report["inner"].endswith("Content"), report


def test_raw_ga_events_are_misparsed_by_the_legacy_sdk(legacy_report: dict[str, Any]) -> None:
    """Why the translation exists: 1.x turns what it cannot validate into an InteractionEvent."""
    error, step_delta, queued = legacy_report["streams"][-1]
    assert error["error"] is not None and error["sdk_class"] == "InteractionEvent"  # integer code
    assert step_delta["sdk_class"] == "InteractionEvent"  # step.delta is no 1.x event
    assert queued["error"] is not None and queued["sdk_class"] == "InteractionEvent"  # status outside Literal


def test_legacy_client_round_trip(legacy_report: dict[str, Any]) -> None:
    """The real 1.55.0 client against a server that answers with translated payloads."""
    served = legacy_report["serve"]
    assert served["create"]["class"] == served["get"]["class"] == "Interaction"
    assert served["create"]["outputs"] == ["ThoughtContent", "TextContent"]
    stream = served["stream"]
    expected = [EVENT_CLASSES[e["event_type"]] for e in translate_all(ga_text_stream())]
    assert [e["class"] for e in stream] == expected
    text = "".join(
        e["dump"]["delta"].get("text", "")
        for e in stream
        if e["class"] == "ContentDelta" and e["dump"]["delta"]["type"] == "text"
    )
    assert text == "Hello world."
    assert stream[-1]["dump"]["interaction"]["usage"]["total_thought_tokens"] == 7
    # What the 1.x client sent: /v1beta paths and headers that is_legacy_client recognises.
    paths = [r["path"] for r in served["requests"]]
    assert paths == ["/v1beta/interactions", "/v1beta/interactions/v1_abc", "/v1beta/interactions"]
    for request in served["requests"]:
        headers = request["headers"]
        assert any(
            k.lower() == "x-goog-api-client" and v.startswith("google-genai-sdk/1.55.0 ") for k, v in headers
        )
        assert is_legacy_client(dict((k.lower(), v) for k, v in headers if k.lower() != "user-agent"))
        # Keep either one of the two User-Agent headers, as servers that drop duplicates would.
        for agent in [v for k, v in headers if k.lower() == "user-agent"]:
            assert is_legacy_client({"user-agent": agent}), agent
