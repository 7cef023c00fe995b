"""The emulator, asked what the recorded real exchanges asked, answers in the same shape.

For every file in tests/real_samples/ (copies of ../shared/real-samples/): same keys and nesting, enum values,
event order, terminator, id and timestamp formats (values may differ). Streams are read raw (SSE text over
httpx), so nothing the SDK tolerates hides a difference. Events always carry ``event_id`` in addition
(the SDK's event types declare it: the resume point for ``last_event_id``); the docs' copies leave it out.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
from sample_server import load

from gemini_magics.emulator import EmulatorServer

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"
ADDED = {"event_id"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
REAL_ID = re.compile(r"v[12]_[A-Za-z0-9_-]{60,}")
LEGACY_CLIENT = {"user-agent": "google-genai-sdk/1.55.0 gl-python/3.11.7"}


def post(
    emulator: EmulatorServer, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    version = "v1beta" if headers else "v1"
    reply = httpx.post(f"{emulator.base_url}/{version}/interactions", json=body, headers=headers, timeout=60)
    assert reply.status_code < 500, reply.text
    return reply


def frames(text: str) -> list[dict[str, Any]]:
    """Raw SSE → ``[{"event", "data"}]`` as the recordings list them (``data`` parsed unless ``[DONE]``)."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        data = fields["data"]
        out.append({"event": fields.get("event"), "data": data if data == "[DONE]" else json.loads(data)})
    return out


