"""The recorded real exchanges (tests/real_samples/) played to the magics: real ``%%gemini`` cells against
a tiny HTTP server that repeats what the service said (``GeminiMagics.backend`` = its URL), through the
real SDK. What the user reads is checked: the answer's text, thought summaries, search queries and their
sources, function calls with their arguments, a research report, and errors as one line.

The cell body names the recording (``sample:NAME#part``, see tests/sample_server.py). Background runs
are followed as always: the create answers with a recorded ``in_progress`` interaction, and the
server's ``get`` of that id plays the recorded stream (``by_id["ID#stream"]``) or the recorded result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sample_server import SampleServer, part, sample_names
from shell_checks import failed, ok

from gemini_magics.chain import ChainStore

AGENT = "deep-research-pro-preview-12-2025"
RUNNING = "preGA_deep_research_get_in_progress_and_completed#in_progress"  # a created background run
COVERED: set[str] = set()  # recordings these tests replay (test_every_recording_is_replayed checks)


@pytest.fixture(scope="module")
def server() -> Iterator[SampleServer]:
    with SampleServer() as running:
        yield running


@pytest.fixture
def replay(kernel: Any, server: SampleServer) -> Any:
    for line in (
        f"GeminiMagics.backend = {server.base_url!r}",
        "GeminiMagics.research_stall = 1",
        "GeminiMagics.research_poll_max = 0.2",
    ):
        kernel.run(f"%config {line}")
    server.by_id.clear()
    return kernel


def cell(flags: str, recording: str) -> str:
    COVERED.add(recording.partition("#")[0])
    return f"%%gemini r {flags}\nsample:{recording}"


def markdown(result: Any) -> str:
    return result._repr_mimebundle_()[0]["text/markdown"]


def head(kernel: Any) -> str | None:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook).head


# -- answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recording", ["docs_stream_text", "docs_stream_text#raw"])
def test_streamed_text(replay: Any, recording: str) -> None:
    result = ok(replay.run(cell("--stream", recording)))
    assert result.text == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,"
    assert result.status == "completed" and result.id == "v1_..."
    assert result.thoughts == []  # a signed thought without a summary shows nothing
    shown = markdown(result)
    assert shown.startswith("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,")
    assert "346 tokens" in shown and "gemini-3-flash-preview" in shown
    assert head(replay) == "v1_..."  # a completed interaction advanced the chain


def test_quickstart_stream_and_stateless(replay: Any) -> None:
    streamed = ok(replay.run(cell("--stream", "docs_quickstart_stream_and_stateless#stream")))
    assert streamed.text == "AI works " and "197 tokens" in markdown(streamed)
    stateless = ok(
        replay.run(
            cell(
                "--no-stream --no-store",
                "docs_quickstart_stream_and_stateless#stateless_store_false_response",
            )
        )
    )
    assert stateless.text == "There are 8 paws in your house. 2 dogs × 4 paws = 8 paws."
    assert stateless.id == "v2_Chd..." and "240 tokens" in markdown(stateless)
    assert head(replay) == "v1_Chd..."  # the stateless turn is not part of the chain


def test_thought_summary_of_a_cut_stream(replay: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The docs cut this recording right after the answer's step.start: the thought is what arrived."""
    message = failed(replay.run(cell("--stream", "docs_stream_thought_summary")), capsys)
    assert message.startswith("failed: ") and "what arrived is shown above" in message
    result = replay.shell.user_ns["r"]
    assert result.status == "failed" and result.text == ""
    assert len(result.thoughts) == 1 and result.thoughts[0].startswith("**Implementing Euclidean Algorithm**")
    shown = markdown(result)
    assert "**Thoughts**" in shown and "> **Implementing Euclidean Algorithm**" in shown
    assert "detailed example applying the Euclidean algorithm" in shown
    assert head(replay) is None


# -- tools ------------------------------------------------------------------------------------------------


