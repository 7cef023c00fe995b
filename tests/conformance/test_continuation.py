"""Long answers past the per-request decode limit, and the statuses the service ends with.

google-genai 3.6.1 continues ``requires_continuation`` hops by default and resumes a dropped stream from its
last checkpoint (``_interactions_continuation.py``); these tests drive that real client code against the
emulator, so the emulator's hops and checkpoints are checked by the SDK that will meet the service.
"""

from __future__ import annotations

import time
from typing import Any

from emulator_testing import sdk_client

from gemini_magics.emulator import EmulatorServer

MODEL = "gemini-3-flash-preview"
PROMPT = "Give me five bullet points about tea"


def text_of(events: list[Any]) -> str:
    return "".join(
        e.delta.text
        for e in events
        if e.event_type == "step.delta" and getattr(e.delta, "type", "") == "text"
    )


def test_unary_create_continues_across_hops(client: Any) -> None:
    whole = client.interactions.create(model=MODEL, input=PROMPT)
    hopped = client.interactions.create(model=MODEL, input=f"{PROMPT} [emulator: continuations=2]")
    assert hopped.status == "completed" and hopped.output_text == whole.output_text
    assert len(hopped.continuation_ids) == 3 and hopped.continuation_ids[-1] == hopped.id
    # Each hop is its own stored interaction; the first says where to continue.
    first = client.interactions.get(hopped.continuation_ids[0])
    assert first.status == "requires_continuation" and first.continuation_token
    hops = [client.interactions.get(i) for i in hopped.continuation_ids]
    assert hopped.usage.total_output_tokens == sum(h.usage.total_output_tokens for h in hops)
    # The next turn continues after the last hop.
    after = client.interactions.create(
        model=MODEL, input="What did I ask before?", previous_interaction_id=hopped.id
    )
    assert "five bullet points about tea" in after.output_text


def test_stream_continues_across_hops(client: Any) -> None:
    whole = client.interactions.create(model=MODEL, input=PROMPT)
    events = list(
        client.interactions.create(model=MODEL, input=f"{PROMPT} [emulator: continuations=2]", stream=True)
    )
    assert text_of(events) == whole.output_text
    created = [e for e in events if e.event_type == "interaction.created"]
    completed = [e for e in events if e.event_type == "interaction.completed"]
    assert len(created) == 3
    assert [c.interaction.status for c in completed] == ["requires_continuation"] * 2 + ["completed"]
    checkpoints = [e for e in events if e.event_type == "interaction.status_update" and e.continuation_token]
    assert checkpoints  # mid-hop resume points


def test_stateless_hops_resend_the_input(client: Any) -> None:
    whole = client.interactions.create(model=MODEL, input=PROMPT, store=False)
    hopped = client.interactions.create(
        model=MODEL, input=f"{PROMPT} [emulator: continuations=1]", store=False
    )
    assert hopped.output_text == whole.output_text and hopped.id.startswith("v2_")


def test_a_cut_in_the_middle_hop_resumes_from_the_checkpoint(client: Any) -> None:
    """The stream of hop 2 is cut right after a checkpoint: the SDK resumes there, no text twice."""
    whole = client.interactions.create(model=MODEL, input=PROMPT).output_text
    uncut = list(
        client.interactions.create(model=MODEL, input=f"{PROMPT} [emulator: continuations=2]", stream=True)
    )
    starts = [i for i, e in enumerate(uncut) if e.event_type == "interaction.created"]
    hop2 = uncut[starts[1] : starts[2]]
    position = next(
        i for i, e in enumerate(hop2) if e.event_type == "interaction.status_update" and e.continuation_token
    )
    cut = position + 1  # the connection drops right after the checkpoint
    events = list(
        client.interactions.create(
            model=MODEL, input=f"{PROMPT} [emulator: continuations=2, hop=2, cut={cut}]", stream=True
        )
    )
    assert text_of(events) == whole  # nothing lost, nothing repeated
    assert len([e for e in events if e.event_type == "interaction.created"]) == 4  # hop 2 was resumed
    assert events[-1].event_type == "interaction.completed" and events[-1].interaction.status == "completed"


def test_a_token_from_another_interaction_is_refused(client: Any) -> None:
    first = client.interactions.create(
        model=MODEL, input=f"{PROMPT} [emulator: continuations=1]", automatic_continuation=False
    )
    assert first.status == "requires_continuation" and first.continuation_token
    other = client.interactions.create(model=MODEL, input="Hello")
    import google.genai._interactions as ierr

    try:
        client.interactions.create(
            model=MODEL, continuation_token=first.continuation_token, previous_interaction_id=other.id
        )
    except ierr.BadRequestError as exc:
        assert "continuation_token" in str(exc)
    else:
        raise AssertionError("a foreign continuation token was accepted")
    rest = client.interactions.create(
        model=MODEL, continuation_token=first.continuation_token, previous_interaction_id=first.id
    )
    assert (
        first.output_text + rest.output_text
        == client.interactions.create(model=MODEL, input=PROMPT).output_text
    )


def wait(client: Any, interaction_id: str, statuses: set[str], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.interactions.get(interaction_id)
        if got.status in statuses:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{interaction_id} never reached {statuses}")


def test_budget_exceeded_and_idle(client: Any) -> None:
    whole = client.interactions.create(model=MODEL, input=PROMPT).output_text
    stopped = client.interactions.create(model=MODEL, input=f"{PROMPT} [emulator: status=budget_exceeded]")
    assert (
        stopped.status == "budget_exceeded" and stopped.output_text and whole.startswith(stopped.output_text)
    )
    assert len(stopped.output_text) < len(whole)
    idle = client.interactions.create(model=MODEL, input=f"{PROMPT} [emulator: status=idle]")
    assert idle.status == "idle" and idle.output_text == whole
    events = list(
        client.interactions.create(
            agent="deep-research-preview-04-2026",
            input="Tea [emulator: status=budget_exceeded, duration=0.3]",
            background=True,
            stream=True,
        )
    )
    assert (
        events[-1].event_type == "interaction.completed"
        and events[-1].interaction.status == "budget_exceeded"
    )


def test_queued_then_running(emulator: EmulatorServer) -> None:
    client = sdk_client(emulator.base_url)
    started = client.interactions.create(
        agent="deep-research-preview-04-2026",
        input="Tea [emulator: queue=0.5, duration=0.3]",
        background=True,
    )
    assert started.status == "queued"
    wait(client, started.id, {"in_progress"})
    assert wait(client, started.id, {"completed"}).output_text
