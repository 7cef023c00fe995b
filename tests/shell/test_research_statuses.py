"""The statuses beyond completed/failed, through real ``%%gemini`` cells against the emulator over HTTP:
``budget_exceeded`` and ``idle`` (foreground and background), ``requires_continuation`` (never shown as a
failure: continued by the tracker, or continued by the service for agents), and the agent config each
agent family gets.

``idle`` counts as a success (``gemini_magics/statuses.py`` says why, from the SDK's own documentation of
``IDLE``); ``budget_exceeded`` is a stop part-way: what arrived is kept, the chain does not move.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from shell_checks import failed, ok
from test_research import chain_of, configure, research, runner, wait_for

from gemini_magics import statuses
from gemini_magics.research.progress import ProgressWidget
from gemini_magics.research.tasks import StaticResult, tasks_of

PROMPT = "Three bullet points about owls"


@pytest.fixture
def rk(kernel: Any) -> Any:
    return configure(kernel)


def history_status(kernel: Any, interaction_id: str) -> str:
    found = runner(kernel).store.find(interaction_id)
    assert found is not None, interaction_id
    return found[2].status


# -- foreground cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "unary"])
def test_a_cell_that_ends_budget_exceeded_fails_cleanly_and_keeps_what_arrived(
    rk: Any, capsys: pytest.CaptureFixture[str], stream: bool
) -> None:
    head = ok(rk.run("%%gemini --no-stream\nHello")).id
    flag = "--stream" if stream else "--no-stream"
    run = rk.run(f"%%gemini {flag}\n{PROMPT} [emulator: status=budget_exceeded]")
    message = failed(
        run,
        capsys,
        "budget_exceeded: the interaction's budget ran out before the answer was complete",
        "what arrived is shown above",
        "the conversation was not advanced — ask for less, or give the agent a larger budget",
        shows="stopped: budget exceeded",  # the view says it in words
    )
    assert "run the cell again" not in message
    assert chain_of(rk).head == head
    [turn] = [t for t in chain_of(rk).turns() if t.prompt.startswith(PROMPT)]
    assert turn.status == "budget_exceeded" and turn.answer.startswith("Here is a short answer")
    full = ok(rk.run(f"%%gemini --no-stream --new\n{PROMPT}")).text
    assert 0 < len(turn.answer) < len(full)  # part-way: the answer stopped in the middle


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "unary"])
def test_a_cell_that_ends_idle_with_its_answer_is_a_success(rk: Any, stream: bool) -> None:
    flag = "--stream" if stream else "--no-stream"
    result = ok(rk.run(f"%%gemini {flag}\n{PROMPT} [emulator: status=idle]"))
    assert result.status == "idle" and result.ok and result.error is None
    complete = ok(rk.run(f"%%gemini --no-stream --new\n{PROMPT}"))
    assert result.text == complete.text  # the whole answer
    data, _ = result._repr_mimebundle_()
    assert "**Idle**" not in data["text/markdown"] and "Failed" not in data["text/markdown"]
    # It advanced the chain: the next cell continues from it.
    rk.run("%gemini use idle")
    first = ok(rk.run(f"%%gemini {flag}\nMy name is Ada. [emulator: status=idle]"))
    assert chain_of(rk).head == first.id and history_status(rk, first.id) == "completed"
    follow = ok(rk.run("%%gemini --no-stream\nWhat is my name?"))
    assert "Ada" in follow.text


def test_a_streamed_cell_over_the_decode_limit_is_never_a_failure(rk: Any) -> None:
    result = ok(rk.run(f"%%gemini --stream\n{PROMPT} [emulator: continuations=2]"))
    assert result.status == "completed"
    whole = ok(rk.run(f"%%gemini --no-stream --new\n{PROMPT}"))
    assert result.text == whole.text


# -- background runs ------------------------------------------------------------------------------------


def test_a_research_run_that_ends_budget_exceeded_says_so_in_its_own_words_and_colour(
    rk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gemini_magics.render.view as render_view

    head = ok(rk.run("%%gemini --no-stream\nHello")).id
    run = research(rk, "Glaciers [emulator: duration=1, status=budget_exceeded]")
    widget = ProgressWidget(run.tracker)
    assert run.tracker.wait(15)
    assert run.status == "budget_exceeded" and not run.result.ok
    # The widget: its own words and colour, the live part gone, no Cancel.
    assert "⊘ stopped: budget exceeded after" in widget.status.value
    assert widget.bar.bar_style == "" and widget.bar.style.bar_color == statuses.COLOURS["budget_exceeded"]
    assert widget.live.layout.display == "none" and widget.cancel_button.layout.display == "none"
    (view,) = widget.report.children
    texts = [o["data"]["text/markdown"] for c in view.children for o in getattr(c, "outputs", ())]
    assert any("**Stopped: budget exceeded**" in t for t in texts)
    # The chain stays; the run's turn says what happened (also after a restart, from the store).
    assert chain_of(rk).head == head
    assert history_status(rk, run.id) == "budget_exceeded"
    # The panel row: the same words, the same colour; its report can be shown.
    panel = rk.line("panel")
    assert "| stopped: budget exceeded |" in panel._repr_markdown_()
    monkeypatch.setattr(render_view, "in_kernel", lambda: True)
    live = rk.line("panel")
    cell = live._rows[run.id]["cells"][0].value
    assert "stopped: budget exceeded" in cell and statuses.COLOURS["budget_exceeded"] in cell
    assert live._rows[run.id]["cancel"].disabled and not live._rows[run.id]["show"].disabled
    live.close()
    # %gemini wait on it fails as a cell should, in the same words.
    with pytest.raises(UsageError, match=r"budget_exceeded: .*budget ran out.*not advanced"):
        rk.line(f"wait {run.id}")


def test_a_research_run_that_ends_idle_is_finished_and_joins_the_chain(rk: Any) -> None:
    rk.run("%%gemini --no-stream\nHello")
    run = research(rk, "Fjords [emulator: duration=1, status=idle]")
    widget = ProgressWidget(run.tracker)
    assert run.tracker.wait(15)
    assert run.status == "idle" and run.result.ok
    assert "# Research report: Fjords" in run.text
    assert "✓ finished: idle after" in widget.status.value
    assert widget.bar.bar_style == "success" and widget.bar.style.bar_color == statuses.COLOURS["idle"]
    assert chain_of(rk).head == run.id and history_status(rk, run.id) == "completed"
    result = rk.line(f"wait {run.id}")
    assert isinstance(result, StaticResult) and result.status == "idle"
    assert rk.line("show").id == run.id  # a finished report, as a completed one is


def test_a_queued_research_run_says_queued_then_runs(rk: Any) -> None:
    run = research(rk, "Tundra [emulator: duration=0.5, queue=1]")
    seen: list[str] = []
    run.tracker.subscribe(lambda t: seen.append(t.state.status))
    assert run.wait(15).status == "completed"
    assert run.tracker.snapshot().status == "completed"
    assert "in_progress" in seen or "queued" in seen  # it was followed while it waited and ran


def test_a_research_run_over_the_decode_limit_gives_the_whole_report(rk: Any) -> None:
    """The service continues background runs itself (google-genai leaves them to it): an agent run asked
    for three hops ends completed with the same report as one that needs none, never requires_continuation."""
    run = research(rk, "Mangroves [emulator: duration=0.5, continuations=2]", "--new --research")
    seen: list[str] = []
    run.tracker.subscribe(lambda t: seen.append(t.state.status))
    hopped = run.wait(15)
    plain = rk.cell("--new --research --wait", "Mangroves [emulator: duration=0.5]")
    assert hopped.status == "completed" and statuses.HOP not in seen
    assert hopped.text == plain.text and "**Sources:**" in hopped.text
    assert run.tracker.snapshot().hops == []


def test_a_followed_interaction_that_stops_at_a_hop_is_continued_into_one_result(
    rk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``%gemini wait ID`` follows an interaction that ended ``requires_continuation``: the tracker continues
    it, hop by hop, as the SDK continues a create, and presents one answer with the hops' usage summed."""
    from google.genai import _interactions_continuation as sdk

    rk.run("%%gemini --no-stream\nHello")  # the magics' client exists
    client = runner(rk).backend.client
    prompt = f"{PROMPT} [emulator: continuations=2]"
    monkeypatch.setattr(sdk, "_incomplete_continuation_warned", False)  # the SDK warns once per process
    with pytest.warns(UserWarning, match="requires_continuation"):  # the SDK says what to do: we do it
        first = client.interactions.create(
            model="gemini-3-flash-preview", input=prompt, automatic_continuation=False
        )
    assert first.status == statuses.HOP and first.continuation_token
    reference = client.interactions.create(model="gemini-3-flash-preview", input=prompt)  # the SDK's own
    result = rk.line(f"wait {first.id}")
    assert isinstance(result, StaticResult) and result.status == "completed" and result.ok
    assert result.text == reference.output_text
    hops = result.interaction.continuation_ids
    assert len(hops) == 3 and hops[0] == first.id and result.id == hops[-1]
    usages = [client.interactions.get(hop).usage for hop in hops]
    summed = sdk._merge_usages(usages, first_hop_usage=usages[0])
    assert result.usage == summed.model_dump(exclude_none=True)
    assert result.usage["total_output_tokens"] == sum(u.total_output_tokens for u in usages)
    tracker = tasks_of(runner(rk)).trackers[first.id]
    assert tracker.snapshot().hops == hops[1:]
    assert tasks_of(runner(rk)).trackers[hops[-1]] is tracker  # each hop's id finds the run
    data, _ = result._repr_mimebundle_()
    assert "requires" not in data["text/markdown"] and "Failed" not in data["text/markdown"]