def test_search_then_function_call_stream(replay: Any) -> None:
    result = ok(replay.run(cell("--stream", "docs_stream_google_search_plus_function_call")))
    assert result.status == "requires_action"  # the notebook declared no get_weather to answer it
    [call] = result.function_calls
    assert call.name == "get_weather" and call.arguments == {"location": "Mount Elbrus, Russia"}
    shown = markdown(result)
    assert "**Google Search**: *largest mountain in Europe*" in shown
    assert "**Function call** `get_weather`" in shown and '"location": "Mount Elbrus, Russia"' in shown
    assert shown.index("largest mountain") < shown.index("get_weather")  # in the order they happened
    assert "299 tokens" in shown


def test_search_grounding_with_sources(replay: Any) -> None:
    """The docs elide the id, the status and the call's id: the answer still reads as it should."""
    result = ok(replay.run(cell("--no-stream --no-store", "docs_sync_google_search_grounding")))
    assert result.status == "completed"
    assert result.text.startswith("Spain won Euro 2024, defeating England 2-1 in the final.")
    assert result.thoughts == [
        "The user is asking for the winner of Euro 2024. "
        "I need to search for the result of the Euro 2024 final."
    ]
    shown = markdown(result)
    assert "**Google Search**: *UEFA Euro 2024 winner*" in shown
    sources = shown[shown.index("**Sources**") :]
    assert "1. [aljazeera.com](https://www.aljazeera.com/sports/euro-2024-final)" in sources
    assert "2. [uefa.com](https://www.uefa.com/euro2024/news/spain-wins-euro-2024)" in sources
    # The result is shown with its call, not as an unknown step; the suggestions' HTML never is.
    assert "google_search_result" not in shown and "search_suggestions" not in shown and "<!--" not in shown


def test_single_event_examples(replay: Any) -> None:
    """The streaming page's examples of single events: a function call whose arguments stream as a
    delta and whose step never stops before the interaction completes."""
    result = ok(replay.run(cell("--stream", "docs_stream_event_examples_function_and_deltas")))
    [call] = result.function_calls
    assert call.name == "get_weather" and call.arguments == {"location": "San Francisco, CA"}
    assert '"location": "San Francisco, CA"' in markdown(result)
    assert result.status == "completed" and result.usage["total_tokens"] == 19


# -- errors -----------------------------------------------------------------------------------------------


def test_error_event_is_one_line(replay: Any, capsys: pytest.CaptureFixture[str]) -> None:
    message = failed(replay.run(cell("--stream", "docs_stream_error_event")), capsys)
    assert message == (
        "failed: Deadline expired before operation could complete.; the conversation was not advanced "
        "— run the cell again"
    )
    assert head(replay) is None


# -- pre-GA shapes (google-genai 1.x era: outputs, content.* events) ----------------------------------------


def test_pre_ga_answers(replay: Any) -> None:
    simple = ok(replay.run(cell("--no-stream", "preGA_api_reference_examples#create_simple")))
    assert (
        simple.text == "Hello! I'm functioning perfectly and ready to assist you.\n\nHow are you doing today?"
    )
    assert "49 tokens" in markdown(simple)
    got = ok(replay.run(cell("--no-stream", "preGA_api_reference_examples#get")))
    assert got.text.startswith("I'm doing great")
    after_tools = ok(replay.run(cell("--no-stream", "preGA_function_result_turn_completed")))
    assert after_tools.text.startswith("The current weather in Paris, France is 14°C")
    assert markdown(after_tools).startswith("The current weather in Paris")


def test_pre_ga_function_call(replay: Any) -> None:
    result = ok(replay.run(cell("--no-stream", "preGA_api_reference_examples#function_calling")))
    assert result.status == "requires_action"
    [call] = result.function_calls
    assert (call.call_id, call.name, call.arguments) == (
        "gth23981",
        "get_weather",
        {"location": "Boston, MA"},
    )
    assert "**Function call** `get_weather`" in markdown(result)


