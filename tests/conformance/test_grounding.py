"""Server-side grounding tools through the real google-genai SDK: Google Search, Google Maps, retrieval,
tool search and media processing, streamed and not.

Each server tool streams as the service streams Google Search
(real-samples/docs_stream_google_search_plus_function_call.json): ``step.start`` carries only
``{id|call_id, signature: "", type}``, one delta of the step's type brings its fields. Helpers:
``tests/grounding_testing.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from emulator_testing import sdk_client
from google.genai import interactions as gi
from grounding_testing import (
    MODEL,
    QUIET,
    WEATHER,
    answer,
    cited,
    function,
    raw_stream,
    sdk_stream,
    server_tool_shape,
    step_events,
    steps,
    streamed_text,
)

from gemini_magics.emulator import EmulatorServer


@pytest.fixture(scope="module")
def sdk(emulator: EmulatorServer) -> Any:
    """One real SDK client for the module, without retries so that any failure shows."""
    return sdk_client(emulator.base_url)


# From docs_stream_google_search_plus_function_call.json: the keys of each event of the search steps.
SERVICE_SEARCH_EVENTS = [
    ("step.start", {"id", "signature", "type"}),
    ("step.delta", {"signature", "type", "arguments"}),
    ("step.stop", None),
    ("step.start", {"call_id", "signature", "type"}),
    ("step.delta", {"signature", "type", "is_error"}),
    ("step.stop", None),
]


# -- Google Search --------------------------------------------------------------------------------------


def test_search_streams_queries_in_a_delta_and_links_only_in_annotations(
    emulator: EmulatorServer, sdk: Any
) -> None:
    request = {
        "input": "Wer hat Lisp entworfen? Grüße",
        "tools": [{"type": "google_search"}],
        "generation_config": QUIET,
    }
    events = raw_stream(emulator, **request)
    search = step_events(events, ("google_search_call", "google_search_result"))
    assert [
        (name, set(data) if name != "step.stop" else None) for name, data in search
    ] == SERVICE_SEARCH_EVENTS
    call_delta, result_delta = server_tool_shape(search, "google_search_call", "google_search_result")
    assert call_delta["arguments"] == {"queries": ["Wer hat Lisp entworfen Grüße"]}
    assert result_delta["is_error"] is False  # and no result: the links are not in the stream's tool steps
    assert "search_suggestions" not in json.dumps([d for _, d in search])

    # The links reach the client through the answer's url_citation annotations (UTF-8 byte offsets)...
    events_sdk, completed = sdk_stream(sdk, **request)
    [annotations] = [
        e.delta.annotations
        for e in events_sdk
        if isinstance(e.delta if isinstance(e, gi.StepDelta) else None, gi.TextAnnotationDelta)
    ]
    text = streamed_text(events_sdk)
    assert "ü" in text  # the query is in the text: characters and bytes differ
    data = text.encode("utf-8")
    for number, annotation in enumerate(annotations, 1):
        assert isinstance(annotation, gi.URLCitation) and annotation.url.startswith("https://")
        assert data[annotation.start_index : annotation.end_index] == f"[{number}]".encode()
    # ...and through get: the stored result step keeps its result, whose suggestions link the same pages.
    stored = sdk.interactions.get(completed.id)
    [result] = steps(stored, gi.GoogleSearchResultStep)
    [call] = steps(stored, gi.GoogleSearchCallStep)
    assert result.call_id == call.id and call.signature and result.signature
    suggestions = result.result[0].search_suggestions
    assert all(f'href="{a.url}"' in suggestions for a in annotations)
    assert answer(stored).annotations == annotations


def test_search_then_function_call_as_in_the_sample(emulator: EmulatorServer) -> None:
    """The recorded request: search, then a thought, then a function call, ``requires_action``."""
    events = raw_stream(
        emulator,
        input="Search what the largest mountain in Europe is and what the weather is there right now?",
        tools=[{"type": "google_search"}, {"type": "function", "name": "get_weather"}],
    )
    kinds = [data["step"]["type"] for name, data in events if name == "step.start"]
    assert kinds == ["google_search_call", "google_search_result", "thought", "function_call"]
    assert events[-1][1]["interaction"]["status"] == "requires_action"


# -- Google Maps ----------------------------------------------------------------------------------------


def test_maps_places_and_place_citations(emulator: EmulatorServer, sdk: Any) -> None:
    tools = [{"type": "google_maps", "enable_widget": True}]
    interaction = sdk.interactions.create(
        model=MODEL, input="Find coffee shops near Zürich Hauptbahnhof", tools=tools
    )
    assert interaction.status == "completed"
    [call] = steps(interaction, gi.GoogleMapsCallStep)
    [result] = steps(interaction, gi.GoogleMapsResultStep)
    assert result.call_id == call.id and call.arguments.queries == ["coffee shop near Zürich Hauptbahnhof"]
    [found] = result.result
    assert found.widget_context_token
    places = found.places
    assert len(places) == 3 and len({p.place_id for p in places}) == 3
    for place in places:
        assert place.place_id.startswith("places/") and place.url.startswith("https://maps.google.com/?cid=")
        assert place.name and place.review_snippets[0].title and place.review_snippets[0].review_id
    assert any("Zürich" in p.name for p in places)
    block = answer(interaction)
    citations = list(cited(block))
    assert [a.type for a, _ in citations] == ["place_citation"] * 3
    for (annotation, span), place in zip(citations, places, strict=True):
        assert span == place.name == annotation.name and annotation.place_id == place.place_id
        assert annotation.url == place.url and annotation.review_snippets == place.review_snippets

    other = sdk.interactions.create(model=MODEL, input="Museums in Lisbon", tools=[{"type": "google_maps"}])
    [other_result] = steps(other, gi.GoogleMapsResultStep)
    assert other_result.result[0].widget_context_token is None
    names = [p.name for p in other_result.result[0].places]
    assert all("Lisbon" in n or "Museum" in n for n in names) and not set(names) & {p.name for p in places}

    events = raw_stream(
        emulator, input="Find coffee shops near Zürich Hauptbahnhof", tools=tools, generation_config=QUIET
    )
    _, result_delta = server_tool_shape(
        step_events(events, ("google_maps_call", "google_maps_result")),
        "google_maps_call",
        "google_maps_result",
    )
    assert result_delta["result"] == [found.model_dump(mode="json", exclude_none=True)]


def test_maps_uses_the_tool_location_when_the_prompt_has_none(sdk: Any) -> None:
    tools = [{"type": "google_maps", "latitude": 48.8584, "longitude": 2.2945}]
    interaction = sdk.interactions.create(model=MODEL, input="good bakeries", tools=tools)
    [call] = steps(interaction, gi.GoogleMapsCallStep)
    assert call.arguments.queries == ["bakery near 48.8584,2.2945"]


# -- retrieval ------------------------------------------------------------------------------------------

DATASTORE = "projects/p/locations/global/collections/default_collection/dataStores/hr"
CORPUS = "projects/p/locations/us-central1/ragCorpora/42"
RETRIEVALS = {
    "vertex_ai_search": ({"vertex_ai_search_config": {"datastores": [DATASTORE]}}, DATASTORE),
    "rag_store": (
        {
            "rag_store_config": {
                "rag_resources": [{"rag_corpus": CORPUS, "rag_file_ids": ["a", "b", "c"]}],
                "similarity_top_k": 2,
            }
        },
        CORPUS,
    ),
    "exa_ai_search": ({"exa_ai_search_config": {"api_key": "exa-key"}}, "https://"),
    "parallel_ai_search": ({"parallel_ai_search_config": {}}, "https://"),
}


@pytest.mark.parametrize("kind", list(RETRIEVALS))
def test_retrieval_steps_and_citations(emulator: EmulatorServer, sdk: Any, kind: str) -> None:
    config, where = RETRIEVALS[kind]
    tools = [{"type": "retrieval", **config}]
    prompt = "What is our vacation policy for contractors?"
    interaction = sdk.interactions.create(model=MODEL, input=prompt, tools=tools)
    [call] = steps(interaction, gi.RetrievalCallStep)
    [result] = steps(interaction, gi.RetrievalResultStep)
    assert call.retrieval_type == kind and result.call_id == call.id and result.is_error is False
    assert call.arguments.queries == ["What is our vacation policy for contractors"]
    citations = list(cited(answer(interaction)))
    assert citations and all(
        a.type == "url_citation" and where in a.url and span == a.title for a, span in citations
    )
    assert all("Vacation policy contractors" in a.title for a, _ in citations)
    if kind == "rag_store":
        assert [a.url for a, _ in citations] == [f"{CORPUS}/ragFiles/a", f"{CORPUS}/ragFiles/b"]  # top 2

    events = raw_stream(emulator, input=prompt, tools=tools, generation_config=QUIET)
    call_delta, result_delta = server_tool_shape(
        step_events(events, ("retrieval_call", "retrieval_result")), "retrieval_call", "retrieval_result"
    )
    assert call_delta["retrieval_type"] == kind and call_delta["arguments"] == call.arguments.model_dump()
    assert set(result_delta) == {"signature", "type", "is_error"}


def test_retrieval_types_pick_the_backends(sdk: Any) -> None:
    tools = [
        {
            "type": "retrieval",
            "retrieval_types": ["parallel_ai_search", "exa_ai_search"],
            "exa_ai_search_config": {"api_key": ""},
        }
    ]
    interaction = sdk.interactions.create(model=MODEL, input="latest rust release notes", tools=tools)
    calls = steps(interaction, gi.RetrievalCallStep)
    results = steps(interaction, gi.RetrievalResultStep)
    assert [c.retrieval_type for c in calls] == ["parallel_ai_search", "exa_ai_search"]
    assert [r.is_error for r in results] == [False, True]  # Exa without an API key fails
    assert "Exa search could not be searched" in answer(interaction).text


# -- tool search ----------------------------------------------------------------------------------------

STOCKS = function("get_stock_price", "ticker", defer_loading=True)
BILLING = function("get_billing_history", "user_id", "integer", defer_loading=True)


def test_server_tool_search_loads_deferred_functions(emulator: EmulatorServer, sdk: Any) -> None:
    tools = [{"type": "tool_search"}, STOCKS, BILLING, WEATHER]
    interaction = sdk.interactions.create(model=MODEL, input='Find the stock price of "GOOG"', tools=tools)
    assert interaction.status == "requires_action"
    [search] = steps(interaction, gi.ToolSearchCallStep)
    [found] = steps(interaction, gi.ToolSearchResultStep)
    assert search.arguments.function_names == ["get_stock_price"] and found.call_id == search.id
    assert [f.name for f in found.result] == ["get_stock_price"] and found.result[0].type == "function"
    assert not found.result[0].defer_loading and found.result[0].parameters == STOCKS["parameters"]
    [call] = steps(interaction, gi.FunctionCallStep)
    assert call.name == "get_stock_price" and call.arguments == {"ticker": "GOOG"}

    events, _ = sdk_stream(sdk, input='Find the stock price of "GOOG"', tools=tools)
    deltas = [e.delta for e in events if isinstance(e, gi.StepDelta)]
    assert any(
        isinstance(d, gi.ToolSearchCallDelta) and d.arguments.function_names == ["get_stock_price"]
        for d in deltas
    )
    assert any(
        isinstance(d, gi.ToolSearchResultDelta) and d.result[0].name == "get_stock_price" for d in deltas
    )

    # A prompt that needs no deferred function searches nothing; a directly declared one is called as usual.
    plain = sdk.interactions.create(model=MODEL, input="What's the weather in Oslo?", tools=tools)
    assert not steps(plain, gi.ToolSearchCallStep)
    assert [c.name for c in steps(plain, gi.FunctionCallStep)] == ["get_weather"]


def test_client_tool_search_round_trip(sdk: Any) -> None:
    search_tool = {
        "type": "tool_search",
        "execution": "client",
        "name": "custom_tool_search",
        "description": "Client-side tool search implementation",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
    first = sdk.interactions.create(
        model=MODEL, input="Show the billing history of user 7", tools=[search_tool]
    )
    assert first.status == "requires_action"
    [call] = steps(first, gi.FunctionCallStep)
    assert call.name == "custom_tool_search" and call.arguments == {
        "query": "Show the billing history of user 7"
    }
    definition = {k: v for k, v in BILLING.items() if k != "defer_loading"}
    second = sdk.interactions.create(
        model=MODEL,
        previous_interaction_id=first.id,
        input=[
            {
                "type": "function_result",
                "name": "custom_tool_search",
                "call_id": call.id,
                "result": [definition],
            }
        ],
        tools=[search_tool],
    )
    assert second.status == "requires_action"
    [billing] = steps(second, gi.FunctionCallStep)
    assert billing.name == "get_billing_history" and billing.arguments == {"user_id": 7}


# -- media processing -----------------------------------------------------------------------------------

VIDEO = "https://example.com/clip.mp4"


@pytest.mark.parametrize("processing", ["agentic", "static"])
def test_agentic_video_processing_steps(emulator: EmulatorServer, sdk: Any, processing: str) -> None:
    content = [
        {"type": "text", "text": "What happens in this clip?"},
        {"type": "video", "uri": VIDEO, "mime_type": "video/mp4", "processing": processing},
    ]
    interaction = sdk.interactions.create(model=MODEL, input=content, generation_config=QUIET)
    assert interaction.status == "completed"
    calls, results = steps(interaction, gi.ProcessingCallStep), steps(interaction, gi.ProcessingResultStep)
    if processing == "static":
        assert not calls and not results
        return
    [call], [result] = calls, results
    assert result.call_id == call.id and interaction.steps[:2] == [call, result]
    events = raw_stream(emulator, input=content, generation_config=QUIET)
    _, result_delta = server_tool_shape(
        step_events(events, ("processing_call", "processing_result")), "processing_call", "processing_result"
    )
    assert set(result_delta) == {"signature", "type"}
