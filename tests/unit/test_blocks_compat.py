"""Damaged replies (a field of the wrong kind, as the replies fuzzer sends: ``{}`` where a name belongs, a
number where a model belongs) pass through the wire adapters as data, never as a ``TypeError`` that would
lose the answer around them."""

from __future__ import annotations

import json
from types import SimpleNamespace

from gemini_magics import blocks_compat


def test_an_event_whose_type_is_not_a_name_passes_through() -> None:
    events = [
        {"event_type": "interaction.created", "interaction": {"id": "v1_a", "status": "in_progress"}},
        {"event_type": {}, "index": 0},
        {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "kept"}},
    ]
    out = list(blocks_compat.current(events))
    assert out[1] == {"event_type": {}, "index": 0}
    assert out[2]["delta"]["text"] == "kept"


def test_pre_ga_items_with_damaged_types_are_steps_of_their_own() -> None:
    steps = blocks_compat.steps_from_outputs([{"type": {}}, {"text": "hello"}, {"type": ["x"]}])
    assert steps == [
        {"type": {}},
        {"type": "model_output", "content": [{"text": "hello", "type": "text"}]},
        {"type": ["x"]},
    ]


def test_calls_and_results_with_damaged_ids_are_left_unpaired() -> None:
    steps = [
        {"type": "function_call", "id": {}, "name": "f"},
        {"type": "function_call", "name": "g"},
        {"type": "function_result", "call_id": [1, "a"]},
    ]
    assert blocks_compat.steps_of(SimpleNamespace(steps=steps)) == steps


def test_an_sdk_object_holding_a_number_where_a_model_belongs_is_still_made_plain() -> None:
    from google.genai._gaos.types.interactions import Interaction
    from google.genai._gaos.utils import serializers

    text = {"type": "model_output", "content": [{"type": "text", "text": "kept"}]}
    damaged = {"type": "google_search_result", "call_id": "c1", "result": [3.5]}  # a number, not a result
    interaction = Interaction.model_validate(
        {"id": "v1_a", "status": "completed", "steps": [text, damaged]},
        context={serializers.ALLOW_UNKNOWN_UNION_VARIANTS: True},  # as the SDK reads replies
    )
    plain = blocks_compat.plain(interaction)  # pydantic itself cannot serialise it
    json.dumps(plain)  # JSON-ready
    assert plain["id"] == "v1_a" and plain["steps"][0] == text
    assert plain["steps"][1]["call_id"] == "c1" and plain["steps"][1]["result"] == [3.5]