def streamed(
    emulator: EmulatorServer, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[Any]:
    reply = post(emulator, {**body, "stream": True}, headers)
    assert reply.headers["content-type"].startswith("text/event-stream"), reply.text
    assert reply.text.endswith("event: done\ndata: [DONE]\n\n"), reply.text[-200:]
    events = frames(reply.text)
    for event in events[:-1]:  # the `event:` line names the event the data carries
        assert event["event"] == event["data"]["event_type"], event
    return events


def signature(event: dict[str, Any]) -> tuple[str, ...]:
    data = event["data"]
    if data == "[DONE]":
        return ("done",)
    kind = data.get("event_type", event.get("event"))
    if kind == "step.start":
        return (kind, data["step"]["type"])
    if kind == "step.delta":
        delta = data["delta"]
        return (kind, delta.get("type") or ("text" if "text" in delta else "?"))
    return (kind,)


def runs(events: list[dict[str, Any]], skip: frozenset[str] = frozenset()) -> list[tuple[str, ...]]:
    """Event signatures with repeats folded (the number of deltas depends on the text)."""
    out: list[tuple[str, ...]] = []
    for event in events:
        sig = signature(event)
        if sig[0] in skip:
            continue
        if not out or out[-1] != sig:
            out.append(sig)
    return out


def assert_same_keys(ours: Any, real: Any, where: str, added: set[str] | frozenset[str] = ADDED) -> None:
    """Same keys at every level (ours may add only ``added``); lists compare their first items."""
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
        missing, extra = set(real) - set(ours), set(ours) - set(real) - set(added)
        assert not missing and not extra, f"{where}: missing {sorted(missing)}, added {sorted(extra)}"
        for key, value in real.items():
            assert_same_keys(ours[key], value, f"{where}.{key}", added=frozenset())
    elif isinstance(real, list) and real:
        assert isinstance(ours, list) and ours, f"{where}: {ours!r}"
        assert_same_keys(ours[0], real[0], f"{where}[0]", added=frozenset())
    else:
        assert type(ours) is type(real) or {type(ours), type(real)} <= {int, float}, f"{where}: {ours!r}"


def by_signature(events: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in events:
        found.setdefault(signature(event), event["data"])
    return found


def assert_events_alike(ours: list[dict[str, Any]], real: list[dict[str, Any]]) -> None:
    """Each kind of event the recording shows has the same keys in ours (first of each kind)."""
    mine = by_signature(ours)
    for sig, data in by_signature(real).items():
        if sig == ("done",):
            continue
        assert sig in mine, f"no {sig} event in {sorted(mine)}"
        assert_same_keys(mine[sig], data, "/".join(sig))


def check_formats(interaction: dict[str, Any]) -> None:
    assert REAL_ID.fullmatch(interaction["id"]), interaction["id"]
    for key in ("created", "updated"):
        if key in interaction:
            assert TIMESTAMP.fullmatch(interaction[key]), interaction[key]


# -- current (steps) shape ---------------------------------------------------------------------------------


def test_stream_text(emulator: EmulatorServer) -> None:
    real = load("docs_stream_text")["sample"]
    ours = streamed(emulator, {"model": MODEL, "input": "Count from 1 to 13."})
    assert runs(ours) == runs(real)
    assert_events_alike(ours, real)
    completed = ours[-2]["data"]["interaction"]
    check_formats(completed)
    assert completed["service_tier"] == "standard" and completed["usage"]["total_thought_tokens"] > 0


def test_stream_thought_summary(emulator: EmulatorServer) -> None:
    recording = load("docs_stream_thought_summary")
    real = recording["sample"]  # the docs cut it after the answer's step.start
    ours = streamed(emulator, recording["request"])
    assert runs(ours)[: len(runs(real))] == runs(real)
    assert_events_alike(ours, real)


def test_stream_error_event(emulator: EmulatorServer) -> None:
    real = load("docs_stream_error_event")["sample"]
    ours = streamed(emulator, {"model": MODEL, "input": "Hi [emulator: fail=Deadline expired]"})
    assert runs(ours)[-2:] == [("error",), ("done",)]
    assert_same_keys(ours[-2]["data"], real[0]["data"], "error")
    assert ours[-2]["data"]["error"]["message"] == "Deadline expired"


def test_quickstart_stream_and_stateless(emulator: EmulatorServer) -> None:
    real = load("docs_quickstart_stream_and_stateless")["sample"]
    ours = streamed(emulator, {"model": "gemini-3.8-flash", "input": "How does AI work?"})
    # That copy of the docs shows no status_update and an abbreviated usage; the order is the same.
    assert runs(ours, skip=frozenset({"interaction.status_update", "done"})) == runs(real["stream"])
    stateless = post(
        emulator, {"model": "gemini-3.8-flash", "input": "2 dogs: how many paws?", "store": False}
    )
    body = stateless.json()
    assert body["id"].startswith("v2_")  # store=false ids, as recorded
    recorded = dict(real["stateless_store_false_response"])
    assert set(recorded.pop("usage")) <= set(body.pop("usage"))  # the example abbreviates usage
    # ...and leaves out the timestamps and tier that every other recording shows.
    # The example shows the answer step alone; ours thinks first (a thought step), as default models do.
    recorded["steps"] = body["steps"] = [s for s in body["steps"] if s["type"] == "model_output"]
    assert_same_keys(body, recorded, "stateless", {"created", "updated", "service_tier"})
    assert_same_keys(body["steps"], real["stateless_store_false_response"]["steps"], "stateless.steps")


def test_deep_research_stream(emulator: EmulatorServer) -> None:
    recording = load("docs_stream_deep_research_agent")
    real = recording["sample"]
    request = dict(recording["request"], input="Research quantum computing [emulator: duration=0.4]")
    ours = streamed(emulator, request)
    # The docs elide further thought steps ("... (additional thought steps) ...") and the report's end.
    thought = [("step.start", "thought"), ("step.delta", "thought_summary"), ("step.stop",)]
    compact = [sig for sig in runs(ours) if sig != ("step.delta", "text_annotation_delta")]
    while compact[2:5] == thought and compact[5:8] == thought:
        del compact[5:8]
    assert compact == runs(real)
    mine = by_signature(ours)
    for sig, data in by_signature(real).items():
        if sig[0] == "interaction.completed":  # agents report more usage than the docs copy shows
            assert set(data["interaction"]) == set(mine[sig]["interaction"]), sig
            assert set(data["interaction"]["usage"]) <= set(mine[sig]["interaction"]["usage"])
        elif sig != ("done",):
            assert_same_keys(mine[sig], data, "/".join(sig))
    report = "".join(
        e["data"]["delta"].get("text", "") for e in ours if signature(e) == ("step.delta", "text")
    )
    assert re.search(r"\[cite: \d+(, \d+)*\]", report) and "**Sources:**" in report


def test_google_search_plus_function_call(emulator: EmulatorServer) -> None:
    recording = load("docs_stream_google_search_plus_function_call")
    real = recording["sample"]
    ours = streamed(emulator, recording["request"])
    assert runs(ours) == runs(real)
    assert_events_alike(ours, real)
    start = by_signature(ours)[("step.start", "google_search_call")]["step"]
    assert start["signature"] == "" and set(start) == {"id", "signature", "type"}
    assert ours[-2]["data"]["interaction"]["status"] == "requires_action"


def test_single_event_examples(emulator: EmulatorServer) -> None:
    real = load("docs_stream_event_examples_function_and_deltas")["sample"]
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
        "location": {"type": "string"}}}}  # fmt: skip
    calls = streamed(emulator, {"model": MODEL, "input": "Weather in San Francisco?", "tools": [weather]})
    image = streamed(emulator, {"model": "gemini-3-pro-image-preview", "input": "A red fox"})
    mine = by_signature(calls) | by_signature(image)
    for event in real:
        sig = signature(event)
        if sig[0] == "interaction.completed":  # the docs' example shows a bare usage
            assert set(event["data"]["interaction"]) <= set(mine[sig]["interaction"])
            continue
        assert_same_keys(mine[sig], event["data"], "/".join(sig))


