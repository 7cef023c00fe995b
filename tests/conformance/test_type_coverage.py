"""Every type google-genai's interactions types declare is produced by some emulator request.

The SDK is the spec: the categories and their types are read from the installed package at run time
(``type_coverage.sdk_types``). ``CASES`` is a table of requests that together should produce all of them;
each is sent through the real SDK to one emulator over HTTP (streamed, then ``get``), and what came back is
collected by walking the parsed objects (``type_coverage.collect`` says what counts) — the table's claims
are only used to say which request should have produced a missing type. A new SDK type fails here with
"no emulator request produces …" until the emulator can produce it and the table says how.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from emulator_testing import sdk_client
from mcp_testing import McpTestServer
from type_coverage import CATEGORIES, Tap, collect, sdk_types

from gemini_magics.emulator import EmulatorServer, Settings

MODEL = "gemini-3-flash-preview"
TTS = "gemini-3.8-flash-tts"
TRANSCRIBE = "gemini-3.5-transcribe"
RESEARCH = "deep-research-pro-preview-12-2025"
MANAGED = "antigravity-preview-05-2026"
SUMMARIES = {"thinking_summaries": "auto"}

# -- the table -------------------------------------------------------------------------------------------


@dataclass
class Env:
    """What requests need that only exists at run time."""

    sdk: Any
    tap: Tap
    mcp_url: str
    mcp_token: str
    store: str


Request = dict[str, Any] | Callable[[Env], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One request (``create`` keyword arguments) and the types it is there to produce."""

    name: str
    request: Request
    claims: str  # "category: type type; category: type"
    then: Callable[[Env, Any], list[Any]] | None = None  # a follow-up on the finished interaction
    stream: bool = True

    def claimed(self, category: str) -> set[str]:
        return set(self.parsed().get(category, []))

    def parsed(self) -> dict[str, list[str]]:
        pairs = (part.split(":", 1) for part in self.claims.split(";"))
        return {category.strip(): types.split() for category, types in pairs}


def function(name: str, parameter: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {parameter: {"type": "string"}}, "required": [parameter]}
    return {"type": "function", "name": name, "description": f"{name} by {parameter}.", "parameters": schema}


WEATHER = function("get_weather", "location")


def answer_calls(env: Env, done: Any) -> list[Any]:
    """Send each function call's result back; the emulator stores the ``function_result`` steps."""
    results = [
        {"type": "function_result", "name": s.name, "call_id": s.id, "result": "sunny, 21 °C"}
        for s in done.steps
        if s.type == "function_call"
    ]
    assert results, "the model called no function"
    answered = env.sdk.interactions.create(
        model=MODEL, previous_interaction_id=done.id, input=results, tools=[WEATHER]
    )
    return [answered, env.sdk.interactions.get(answered.id)]


def cancel_run(env: Env, started: Any) -> list[Any]:
    return [env.sdk.interactions.cancel(started.id), env.sdk.interactions.get(started.id)]


