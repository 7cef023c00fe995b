"""Client-executed tools and generation controls through the real google-genai SDK: Computer Use,
``tool_choice``/``allowed_tools``, ``seed``/``temperature``/``top_p``, ``stop_sequences`` and
``max_output_tokens`` (status ``incomplete``), streamed and not. Helpers: ``tests/grounding_testing.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from emulator_testing import sdk_client
from google.genai import interactions as gi
from grounding_testing import MODEL, QUIET, TIME, WEATHER, answer, cited, sdk_stream, steps, streamed_text

from gemini_magics.emulator import EmulatorServer


@pytest.fixture(scope="module")
def sdk(emulator: EmulatorServer) -> Any:
    """One real SDK client for the module, without retries so that any failure shows."""
    return sdk_client(emulator.base_url)


# -- Computer Use ---------------------------------------------------------------------------------------


def test_computer_use_drives_a_browser_turn_by_turn(sdk: Any) -> None:
    tools = [
        {
            "type": "computer_use",
            "environment": "browser",
            "excluded_predefined_functions": ["open_web_browser"],
        }
    ]
    previous, names = None, []
    for _ in range(4):
        if previous is None:
            turn = sdk.interactions.create(
                model=MODEL, input="Search for 'Gemini API' on Google.", tools=tools
            )
        else:
            [asked] = steps(previous, gi.FunctionCallStep)
            screenshot = {
                "type": "function_result",
                "name": asked.name,
                "call_id": asked.id,
                "result": {"url": "https://www.google.com"},
            }
            turn = sdk.interactions.create(
                model=MODEL, previous_interaction_id=previous.id, input=[screenshot], tools=tools
            )
        if turn.status == "completed":
            break
        assert turn.status == "requires_action"
        [action] = steps(turn, gi.FunctionCallStep)
        names.append((action.name, action.arguments))
        previous = turn
    assert turn.status == "completed" and answer(turn).text
    assert names == [
        ("search", {}),
        (
            "type_text_at",
            {"x": 500, "y": 390, "text": "Gemini API", "press_enter": True, "clear_before_typing": True},
        ),
    ]


def test_computer_use_navigates_to_a_url_and_honours_tool_choice(sdk: Any) -> None:
    tools = [{"type": "computer_use", "environment": "browser"}]
    first = sdk.interactions.create(
        model=MODEL, input="Open https://example.com/docs and scroll", tools=tools
    )
    assert [s.name for s in steps(first, gi.FunctionCallStep)] == ["open_web_browser"]
    allowed = {"allowed_tools": {"mode": "any", "tools": ["navigate", "scroll_document"]}}
    only = sdk.interactions.create(
        model=MODEL,
        input="Open https://example.com/docs and scroll",
        tools=tools,
        generation_config={"tool_choice": allowed},
    )
    [action] = steps(only, gi.FunctionCallStep)
    assert (action.name, action.arguments) == ("navigate", {"url": "https://example.com/docs"})
    none = sdk.interactions.create(
        model=MODEL,
        input="Open https://example.com/docs",
        tools=tools,
        generation_config={"tool_choice": "none"},
    )
    assert none.status == "completed" and not steps(none, gi.FunctionCallStep)


# -- tool_choice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "choice", "called"),
    [
        ("What's the weather in Oslo?", "auto", ["get_weather"]),
        ("What's the weather in Oslo?", "validated", ["get_weather"]),
        ("What's the weather in Oslo?", "none", []),
        ("Tell me a joke", "auto", []),
        ("Tell me a joke", "any", ["get_weather"]),
        (
            "What's the weather in Oslo?",
            {"allowed_tools": {"mode": "any", "tools": ["get_time"]}},
            ["get_time"],
        ),
        ("What's the weather in Oslo?", {"allowed_tools": {"mode": "auto", "tools": ["get_time"]}}, []),
        (
            "What's the weather and the time in Oslo?",
            {"allowed_tools": {"tools": ["get_time"]}},
            ["get_time"],
        ),
    ],
)
def test_tool_choice(sdk: Any, prompt: str, choice: Any, called: list[str]) -> None:
    config = {"tool_choice": choice, **QUIET}
    interaction = sdk.interactions.create(
        model=MODEL, input=prompt, tools=[WEATHER, TIME], generation_config=config
    )
    assert [c.name for c in steps(interaction, gi.FunctionCallStep)] == called
    assert interaction.status == ("requires_action" if called else "completed")
    _, completed = sdk_stream(sdk, input=prompt, tools=[WEATHER, TIME], generation_config=config)
    assert completed.status == interaction.status


# -- generation controls --------------------------------------------------------------------------------

PROMPT = "Explain photosynthesis"


def text_of(sdk: Any, **config: Any) -> str:
    interaction = sdk.interactions.create(model=MODEL, input=PROMPT, generation_config={**QUIET, **config})
    assert interaction.status == "completed"
    return answer(interaction).text


def test_seed_gives_the_same_answer_and_another_seed_another_wording(sdk: Any) -> None:
    canonical = text_of(sdk)
    by_seed = {seed: text_of(sdk, seed=seed) for seed in (1, 2, 3, 7)}
    assert text_of(sdk, seed=2) == by_seed[2]  # same seed, same answer
    assert len(set(by_seed.values())) == 4 and canonical not in by_seed.values()
    for text in by_seed.values():  # another wording of the same answer
        assert "*photosynthesis*" in text and "**Photosynthesis**" in text
    assert text_of(sdk, seed=0) == canonical
    assert text_of(sdk, seed=3, temperature=0) == canonical  # greedy decoding ignores the seed
    assert text_of(sdk, top_p=0.5) != canonical != text_of(sdk, temperature=1.5)
    assert text_of(sdk, top_p=0.5) == text_of(sdk, top_p=0.5)
    events, completed = sdk_stream(sdk, input=PROMPT, generation_config={**QUIET, "seed": 7})
    assert streamed_text(events) == by_seed[7] and completed.status == "completed"


def test_stop_sequences_end_the_text_before_the_first_one(sdk: Any) -> None:
    full = text_of(sdk)
    stopped = text_of(sdk, stop_sequences=["check it", "The key idea"])
    assert stopped == full[: full.index("The key idea")] and "check it" not in stopped
    assert text_of(sdk, stop_sequences=["not in the text"]) == full
    events, completed = sdk_stream(
        sdk, input=PROMPT, generation_config={**QUIET, "stop_sequences": ["The key idea"]}
    )
    assert streamed_text(events) == stopped and completed.status == "completed"


def test_max_output_tokens_cuts_the_answer_and_leaves_it_incomplete(sdk: Any) -> None:
    full = text_of(sdk)
    interaction = sdk.interactions.create(
        model=MODEL, input=PROMPT, generation_config={**QUIET, "max_output_tokens": 12}
    )
    assert interaction.status == "incomplete"
    text = answer(interaction).text
    assert full.startswith(text) and 0 < len(text) <= 48 and len(text) < len(full)
    assert interaction.usage.total_output_tokens <= 12
    events, completed = sdk_stream(sdk, input=PROMPT, generation_config={**QUIET, "max_output_tokens": 12})
    assert completed.status == "incomplete" and streamed_text(events) == text
    assert sdk.interactions.get(completed.id).status == "incomplete"
    roomy = sdk.interactions.create(
        model=MODEL, input=PROMPT, generation_config={**QUIET, "max_output_tokens": 4000}
    )
    assert roomy.status == "completed" and answer(roomy).text == full


def test_a_cut_drops_the_annotations_past_the_end(sdk: Any) -> None:
    tools = [{"type": "google_maps"}]
    config = {**QUIET, "max_output_tokens": 20}  # about 80 characters: the first place only
    interaction = sdk.interactions.create(
        model=MODEL, input="Find coffee shops near Zürich Hauptbahnhof", tools=tools, generation_config=config
    )
    assert interaction.status == "incomplete"
    citations = list(cited(answer(interaction)))
    assert len(citations) == 1 and citations[0][1] == citations[0][0].name
