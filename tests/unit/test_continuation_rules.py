"""``continuation.HopStream`` drives google-genai's own continuation rules over the fast event parser.

These tests notice when upstream changes the bargain: the names used, the body of a continuation hop,
the usage sums, and — against the emulator — that our stream and the SDK's own continued stream deliver the
same answer in the same order of events.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from emulator_testing import sdk_client

from gemini_magics.backend import Backend
from gemini_magics.continuation import connection_errors, merge_usage, next_body, rules

MODEL = "gemini-3-flash-preview"
LONG = "Give me five bullet points about tea [emulator: continuations=2]"


def test_the_sdk_still_has_the_rules_we_follow() -> None:
    module = rules()
    for name in ("start_hop", "mark_stream_opened", "observe", "end_hop"):
        assert callable(getattr(module.StreamContinuation, name, None)), name
    parameters = inspect.signature(module.StreamContinuation).parameters
    assert {"connection_error_type", "stateful"} <= set(parameters)
    assert module.MAX_STREAM_RECONNECTS_WITHOUT_PROGRESS >= 1
    # The SDK continues streamed and unary creates by default: we do what a plain SDK user gets.
    from google.genai._gaos import google_genai

    source = inspect.getsource(google_genai)
    assert "wrap_stream_continuation" in source and "continue_unary_interaction" in source


def test_a_continuation_hop_body() -> None:
    params = {"model": MODEL, "input": "hi", "stream": True}
    stored = next_body(params, "tok", "v1_owner")
    assert stored == {
        "model": MODEL,
        "stream": True,
        "continuation_token": "tok",
        "previous_interaction_id": "v1_owner",
    }
    stateless = next_body({**params, "store": False}, "tok", "v2_owner")
    assert stateless["input"] == "hi" and "previous_interaction_id" not in stateless
    assert next_body(params, None, None) == params


def test_usage_is_summed_as_the_sdk_sums_it() -> None:
    hops = [
        {
            "total_tokens": 10,
            "total_input_tokens": 4,
            "input_tokens_by_modality": [{"modality": "text", "tokens": 4}],
        },
        {
            "total_tokens": 30,
            "total_input_tokens": 9,
            "input_tokens_by_modality": [{"modality": "text", "tokens": 9}],
        },
    ]
    merged = merge_usage(hops)
    assert merged["total_tokens"] == 40 and merged["total_input_tokens"] == 13
    assert merged["input_tokens_by_modality"] == [{"modality": "text", "tokens": 13}]
    assert merged["initial_input_tokens"] == 4  # the first hop's prompt
    assert merge_usage(hops[:1]) == hops[0] and merge_usage([]) == {}


def test_dropped_connections_are_recognised() -> None:
    import httpx

    kinds = connection_errors()
    assert issubclass(httpx.ReadTimeout, kinds) and issubclass(httpx.RemoteProtocolError, kinds)
    assert not issubclass(ValueError, kinds)


def _shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What both streams must agree on: event kinds, statuses, and the text, in order."""
    out = []
    for event in events:
        kind = event.get("event_type")
        delta = event.get("delta") or {}
        status = (event.get("interaction") or {}).get("status") or event.get("status")
        out.append((kind, status, delta.get("text") if delta.get("type") == "text" else None))
    return out


@pytest.mark.parametrize("store", [True, False])
def test_our_stream_and_the_sdks_continued_stream_agree(emulator: Any, store: bool) -> None:
    extra = {} if store else {"store": False}
    client = sdk_client(emulator.base_url)  # held: a client collected mid-stream closes its connection
    theirs = [
        e.model_dump(mode="json", exclude_none=True)
        for e in client.interactions.create(model=MODEL, input=LONG, stream=True, **extra)
    ]
    backend = Backend(emulator.base_url)
    backend.retries = 0
    stream = backend.stream({"model": MODEL, "input": LONG, **extra})
    ours = list(stream)
    assert _shape(ours) == _shape(theirs)
    assert stream.hops == 3
    indexes = [e["index"] for e in ours if e.get("event_type") == "step.start"]
    assert indexes == sorted(set(indexes))  # later hops' steps get indexes of their own
