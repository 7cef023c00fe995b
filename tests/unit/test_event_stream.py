"""The fast stream reader (``backend.EventStream``) against the SDK's own parser, on the same bytes.

``EventStream`` reads the SDK stream's HTTP response lines itself because google-genai decodes every event
through ``serializers.unmarshal``, which builds a pydantic model class per call. These tests check that
it yields exactly what the SDK yields, that it is much faster, and they fail loudly when upstream changes
either side of that bargain.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gemini_magics.backend import Backend, EventStream, sse_events, typed

FLASH = "gemini-3-flash-preview"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
}
REQUESTS = {
    "text and thoughts": {"input": "Explain entropy in three bullet points"},
    "code execution": {
        "input": "What is the sum of the first 10 primes?",
        "tools": [{"type": "code_execution"}],
    },
    "google search": {"input": "History of the printing press", "tools": [{"type": "google_search"}]},
    "url context": {
        "input": "Read https://example.com/a and https://example.com/404",
        "tools": [{"type": "url_context"}],
    },
    "function call": {"input": "What's the weather in Boston?", "tools": [WEATHER]},
    "image": {"input": "A lighthouse at dusk", "model": "gemini-3-pro-image-preview"},
    "failed": {"input": "Hi [emulator: fail=it broke]"},
    "unsafe html": {"input": "Show me [emulator: unsafe_html]"},
}


@pytest.fixture(scope="module")
def backend(emulator: Any) -> Iterator[Backend]:
    be = Backend(emulator.base_url, retries=0)
    yield be
    be.close()


def streamed(backend: Backend, **request: Any) -> str:
    """Stream one interaction to its end through the magics' reader; its id."""
    params = {"model": FLASH, "generation_config": {"thinking_summaries": "auto"}, **request}
    if params["model"] != FLASH:
        params.pop("generation_config")
    events = list(backend.stream(params))
    assert events[0]["event_type"] == "interaction.created"
    assert events[-1]["event_type"] in ("interaction.completed", "error")
    return events[0]["interaction"]["id"]


def replay(backend: Backend, interaction_id: str) -> Any:
    """The SDK's stream of a stored interaction's event log."""
    return backend.client.interactions.get(interaction_id, stream=True)


@pytest.mark.parametrize("name", list(REQUESTS))
def test_same_events_as_the_sdk(backend: Backend, name: str) -> None:
    interaction_id = streamed(backend, **REQUESTS[name])
    theirs = list(replay(backend, interaction_id))
    ours = list(EventStream(replay(backend, interaction_id), backend))
    assert len(ours) == len(theirs) > 2
    for number, (event, sdk_event) in enumerate(zip(ours, theirs, strict=True)):
        assert isinstance(event, dict)
        model = typed(event)
        assert type(model) is type(sdk_event), number
        assert model.model_dump() == sdk_event.model_dump(), f"event {number} differs"
        # The plain dict is the JSON the SDK's model holds; the SDK adds only empty defaults for fields
        # the service leaves out (a search call's step.start has no arguments, as recorded).
        dumped = sdk_event.model_dump(mode="json", exclude_none=True, by_alias=True)
        assert _without_empty_defaults(dumped, event) == event, number


def _without_empty_defaults(dumped: Any, raw: Any) -> Any:
    """``dumped`` less the keys ``raw`` lacks whose value is empty ({}, [] or None)."""
    if isinstance(dumped, dict) and isinstance(raw, dict):
        return {
            k: _without_empty_defaults(v, raw.get(k))
            for k, v in dumped.items()
            if k in raw or v not in ({}, [], None)
        }
    if isinstance(dumped, list) and isinstance(raw, list):
        return [_without_empty_defaults(d, r) for d, r in zip(dumped, raw, strict=False)] + dumped[len(raw) :]
    return dumped