def test_pre_ga_stream_then_error(replay: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The reference's SSE examples, in its order: content events, the completion, then an error event."""
    message = failed(replay.run(cell("--stream", "preGA_api_reference_examples#sse_events")), capsys)
    assert message.startswith("failed: Failed to get completed interaction: Result not found.;")
    result = replay.shell.user_ns["r"]
    assert result.text == "Elara’s life was a symphony of quiet moments. ..."
    assert "Elara’s life" in markdown(result)


# -- research ---------------------------------------------------------------------------------------------


def test_deep_research_stream_report(replay: Any, server: SampleServer) -> None:
    run_id = part(RUNNING)["id"]
    server.by_id[f"{run_id}#stream"] = "docs_stream_deep_research_agent"
    COVERED.add("docs_stream_deep_research_agent")
    report = ok_static(replay.run(cell(f"--agent {AGENT} --wait", RUNNING)))
    assert report.status == "completed" and report.id == run_id
    assert report.text.startswith("# The Quantum Inflection Point: Exhaustive Analysis of Hardware")
    assert report.thoughts[0].startswith("***Generating research plan***")
    shown = markdown(report)
    assert "# The Quantum Inflection Point" in shown and "## Executive Summary" in shown
    assert head(replay) == run_id  # the finished run joined the chain


def test_deep_research_polled_to_completion(replay: Any, server: SampleServer) -> None:
    run_id = part(RUNNING)["id"]
    server.by_id[run_id] = "preGA_deep_research_get_in_progress_and_completed#completed_head"
    report = ok_static(replay.run(cell(f"--agent {AGENT} --wait", RUNNING)))
    assert report.status == "completed"
    assert report.text == "# Le Groupe SU(3) : Structure Mathématique ..."
    assert markdown(report).startswith("# Le Groupe SU(3)")


def test_deep_research_created_complete(replay: Any) -> None:
    report = ok(replay.run(cell(f"--agent {AGENT} --wait", "preGA_api_reference_examples#deep_research")))
    assert report.text.startswith("Here is a comprehensive research report on the current state of cancer")
    assert "1,520 tokens" in markdown(report)


def test_vertex_agent_completion_event(replay: Any, server: SampleServer) -> None:
    """Vertex names the final event ``interaction.complete``: it ends the run all the same, in a
    foreground stream and for a followed background run."""
    streamed = ok(replay.run(cell("--stream", "docs_vertex_agent_stream_interaction_complete")))
    assert streamed.status == "completed" and streamed.id == "1234567890"
    assert "51,132 tokens" in markdown(streamed)
    run_id = part(RUNNING)["id"]
    server.by_id[f"{run_id}#stream"] = "docs_vertex_agent_stream_interaction_complete"
    followed = ok_static(replay.run(cell(f"--agent {AGENT} --wait", RUNNING)))
    assert followed.status == "completed" and followed.usage.get("total_tokens") == 51132


def ok_static(run: Any) -> Any:
    """A ``--wait`` research cell's result (a static report, not the live handle)."""
    assert run.success, f"cell failed: {run.error_in_exec!r}"
    assert run.result is not None and hasattr(run.result, "text"), run.result
    return run.result


# -- every recording ----------------------------------------------------------------------------------------


def test_every_recording_is_replayed() -> None:
    """Runs last in this file: every wire recording was played to the magics above."""
    not_wire = {"preGA_droidnext_notebook_outputs", "real_ids_and_statuses_cookbook"}  # printed objects
    if len(COVERED) < 5:
        pytest.skip("run the whole file: this checks what the other tests replayed")
    assert set(sample_names()) - not_wire == COVERED


def test_real_ids_are_shown_whole(replay: Any, server: SampleServer) -> None:
    """A real id is shown in full in the footer and in the history, escaped as Markdown."""
    real = ok(replay.run(cell("--no-stream", "preGA_api_reference_examples#create_simple")))
    assert re.fullmatch(r"v1_[A-Za-z0-9_-]{60,}", real.id or "")
    assert real.id.replace("_", "\\_") in markdown(real)  # type: ignore[union-attr]
    history = replay.line("history").data
    assert real.id.replace("_", "\\_") in history  # type: ignore[union-attr]