def ask(prompt: Any, *tools: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A request to the default model; ``tools`` declared when given."""
    return {"model": MODEL, "input": prompt, **({"tools": list(tools)} if tools else {}), **fields}


def mcp_request(env: Env) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {env.mcp_token}"}
    server = {"type": "mcp_server", "name": "kb", "url": env.mcp_url, "headers": auth}
    return ask("Use lookup_word to define the word emulator", server)


def file_search_request(env: Env) -> dict[str, Any]:
    return ask("How do I reset the boiler?", {"type": "file_search", "file_search_store_names": [env.store]})


DIALOGUE = "Read this.\nJoe: How is it going, Jane?\nJane: Not too bad, thanks."
VOICES = [{"speaker": "Joe", "voice": "Puck"}, {"speaker": "Jane", "voice": "Zephyr"}]


def transcribe_request(env: Env) -> dict[str, Any]:
    """Speech made by a TTS model, to be transcribed with word timings."""
    spoken = env.sdk.interactions.create(model=TTS, input="The tide turns at noon")
    audio = next(b for b in spoken.steps[-1].content if b.type == "audio")
    part = {"type": "audio", "data": audio.data, "mime_type": audio.mime_type}
    if audio.sample_rate:
        part["sample_rate"] = audio.sample_rate
    config = {"transcription_config": {"timestamp_granularities": ["word"], "diarization_mode": "auto"}}
    return {"model": TRANSCRIBE, "input": [part], "generation_config": config}


CLIP = {"type": "video", "uri": "https://example.com/clip.mp4", "mime_type": "video/mp4"}
VIDEO_INPUT = [{"type": "text", "text": "What happens in this clip?"}, {**CLIP, "processing": "agentic"}]
WAV = {"type": "audio", "mime_type": "audio/wav"}
FORMATS = [{"type": "text"}, WAV, {"type": "image"}, {"type": "video"}]
RETRIEVAL = {"type": "retrieval", "vertex_ai_search_config": {"datastores": ["projects/p/dataStores/hr"]}}
DEFERRED = {**function("get_stock_price", "ticker"), "defer_loading": True}
EXPLAIN = "Explain tides"

CASES: list[Case] = [
    Case(
        "text with thought summaries",
        ask(EXPLAIN, generation_config=SUMMARIES),
        "step: user_input thought model_output; delta: thought_summary thought_signature text; "
        "content: text; status: in_progress completed; event: interaction.created interaction.status_update "
        "step.start step.delta step.stop interaction.completed",
    ),
    Case(
        "function call answered by the client",
        ask("What's the weather in Oslo?", WEATHER),
        "step: function_call function_result; delta: arguments_delta; tool: function; "
        "status: requires_action",
        then=answer_calls,
    ),
    Case(
        "google search",
        ask("Who won the 2022 World Cup?", {"type": "google_search"}),
        "step: google_search_call google_search_result; delta: google_search_call google_search_result "
        "text_annotation_delta; annotation: url_citation; tool: google_search",
    ),
    Case(
        "google maps",
        ask("Museums in Lisbon", {"type": "google_maps"}),
        "step: google_maps_call google_maps_result; delta: google_maps_call google_maps_result; "
        "annotation: place_citation; tool: google_maps",
    ),
    Case(
        "retrieval (Vertex AI Search)",
        ask("What is our vacation policy?", RETRIEVAL),
        "step: retrieval_call retrieval_result; delta: retrieval_call retrieval_result; tool: retrieval",
    ),
    Case(
        "server tool search over deferred functions",
        ask('Find the stock price of "GOOG"', {"type": "tool_search"}, DEFERRED),
        "step: tool_search_call tool_search_result; delta: tool_search_call tool_search_result; "
        "tool: tool_search",
    ),
    Case(
        "url context",
        ask("Summarise https://example.com/a", {"type": "url_context"}),
        "step: url_context_call url_context_result; delta: url_context_call url_context_result; "
        "tool: url_context",
    ),
    Case(
        "code execution",
        ask("Sum the first 10 primes", {"type": "code_execution"}),
        "step: code_execution_call code_execution_result; delta: code_execution_call code_execution_result; "
        "tool: code_execution",
    ),
    Case(
        "remote MCP server",
        mcp_request,
        "step: mcp_server_tool_call mcp_server_tool_result; "
        "delta: mcp_server_tool_call mcp_server_tool_result; tool: mcp_server",
    ),
    Case(
        "file search over an uploaded file",
        file_search_request,
        "step: file_search_call file_search_result; delta: file_search_call file_search_result; "
        "annotation: file_citation; tool: file_search",
    ),
    Case(
        "computer use",
        ask("Open https://example.com/docs", {"type": "computer_use", "environment": "browser"}),
        "tool: computer_use",
    ),
    Case(
        "agentic video processing",
        ask(VIDEO_INPUT),
        "step: processing_call processing_result; delta: processing_call processing_result",
    ),
    Case(
        "typed text, audio, image and video formats",
        ask("A lighthouse at dusk", response_format=FORMATS),
        "delta: audio image video; content: audio image video",
    ),
    Case(
        "document modality",
        ask("A one-page memo on tides", response_modalities=["document"]),
        "delta: document; content: document",
    ),
    Case(
        "multi-speaker TTS",
        {"model": TTS, "input": DIALOGUE, "generation_config": {"speech_config": {"speakers": VOICES}}},
        "annotation: speech_metadata",
    ),
    Case("transcription with word timings", transcribe_request, "annotation: word_info"),
    Case(
        "output token limit", ask(EXPLAIN, generation_config={"max_output_tokens": 8}), "status: incomplete"
    ),
    Case(
        "decode limit without automatic continuation",
        ask(f"{EXPLAIN} [emulator: continuations=1]", automatic_continuation=False),
        "status: requires_continuation",
    ),
    Case("budget exceeded", ask(f"{EXPLAIN} [emulator: status=budget_exceeded]"), "status: budget_exceeded"),
    Case("idle", ask(f"{EXPLAIN} [emulator: status=idle]"), "status: idle"),
    Case("queued", ask(f"{EXPLAIN} [emulator: queue=0.2]"), "status: queued"),
    Case("failure", ask(f"{EXPLAIN} [emulator: fail=the model broke]"), "status: failed; event: error"),
    Case(
        "cancelled agent",
        {"agent": RESEARCH, "input": "History of tides [emulator: duration=5]", "background": True},
        "status: cancelled",
        then=cancel_run,
        stream=False,
    ),
    Case(
        "managed agent (its own tools run server-side)",
        {"agent": MANAGED, "input": "Print 6*7 [emulator: duration=0.3]", "background": True},
        "step: function_result; delta: function_result",
    ),
]


# -- running and collecting ------------------------------------------------------------------------------


@dataclass
class Produced:
    """What one request produced, per category; ``error`` when it was refused or raised."""

    types: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CATEGORIES})
    error: str | None = None


def run(env: Env, case: Case) -> Produced:
    """Send ``case`` (streamed, then ``get``; or created, then its follow-up) and collect what came back."""
    produced, request, wire = Produced(), {}, []
    try:
        request = case.request(env) if callable(case.request) else dict(case.request)
        with warnings.catch_warnings():  # the SDK warns about requires_continuation without auto-continue
            warnings.simplefilter("ignore")
            if case.stream:
                env.tap.chunks.clear()
                events = list(env.sdk.interactions.create(stream=True, **request))
                wire = env.tap.events()
                assert len(wire) == len(events), f"{len(wire)} events sent, {len(events)} parsed"
                [created] = [e for e in events if e.event_type == "interaction.created"]
                objects = [*events, env.sdk.interactions.get(created.interaction.id)]
            else:
                objects = [env.sdk.interactions.create(**request)]
            if case.then is not None:
                objects += case.then(env, objects[-1])
    except Exception as exc:  # refused or broken: the case produced nothing it claims; the message says why
        produced.error = f"{type(exc).__name__}: {exc}"
        return produced
    collect(objects, wire, request, produced.types)
    return produced


# -- fixtures --------------------------------------------------------------------------------------------

BOILER = (
    "Boiler manual\n\nThe boiler pressure should stay between 1.2 and 1.8 bar.\n\n"
    "To reset the boiler, hold the red reset button for ten seconds until the display flashes."
)


def store_with_manual(sdk: Any) -> str:
    """A file search store holding one uploaded text file, indexed."""
    store = sdk.file_search_stores.create(config={"display_name": "coverage"})
    operation = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store.name,
        file=io.BytesIO(BOILER.encode()),
        config={"mime_type": "text/plain", "display_name": "boiler.txt"},
    )
    for _ in range(100):
        if operation.done:
            return str(store.name)
        time.sleep(0.05)
        operation = sdk.operations.get(operation)
    raise AssertionError("the store never finished indexing")


@pytest.fixture(scope="module")
def produced() -> Iterator[dict[str, Produced]]:
    """Every case of the table, run once against one emulator."""
    with EmulatorServer(Settings(agent_seconds=0.3)) as server, McpTestServer() as mcp:
        tap = Tap()
        sdk = sdk_client(server.base_url, httpx_client=httpx.Client(transport=tap, timeout=60))
        env = Env(sdk, tap, mcp.url, mcp.token, store_with_manual(sdk))
        yield {case.name: run(env, case) for case in CASES}


# -- tests -----------------------------------------------------------------------------------------------


def test_the_table_names_a_request_for_every_sdk_type() -> None:
    """A type a newer SDK adds fails here until a request of the table is there to produce it."""
    claimed = {c: {t for case in CASES for t in case.claimed(c)} for c in CATEGORIES}
    unknown = {c for case in CASES for c in case.parsed()} - set(CATEGORIES)
    assert not unknown, f"claims of unknown categories: {unknown}"
    missing = [
        f"no emulator request produces {c} type {t!r}"
        for c, ts in sdk_types().items()
        for t in ts - claimed[c]
    ]
    stale = [f"the SDK has no {c} type {t!r}" for c in CATEGORIES for t in claimed[c] - sdk_types()[c]]
    assert not missing + stale, "\n".join(missing + stale)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_sdk_type_is_produced(produced: dict[str, Produced], category: str) -> None:
    seen = set().union(*(p.types[category] for p in produced.values()))
    missing = sorted(sdk_types()[category] - seen)
    lines = []
    for kind in missing:
        claimants = [case.name for case in CASES if kind in case.claimed(category)]
        why = [f"{n!r} ({produced[n].error})" if produced[n].error else repr(n) for n in claimants]
        lines.append(f"{category} {kind!r}: not produced by " + (", ".join(why) or "any request"))
    assert not missing, "\n".join(lines)


def test_the_requests_are_all_accepted(produced: dict[str, Produced]) -> None:
    failed = {name: p.error for name, p in produced.items() if p.error}
    assert not failed, failed