def sdk_parse(payload: bytes) -> list[Any]:
    """The SDK's own SSE parser on ``payload``, decoding each event's data as plain JSON."""
    from google.genai._gaos.utils import eventstreaming

    response = eventstreaming.httpx.Response(200, content=payload)
    return [e["data"] for e in eventstreaming.stream_events(response, json.loads, sentinel="[DONE]")]


@pytest.mark.parametrize(
    "payload",
    [
        b'data: {"a": 1}\n\ndata: {"b": 2}\n\n',
        b'data: {"a": 1}\r\n\r\ndata:{"b": 2}\r\n\r\n',
        b'event: step.delta\nid: 7\ndata: {"a":\ndata: 1}\n\n: keep-alive\n\ndata: {"c": 3}\n\n',
        b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"after": "done"}\n\n',
        b'data: {"a": "\xc3\xa9\xe2\x82\xac"}\n\ndata: {"last": true}',
        b'retry: 100\n\nid: 3\n\ndata: {"x": [1, 2]}\n\n\n\n',
    ],
    ids=["lf", "crlf-no-space", "multiline-comments", "done", "utf8-unterminated", "dataless"],
)
def test_sse_framing_matches_the_sdk(payload: bytes) -> None:
    from google.genai._gaos.utils import eventstreaming

    response = eventstreaming.httpx.Response(200, content=payload)
    assert list(sse_events(response.iter_lines())) == sdk_parse(payload)


# -- noticing upstream changes --------------------------------------------------------------------------


def test_sdk_stream_still_exposes_its_response(backend: Backend) -> None:
    stream = replay(backend, streamed(backend, input="Hello"))
    try:
        response = getattr(stream, "response", None)
        assert response is not None and callable(getattr(response, "iter_lines", None)), (
            f"google-genai's stream object ({type(stream).__module__}.{type(stream).__qualname__}) no longer "
            "exposes .response with iter_lines(): backend.EventStream now silently falls back to the SDK's "
            "slow typed events. Adapt EventStream to the new stream class (or drop it if the SDK got fast)."
        )
        assert callable(getattr(stream, "close", None)), (
            "the SDK stream lost close(): EventStream.close relies on it"
        )
    finally:
        stream.close()


def test_sdk_unmarshal_still_builds_a_model_per_call() -> None:
    from google.genai._gaos.utils import serializers

    source = inspect.getsource(serializers.unmarshal)
    assert "create_model(" in source, (
        "google-genai's serializers.unmarshal no longer builds a pydantic model class per call: upstream "
        "may have fixed the slow stream decoding. Re-measure (this file's speed test) — the fast path "
        "backend.EventStream may be removable."
    )
    # And the SDK's stream still decodes through it (unmarshal_json_response → unmarshal_json → unmarshal).
    from google.genai._gaos import interactions

    assert "unmarshal_json_response" in inspect.getsource(interactions), (
        "google-genai's interactions module no longer decodes stream events with unmarshal_json_response: "
        "re-measure the SDK's typed stream; backend.EventStream may be removable."
    )


def test_reader_is_much_faster_than_typed_iteration(backend: Backend) -> None:
    """A 2,000-delta stream, replayed side by side: the reader costs a fraction of the SDK's typed events."""
    interaction_id = streamed(backend, input="Tell me a long story [emulator: deltas=2000]")
    # Warm both paths (connection, imports, adapters), then time each replay of the same event log.
    list(EventStream(replay(backend, interaction_id), backend))
    started = time.perf_counter()
    theirs = sum(1 for _ in replay(backend, interaction_id))
    sdk_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = sum(1 for _ in EventStream(replay(backend, interaction_id), backend))
    our_seconds = time.perf_counter() - started
    assert ours == theirs >= 2000
    ratio = (sdk_seconds / theirs) / (our_seconds / ours)
    print(
        f"per event: SDK {sdk_seconds / theirs * 1e6:.0f} µs, EventStream {our_seconds / ours * 1e6:.0f} µs"
    )
    assert ratio >= 5, f"EventStream is only {ratio:.1f}× faster per event than the SDK's typed iteration"
