"""Answers longer than the service's per-request decode limit, through real ``%%gemini`` cells.

``[emulator: continuations=N]`` makes the emulator play one answer in N+1 hops, exactly as the service does
past its decode limit (``requires_continuation`` + ``continuation_token``, checkpoints mid-hop). Every way a
cell talks to the service must return the whole answer, shown as one answer with one footer, with usage
summed as google-genai sums it, and the chain continuing after the last hop.
"""

from __future__ import annotations

from typing import Any

import pytest
from emulator_testing import sdk_client

from gemini_magics.chain import ChainStore
from gemini_magics.continuation import merge_usage

PROMPT = "Give me five bullet points about tea"


def head(kernel: Any) -> str | None:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook).head


def whole_answer(kernel: Any) -> str:
    return kernel.cell("--no-store --no-stream", PROMPT).text


def hop_usages(base_url: str, ids: list[str]) -> list[dict[str, Any]]:
    client = sdk_client(base_url)
    return [client.interactions.get(i).usage.model_dump(exclude_none=True) for i in ids]


@pytest.mark.parametrize("flags", ["", "--no-stream"])
def test_a_three_hop_answer_is_one_answer(kernel: Any, flags: str) -> None:
    whole = whole_answer(kernel)
    result = kernel.cell(flags, f"{PROMPT} [emulator: continuations=2]")
    assert result.ok and result.text == whole
    assert sum(1 for x in result.blocks if type(x).__name__ == "TextBlock") == 1  # not three pieces
    hops = result.interaction.continuation_ids
    assert len(hops) == 3 and hops[-1] == result.id == head(kernel)
    assert any("over 3 requests" in note for note in result.notes)
    # Usage as the SDK sums it: every hop's tokens, the first hop's prompt as initial_input_tokens.
    usages = hop_usages(kernel.base_url, hops)
    assert result.usage["total_output_tokens"] == sum(u["total_output_tokens"] for u in usages)
    assert result.usage["total_tokens"] == sum(u["total_tokens"] for u in usages)
    assert result.usage == merge_usage(usages)
    markdown = result._repr_mimebundle_()[0]["text/markdown"]
    assert markdown.count(" tokens · ") == 1  # one footer
    follow = kernel.cell("", "What did I ask before?")
    assert "five bullet points about tea" in follow.text


def test_a_cut_in_the_middle_hop_is_resumed_without_repeating_text(kernel: Any) -> None:
    whole = whole_answer(kernel)
    for cut in (3, 5, 7):  # before, at and after the hop's first checkpoint
        result = kernel.cell("", f"{PROMPT} [emulator: continuations=2, hop=2, cut={cut}]")
        assert result.ok and result.text == whole, cut
        assert any("resumed" in note for note in result.notes), cut
        assert head(kernel) == result.id


def test_stateless_long_answers_resend_the_input(kernel: Any) -> None:
    whole = whole_answer(kernel)
    result = kernel.cell("--no-store", f"{PROMPT} [emulator: continuations=1]")
    assert result.ok and result.text == whole and result.id.startswith("v2_")


def test_the_tool_loop_continues_long_answers(kernel: Any) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    kernel.shell.user_ns["get_weather"] = get_weather
    plain = kernel.cell("--tool get_weather --no-store", "What is the weather in Paris?")
    for flags in ("--tool get_weather", "--tool get_weather --no-stream"):
        result = kernel.cell(flags, "What is the weather in Paris? [emulator: continuations=2]")
        assert (
            result.ok
            and result.text == plain.text
            and "sunny in Paris" in str(result.function_calls[0].result)
        )
        assert head(kernel) == result.id


def test_a_long_answer_that_is_cut_and_then_hangs_on_resume_still_ends(kernel: Any) -> None:
    whole = whole_answer(kernel)
    result = kernel.cell("", f"{PROMPT} [emulator: continuations=2, hop=2, cut=5, half_resume=1]")
    assert result.ok and result.text == whole