# -- agent_config per agent family ----------------------------------------------------------------------


def test_each_agent_gets_its_own_config(rk: Any) -> None:
    """Antigravity takes no Deep Research config (the service answers 400 to one); Deep Research keeps
    its thought summaries."""
    run = research(rk, "List the files [emulator: duration=0.5]", "--agent antigravity-preview-05-2026")
    result = run.wait(15)
    assert result.status == "completed" and "list_directory" in str(result.interaction.steps)
    deep = research(rk, "Kelp [emulator: duration=0.5]")
    assert deep.wait(15).status == "completed" and len(deep.thoughts) == 5
    with pytest.raises(UsageError, match="--plan applies to Deep Research agents, not to antigravity"):
        rk.cell("--agent antigravity-preview-05-2026 --plan", "x")
    with pytest.raises(UsageError, match="--visualize applies to Deep Research agents"):
        rk.cell("--agent antigravity-preview-05-2026 --visualize", "x")
    with pytest.raises(UsageError, match="--plan is for Deep Research: use it with --research or --agent"):
        rk.cell("--plan", "x")
    with pytest.raises(UsageError, match="--visualize is for Deep Research"):
        rk.cell("-m gemini-3-flash-preview --visualize", "x")


def test_visualize_puts_the_chart_into_the_report_statically_and_in_the_widget(rk: Any) -> None:
    run = research(rk, "Wind power growth [emulator: duration=0.5]", "--research --visualize")
    widget = ProgressWidget(run.tracker)
    result = run.wait(15)
    assert result.status == "completed" and "## Visualization" in result.text
    [png] = result.image_bytes
    assert png.startswith(b"\x89PNG")
    data, _ = result._repr_mimebundle_()
    assert data["image/png"] == png and "![" in data["text/markdown"]  # embedded in the Markdown too
    wait_for(lambda: bool(widget.report.children))
    (view,) = widget.report.children
    images = [c for c in view.children if type(c).__name__ == "Image"]
    assert [i.value for i in images] == [png]
    plain = research(rk, "Wind power growth [emulator: duration=0.5]", "--new --research")
    assert plain.wait(15).image_bytes == [] and "## Visualization" not in plain.text


def test_statuses_words_cover_every_status_the_sdk_lists() -> None:
    import typing

    from google.genai._gaos.types.interactions import interaction

    listed = {a for arm in typing.get_args(interaction.InteractionStatus) for a in typing.get_args(arm)}
    assert {s for s in listed if isinstance(s, str)} <= (
        statuses.ENDED | statuses.RUNNING | {statuses.HOP}
    ), "a status the magics do not place: add it to statuses.py"
    ended_words = {statuses.words(s) for s in statuses.ENDED}
    assert "stopped: budget exceeded" in ended_words and "finished: idle" in ended_words