def test_sync_google_search_grounding(emulator: EmulatorServer) -> None:
    real = load("docs_sync_google_search_grounding")["sample"]["steps"]
    body = post(
        emulator,
        {
            "model": MODEL,
            "input": "Who won Euro 2024?",
            "tools": [{"type": "google_search"}],
            "generation_config": {"thinking_summaries": "auto"},
        },
    ).json()
    assert [s["type"] for s in body["steps"]] == [s["type"] for s in real]
    # The docs elide the search call's id and signature and the result's signature.
    for ours, recorded in zip(body["steps"], real, strict=True):
        assert_same_keys(ours, recorded, recorded["type"], {"id", "signature"})
    annotation = body["steps"][-1]["content"][0]["annotations"][0]
    assert_same_keys(annotation, real[-1]["content"][0]["annotations"][0], "url_citation")


def test_agent_completion_usage(emulator: EmulatorServer) -> None:
    """An agent's completion (the Vertex copy names it interaction.complete) reports usage by modality."""
    real = load("docs_vertex_agent_stream_interaction_complete")["sample"]["data"]["interaction"]
    ours = streamed(
        emulator,
        {
            "agent": "antigravity-preview-05-2026",
            "input": "Summarise the repo [emulator: duration=0.3]",
            "background": True,
            "environment": "remote",
        },
    )
    completed = ours[-2]["data"]["interaction"]
    assert set(real["usage"]) <= set(completed["usage"])
    assert "environment_id" in completed and completed["status"] == "completed"
    check_formats(completed)


def test_ids_and_statuses(emulator: EmulatorServer) -> None:
    real = load("real_ids_and_statuses_cookbook")["sample"]
    first = post(emulator, {"model": MODEL, "input": "Hello"}).json()
    second = post(emulator, {"model": MODEL, "input": "Again", "previous_interaction_id": first["id"]}).json()
    for interaction_id in (first["id"], second["id"]):
        assert len(interaction_id) == len(real["ids"][0]) and REAL_ID.fullmatch(interaction_id)
        raw = base64.urlsafe_b64decode(interaction_id[3:] + "==")
        assert raw[:2] == b"\n\x17" and raw[25:27] == b"\x12\x17"  # two length-prefixed tokens, as recorded
    # Ids of one chain share the first token (real-samples/preGA_droidnext_notebook_outputs.json).
    assert first["id"][:30] == second["id"][:30] and first["id"] != second["id"]
    managed = streamed(
        emulator, {"agent": "antigravity-preview-05-2026", "input": "Fix the bug", "background": True}
    )
    kinds = [e["data"]["step"]["type"] for e in managed if signature(e)[0] == "step.start"]
    assert set(kinds) == set(real["managed_agent_steps"])


# -- pre-GA (outputs) shape for 1.x clients -----------------------------------------------------------------


def test_pre_ga_reference_examples(emulator: EmulatorServer) -> None:
    real = load("preGA_api_reference_examples")["sample"]
    simple = post(emulator, {"model": MODEL, "input": "Hello, how are you?"}, LEGACY_CLIENT).json()
    assert set(simple) == set(real["create_simple"]) and set(simple["usage"]) == set(
        real["create_simple"]["usage"]
    )
    text = next(o for o in simple["outputs"] if o["type"] == "text")
    assert_same_keys(text, real["create_simple"]["outputs"][0], "create_simple.outputs[text]")
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
        "location": {"type": "string"}}}}  # fmt: skip
    called = post(
        emulator, {"model": MODEL, "input": "Weather in Boston, MA?", "tools": [weather]}, LEGACY_CLIENT
    )
    body = called.json()
    assert body["status"] == "requires_action"
    call = next(o for o in body["outputs"] if o["type"] == "function_call")
    assert_same_keys(call, real["function_calling"]["outputs"][0], "function_call")
    research = post(
        emulator,
        {"agent": AGENT, "input": "Cancer research [emulator: duration=0.2]", "background": True},
        LEGACY_CLIENT,
    ).json()
    assert research["role"] == "agent" and research["status"] == "in_progress"
    got = httpx.get(
        f"{emulator.base_url}/v1beta/interactions/{simple['id']}", headers=LEGACY_CLIENT, timeout=10
    ).json()
    assert set(real["get"]) <= set(got) and got["outputs"]
    # The recorded stream carries no thought block: asked without thinking, ours has none either.
    story = {"model": MODEL, "input": "Tell me a story", "generation_config": {"thinking_level": "minimal"}}
    ours = streamed(emulator, story, LEGACY_CLIENT)
    recorded = [
        {"event": e["event_type"], "data": e} for e in real["sse_events"][:-1]
    ]  # the last is an error
    assert runs(ours, skip=frozenset({"done"})) == runs(recorded)
    assert_events_alike(ours, recorded)


def test_pre_ga_deep_research_poll(emulator: EmulatorServer) -> None:
    real = load("preGA_deep_research_get_in_progress_and_completed")["sample"]
    started = post(
        emulator,
        {"agent": AGENT, "input": "SU(3) [emulator: duration=0.3]", "background": True},
        LEGACY_CLIENT,
    ).json()
    assert set(started) == set(real["in_progress"]) and started["status"] == "in_progress"
    check_formats(started)


@pytest.mark.parametrize("thinking", ["minimal", "high"])
def test_pre_ga_function_result_turn(emulator: EmulatorServer, thinking: str) -> None:
    real = load("preGA_function_result_turn_completed")["sample"]
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
        "location": {"type": "string"}}}}  # fmt: skip
    asked = post(
        emulator, {"model": MODEL, "input": "Weather in Paris?", "tools": [weather]}, LEGACY_CLIENT
    ).json()
    call = next(o for o in asked["outputs"] if o["type"] == "function_call")
    answered = post(
        emulator,
        {
            "model": MODEL,
            "previous_interaction_id": asked["id"],
            "tools": [weather],
            "generation_config": {"thinking_level": thinking},
            "input": [
                {
                    "type": "function_result",
                    "call_id": call["id"],
                    "name": "get_weather",
                    "result": "14°C, rain",
                }
            ],
        },
        LEGACY_CLIENT,
    ).json()
    assert set(answered) == set(real) and answered["role"] == "model"
    assert set(answered["usage"]) == set(real["usage"])
    kinds = [o["type"] for o in answered["outputs"]]
    assert kinds == (["text"] if thinking == "minimal" else ["thought", "text"])
