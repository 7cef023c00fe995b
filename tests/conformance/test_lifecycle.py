"""Conformance of the emulator's Interactions API lifecycle and rules, driven by the real google-genai SDK.

Covers the routes (``/v1`` and ``/v1beta``), synchronous, streamed and background creates, resuming a
stream, cancel, delete, chaining (also across agents), ``store=false``, the agent/model rules, the
Google-style errors, the model catalog, expiry and the loopback binding. Raw httpx is used only where the
SDK hides what must be checked (status codes, headers, bodies it refuses to send).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from emulator_testing import TEST_AGENT_SECONDS, sdk_client
from google.genai import _interactions as ierr

from gemini_magics.emulator import EmulatorServer, Settings

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-pro-preview-12-2025"
SEED_MODELS = [
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-flash-lite-preview",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
]
AGENTS = ["deep-research-pro-preview-12-2025", "deep-research-preview-04-2026"]
TERMINAL = {"completed", "failed", "cancelled", "requires_action", "incomplete"}


# -- helpers ------------------------------------------------------------------------------------------


def wait_until_finished(client: Any, interaction_id: str, timeout: float = 10.0) -> tuple[Any, list[str]]:
    """Poll ``get`` until the interaction ends; the final Interaction and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = client.interactions.get(interaction_id)
        seen.append(current.status)
        if current.status in TERMINAL:
            return current, seen
        time.sleep(0.05)
    raise AssertionError(f"{interaction_id} did not finish in {timeout}s; statuses seen: {seen}")


def error_body(exc: ierr.APIStatusError) -> dict[str, Any]:
    """The Google-style error object carried by an SDK exception."""
    body = exc.body
    assert isinstance(body, dict), body
    return body["error"]


def assert_google_error(reply: httpx.Response, code: int, status: str) -> str:
    """A raw reply is the service's JSON ``{"error": {message, code}}`` (string code); returns the message."""
    assert reply.status_code == code, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert error["code"] == status and "status" not in error  # the service's string codes
    assert isinstance(error["message"], str) and error["message"]
    return error["message"]


def event_names(events: list[Any]) -> list[str]:
    return [e.event_type for e in events]


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


class RecordingApp:
    """ASGI wrapper that records the method and path of every HTTP request."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def recording() -> Iterator[tuple[EmulatorServer, RecordingApp]]:
    """An emulator whose requests are recorded (to see which API version the SDK really called)."""
    server = EmulatorServer(Settings(agent_seconds=TEST_AGENT_SECONDS))
    recorder = RecordingApp(server.emulator.app)
    server.emulator.app = recorder  # type: ignore[assignment]
    server.start()
    yield server, recorder
    server.stop()


# -- routes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_every_route_answers_under_both_versions(
    recording: tuple[EmulatorServer, RecordingApp], version: str
) -> None:
    """create, get (plain, include_input, stream, resume), cancel and delete under /v1 and /v1beta."""
    server, recorder = recording
    client = sdk_client(server.base_url, api_version=version)

    done = client.interactions.create(model=MODEL, input="Hi, my name is Phil.")
    assert done.status == "completed"
    assert client.interactions.get(done.id).id == done.id
    assert client.interactions.get(done.id, include_input=True).input
    events = list(client.interactions.get(done.id, stream=True))
    assert events[-1].event_type == "interaction.completed"
    resumed = list(client.interactions.get(done.id, stream=True, last_event_id=events[1].event_id))
    assert [e.event_id for e in resumed] == [e.event_id for e in events[2:]]

    running = client.interactions.create(agent=AGENT, input="Topic [emulator: duration=5]", background=True)
    assert client.interactions.cancel(running.id).status == "cancelled"
    client.interactions.delete(done.id)
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(done.id)

    paths = {(method, path.split("/interactions")[0]) for method, path in recorder.requests}
    assert paths == {("POST", f"/{version}"), ("GET", f"/{version}"), ("DELETE", f"/{version}")}
    assert ("POST", f"/{version}/interactions/{running.id}/cancel") in recorder.requests
    assert ("DELETE", f"/{version}/interactions/{done.id}") in recorder.requests


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_raw_routes_exist_under_both_versions(emulator: EmulatorServer, version: str) -> None:
    """The same routes over plain HTTP, including the ``:cancel`` spelling of the REST API."""
    base = f"{emulator.base_url}/{version}/interactions"
    created = httpx.post(base, json={"model": MODEL, "input": "hello"}, timeout=10)
    assert created.status_code == 200
    interaction_id = created.json()["id"]
    assert httpx.get(f"{base}/{interaction_id}", params={"stream": "false"}).json()["status"] == "completed"
    agent = httpx.post(
        base, json={"agent": AGENT, "input": "x [emulator: duration=5]", "background": True}, timeout=10
    ).json()
    assert httpx.post(f"{base}/{agent['id']}:cancel").json()["status"] == "cancelled"
    assert httpx.delete(f"{base}/{interaction_id}").status_code == 200
    assert_google_error(httpx.get(f"{base}/{interaction_id}"), 404, "not_found")


# -- synchronous create -------------------------------------------------------------------------------


def test_sync_create_returns_a_completed_interaction(client: Any) -> None:
    """Without stream/background the reply is the finished Interaction: steps, usage, timestamps."""
    result = client.interactions.create(model=MODEL, input="Give me three tips for writing tests")
    assert result.status == "completed"
    assert result.model == MODEL
    assert result.id
    assert [type(s).__name__ for s in result.steps] == ["ThoughtStep", "ModelOutputStep"]
    assert result.output_text and "tips" in result.output_text.lower()
    usage = result.usage
    assert usage.total_input_tokens > 0 and usage.total_output_tokens > 0
    assert usage.total_tokens == (
        usage.total_input_tokens
        + usage.total_output_tokens
        + usage.total_thought_tokens
        + usage.total_tool_use_tokens
    )
    created = datetime.fromisoformat(str(result.created).replace("Z", "+00:00"))
    updated = datetime.fromisoformat(str(result.updated).replace("Z", "+00:00"))
    assert created <= updated


def test_get_returns_the_input_only_when_asked(client: Any, emulator: EmulatorServer) -> None:
    """``include_input=true`` adds the input steps; by default the input is absent."""
    prompt = "Describe the water cycle"
    result = client.interactions.create(model=MODEL, input=prompt)

    with_input = client.interactions.get(result.id, include_input=True)
    assert [type(s).__name__ for s in with_input.input] == ["UserInputStep"]
    assert with_input.input[0].content[0].text == prompt
    assert client.interactions.get(result.id).input is None

    raw = httpx.get(f"{emulator.base_url}/v1/interactions/{result.id}", params={"stream": "false"}).json()
    assert "input" not in raw
    assert raw["steps"] and raw["status"] == "completed"


# -- streaming ----------------------------------------------------------------------------------------


def assert_stream_grammar(events: list[Any]) -> None:
    """created → status_update → (step.start, step.delta*, step.stop)* → completed, ids increasing."""
    names = event_names(events)
    assert names[:2] == ["interaction.created", "interaction.status_update"], names
    assert names[-1] == "interaction.completed", names
    open_index: int | None = None
    next_index = 0
    for event in events[2:-1]:
        if event.event_type == "step.start":
            assert open_index is None and event.index == next_index, names
            open_index = event.index
        elif event.event_type == "step.delta":
            assert event.index == open_index, names
        elif event.event_type == "step.stop":
            assert event.index == open_index, names
            open_index, next_index = None, next_index + 1
        else:
            raise AssertionError(f"unexpected {event.event_type} in the step section: {names}")
    assert open_index is None and next_index > 0
    ids = [e.event_id for e in events]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)


def assert_no_unknown_variants(events: list[Any]) -> None:
    for event in events:
        assert not type(event).__name__.startswith("Unknown"), event
        for attr in ("delta", "step"):
            value = getattr(event, attr, None)
            if value is not None:
                assert not type(value).__name__.startswith("Unknown"), value
                for block in getattr(value, "content", None) or []:
                    assert not type(block).__name__.startswith("Unknown"), block


def text_from_deltas(events: list[Any]) -> str:
    """The text of the last ``model_output`` step, rebuilt from its text deltas."""
    kinds: dict[int, str] = {}
    texts: dict[int, list[str]] = {}
    for event in events:
        if event.event_type == "step.start":
            kinds[event.index] = event.step.type
        elif event.event_type == "step.delta" and isinstance(getattr(event.delta, "text", None), str):
            # A TextDelta, or Deep Research's untyped {"text": ...} delta (the SDK keeps ``text`` on it)
            texts.setdefault(event.index, []).append(event.delta.text)
    outputs = [i for i, kind in kinds.items() if kind == "model_output"]
    assert outputs, kinds
    return "".join(texts[outputs[-1]])


def test_streamed_create_follows_the_event_grammar(client: Any) -> None:
    """Every event is typed by the SDK, carries an id, and the deltas rebuild ``output_text``."""
    events = list(
        client.interactions.create(
            model=MODEL,
            input="Explain three reasons for unit testing",
            generation_config={"thinking_summaries": "auto"},
            stream=True,
        )
    )
    assert_stream_grammar(events)
    assert_no_unknown_variants(events)
    delta_types = {type(e.delta).__name__ for e in events if e.event_type == "step.delta"}
    assert {"TextDelta", "ThoughtSummaryDelta", "ThoughtSignatureDelta"} <= delta_types

    first, last = events[0], events[-1]
    assert type(first).__name__ == "InteractionCreatedEvent"
    assert first.interaction.status == "in_progress"
    assert type(last).__name__ == "InteractionCompletedEvent"
    assert last.interaction.id == first.interaction.id
    assert last.interaction.status == "completed"
    assert last.interaction.usage.total_tokens > 0

    stored = client.interactions.get(first.interaction.id)
    assert stored.status == "completed"
    assert text_from_deltas(events) == stored.output_text
    assert stored.steps[0].type == "user_input"  # a get lists the input it was asked with, then the steps
    assert len(stored.steps) - 1 == sum(1 for e in events if e.event_type == "step.stop")


def test_streamed_agent_events_are_all_known(client: Any) -> None:
    """A Deep Research stream (thoughts, report, citations) parses without Unknown variants."""
    events = list(
        client.interactions.create(
            agent=AGENT,
            input="The history of the printing press [emulator: duration=0.3]",
            agent_config={"type": "deep-research", "thinking_summaries": "auto"},
            background=True,
            stream=True,
        )
    )
    assert_stream_grammar(events)
    assert_no_unknown_variants(events)
    assert "TextAnnotationDelta" in {type(e.delta).__name__ for e in events if e.event_type == "step.delta"}
    stored = client.interactions.get(events[0].interaction.id)
    assert text_from_deltas(events) == stored.output_text
    assert stored.output_text.startswith("# Research report")


# -- background ---------------------------------------------------------------------------------------


def test_background_returns_in_progress_then_completes(client: Any) -> None:
    """``background=True`` answers at once with in_progress; polling sees it complete."""
    started = time.monotonic()
    created = client.interactions.create(
        agent=AGENT, input="Renewable energy trends [emulator: duration=0.6]", background=True
    )
    assert time.monotonic() - started < 0.5
    assert created.status == "in_progress"
    assert created.agent == AGENT
    final, seen = wait_until_finished(client, created.id)
    assert seen[0] == "in_progress"
    assert final.status == "completed"
    assert "Research report" in final.output_text
    assert final.usage.total_tokens > 0


def test_streaming_get_on_a_running_background_interaction(client: Any) -> None:
    """``get(stream=True)`` while the agent runs tails the log from the start to the completion."""
    created = client.interactions.create(
        agent=AGENT, input="Coral reefs [emulator: duration=0.6]", background=True
    )
    assert client.interactions.get(created.id).status == "in_progress"
    events = list(client.interactions.get(created.id, stream=True))
    assert_stream_grammar(events)
    assert events[0].interaction.id == created.id
    assert events[-1].interaction.status == "completed"
    assert client.interactions.get(created.id).status == "completed"
    assert text_from_deltas(events) == client.interactions.get(created.id).output_text


# -- resume -------------------------------------------------------------------------------------------


def test_resume_yields_exactly_the_events_after_last_event_id(client: Any) -> None:
    """For every cut point E, ``get(stream=True, last_event_id=E)`` replays the full stream after E."""
    events = list(client.interactions.create(model=MODEL, input="Tell me a joke", stream=True))
    interaction_id = events[0].interaction.id
    ids = [e.event_id for e in events]
    for position in range(len(events)):
        resumed = list(client.interactions.get(interaction_id, stream=True, last_event_id=ids[position]))
        assert [e.event_id for e in resumed] == ids[position + 1 :], position
        assert event_names(resumed) == event_names(events)[position + 1 :]


def test_resume_of_a_running_agent_continues_to_the_end(client: Any) -> None:
    """Resuming mid-run gives the rest of the events, identical to what a full stream shows."""
    created = client.interactions.create(
        agent=AGENT, input="Volcanoes [emulator: duration=0.6]", background=True
    )
    stream = client.interactions.get(created.id, stream=True)
    events = iter(stream)
    head = [next(events) for _ in range(3)]
    stream.close()  # a dropped connection
    assert client.interactions.get(created.id).status == "in_progress"
    resumed = list(client.interactions.get(created.id, stream=True, last_event_id=head[-1].event_id))
    full = list(client.interactions.get(created.id, stream=True))
    assert [e.event_id for e in head + resumed] == [e.event_id for e in full]
    assert resumed[-1].event_type == "interaction.completed"


# -- cancel -------------------------------------------------------------------------------------------


def test_cancel_a_running_agent(client: Any) -> None:
    """Cancel stops the run: get says cancelled, an open stream and a new stream end with cancelled."""
    created = client.interactions.create(
        agent=AGENT, input="Deep sea exploration [emulator: duration=5]", background=True
    )
    open_stream: list[Any] = []
    reader = threading.Thread(
        target=lambda: open_stream.extend(client.interactions.get(created.id, stream=True)), daemon=True
    )
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    cancelled = client.interactions.cancel(created.id)
    assert cancelled.status == "cancelled"
    reader.join(timeout=3)
    assert not reader.is_alive(), "the open stream did not end after cancel"
    assert time.monotonic() - started < 3

    assert client.interactions.get(created.id).status == "cancelled"
    for events in (open_stream, list(client.interactions.get(created.id, stream=True))):
        assert events[0].event_type == "interaction.created"
        assert events[-1].event_type == "interaction.completed"
        assert events[-1].interaction.status == "cancelled"
        updates = [e.status for e in events if e.event_type == "interaction.status_update"]
        assert updates[-1] == "cancelled"
    time.sleep(0.2)
    assert client.interactions.get(created.id).status == "cancelled"  # the run really stopped


def test_cancel_of_a_non_background_interaction_is_400(client: Any) -> None:
    result = client.interactions.create(model=MODEL, input="hello")
    with pytest.raises(ierr.BadRequestError) as caught:
        client.interactions.cancel(result.id)
    assert caught.value.status_code == 400
    assert error_body(caught.value)["code"] == "invalid_request"
    assert "background" in error_body(caught.value)["message"]


# -- delete -------------------------------------------------------------------------------------------


def test_delete_then_get_is_404(client: Any) -> None:
    result = client.interactions.create(model=MODEL, input="hello")
    client.interactions.delete(result.id)
    with pytest.raises(ierr.NotFoundError) as caught:
        client.interactions.get(result.id)
    assert caught.value.status_code == 404
    with pytest.raises(ierr.NotFoundError):
        client.interactions.create(model=MODEL, input="again", previous_interaction_id=result.id)
    with pytest.raises(ierr.NotFoundError):
        client.interactions.delete(result.id)


def test_delete_unknown_is_404(client: Any) -> None:
    with pytest.raises(ierr.NotFoundError) as caught:
        client.interactions.delete("v1_doesNotExist")
    assert error_body(caught.value) == {"message": error_body(caught.value)["message"], "code": "not_found"}


# -- chaining -----------------------------------------------------------------------------------------


def test_phil_example_from_the_seed(client: Any) -> None:
    """The seed's stateful conversation: the second turn remembers the name from the first."""
    first = client.interactions.create(model=MODEL, input="Hi, my name is Phil.")
    second = client.interactions.create(
        model=MODEL, input="What is my name?", previous_interaction_id=first.id
    )
    assert second.previous_interaction_id == first.id
    assert "Phil" in second.output_text
    alone = client.interactions.create(model=MODEL, input="What is my name?")
    assert "Phil" not in alone.output_text


def test_chain_mixes_agent_and_model_interactions(client: Any) -> None:
    """model → Deep Research agent → model: the chain runs through the agent's interaction."""
    intro = client.interactions.create(model=MODEL, input="Hi, my name is Phil.")
    research = client.interactions.create(
        agent=AGENT,
        input="Research the history of jazz [emulator: duration=0.3]",
        previous_interaction_id=intro.id,
        background=True,
    )
    assert research.status == "in_progress"
    finished, _ = wait_until_finished(client, research.id)
    assert finished.status == "completed"

    name = client.interactions.create(
        model=MODEL, input="What is my name?", previous_interaction_id=research.id
    )
    assert "Phil" in name.output_text
    recap = client.interactions.create(
        model=MODEL, input="What did I say so far?", previous_interaction_id=research.id
    )
    assert "Hi, my name is Phil." in recap.output_text
    assert "Research the history of jazz" in recap.output_text
    assert "[emulator:" not in recap.output_text  # directives never reach the model

    follow_up = client.interactions.create(
        agent=AGENT,
        input="And what about blues? [emulator: duration=0.3]",
        previous_interaction_id=name.id,
        background=True,
    )
    assert wait_until_finished(client, follow_up.id)[0].status == "completed"


def test_unknown_previous_interaction_is_404(client: Any) -> None:
    with pytest.raises(ierr.NotFoundError) as caught:
        client.interactions.create(model=MODEL, input="hello", previous_interaction_id="v1_unknownChain")
    assert "v1_unknownChain" in error_body(caught.value)["message"]


# -- store=false --------------------------------------------------------------------------------------


def test_store_false_answers_but_is_not_kept(client: Any) -> None:
    """Synchronous and streamed answers work; nothing is retrievable or continuable afterwards."""
    result = client.interactions.create(model=MODEL, input="Tell me a joke", store=False)
    assert result.status == "completed" and result.output_text
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(result.id)
    with pytest.raises(ierr.NotFoundError):
        client.interactions.create(model=MODEL, input="another", previous_interaction_id=result.id)

    events = list(client.interactions.create(model=MODEL, input="Tell me a joke", store=False, stream=True))
    assert_stream_grammar(events)
    assert text_from_deltas(events) == result.output_text
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(events[0].interaction.id)


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        ({"previous_interaction_id": "PREVIOUS"}, "previous_interaction_id"),
        ({"background": True}, "background"),
    ],
)
def test_store_false_rejects_chaining_and_background(client: Any, extra: dict[str, Any], word: str) -> None:
    stored = client.interactions.create(model=MODEL, input="hello")
    kwargs = {k: stored.id if v == "PREVIOUS" else v for k, v in extra.items()}
    with pytest.raises(ierr.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="hello", store=False, **kwargs)
    message = error_body(caught.value)["message"]
    assert word in message and "store" in message


# -- agent and model rules ----------------------------------------------------------------------------


def test_agent_requires_background(client: Any) -> None:
    with pytest.raises(ierr.BadRequestError) as caught:
        client.interactions.create(agent=AGENT, input="Research tides")
    assert "background" in error_body(caught.value)["message"]


def test_agent_with_generation_config_is_refused(client: Any, emulator: EmulatorServer) -> None:
    """The SDK refuses it locally; the emulator refuses it too when a raw client sends it."""
    with pytest.raises(ValueError, match="generation_config"):
        client.interactions.create(
            agent=AGENT, input="x", background=True, generation_config={"temperature": 0.2}
        )
    body = {"agent": AGENT, "input": "x", "background": True, "generation_config": {"temperature": 0.2}}
    reply = httpx.post(f"{emulator.base_url}/v1/interactions", json=body, timeout=10)
    assert "generation_config" in assert_google_error(reply, 400, "invalid_request")


def test_model_with_agent_config_is_refused(client: Any, emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="agent_config"):
        client.interactions.create(model=MODEL, input="x", agent_config={"type": "deep-research"})
    body = {"model": MODEL, "input": "x", "agent_config": {"type": "deep-research"}}
    reply = httpx.post(f"{emulator.base_url}/v1/interactions", json=body, timeout=10)
    assert "agent_config" in assert_google_error(reply, 400, "invalid_request")


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "needle"),
    [
        (b'{"model": "gemini-3-flash-preview", "input": ', {}, "JSON"),
        (b"[1, 2]", {}, "JSON"),
        (b'{"model": "gemini-3-flash-preview"}', {}, "Provide an 'input' parameter"),
        (b'{"input": "hello"}', {}, "model"),
        (b'{"model": "gemini-3-flash-preview", "input": []}', {}, "input"),
        (b'{"model": "gemini-3-flash-preview", "input": "hi [emulator: bogus=1]"}', {}, "bogus"),
        (b'{"model": "gemini-3-flash-preview", "input": "hi"}', {"x-emulator-directives": "nope=2"}, "nope"),
    ],
    ids=[
        "truncated-json",
        "not-an-object",
        "missing-input",
        "missing-model",
        "empty-input",
        "bad-directive",
        "bad-directive-header",
    ],
)
def test_invalid_arguments_are_400(
    emulator: EmulatorServer, content: bytes, headers: dict[str, str], needle: str
) -> None:
    reply = httpx.post(
        f"{emulator.base_url}/v1/interactions",
        content=content,
        headers={"content-type": "application/json", **headers},
        timeout=10,
    )
    assert needle in assert_google_error(reply, 400, "invalid_request")


def test_sdk_raises_bad_request_for_a_bad_directive(client: Any) -> None:
    with pytest.raises(ierr.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="hello [emulator: bogus=1]")
    assert isinstance(caught.value, ierr.APIStatusError)
    assert caught.value.status_code == 400
    assert caught.value.status_code == 400
    assert error_body(caught.value)["code"] == "invalid_request"
    assert "bogus" in caught.value.message


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("PUT", "/v1/interactions/x")])
def test_unknown_routes_answer_with_json_errors(emulator: EmulatorServer, method: str, path: str) -> None:
    reply = httpx.request(method, emulator.base_url + path, timeout=10)
    assert reply.status_code in (404, 405)
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    error = reply.json()["error"]
    assert isinstance(error["code"], str) and error["message"] and "status" not in error
    if reply.status_code == 404:
        assert error["code"] == "not_found"


def test_missing_api_key_is_401(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(require_key=True)
    base = f"{server.base_url}/v1/interactions"
    reply = httpx.post(base, json={"model": MODEL, "input": "hello"}, timeout=10)
    assert "API Key" in assert_google_error(reply, 401, "unauthenticated")
    assert_google_error(httpx.get(f"{base}/v1_any", params={"stream": "false"}), 401, "unauthenticated")
    assert_google_error(httpx.delete(f"{base}/v1_any"), 401, "unauthenticated")
    keyed = httpx.post(
        base, json={"model": MODEL, "input": "hello"}, headers={"x-goog-api-key": "anything"}, timeout=10
    )
    assert keyed.status_code == 200
    client = sdk_client(server.base_url)  # keep the Client referenced: its collection closes the transport
    assert client.interactions.create(model=MODEL, input="hi").status == "completed"


def test_unknown_api_key_is_400(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(api_keys=frozenset({"good-key"}))
    bad = sdk_client(server.base_url, api_key="bad-key")
    with pytest.raises(ierr.BadRequestError) as caught:
        bad.interactions.create(model=MODEL, input="hi")
    assert "API key not valid" in error_body(caught.value)["message"]
    assert error_body(caught.value)["code"] == "invalid_request"
    good = sdk_client(server.base_url, api_key="good-key")
    assert good.interactions.create(model=MODEL, input="hi").status == "completed"


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-1.5-pro", "gemini-9-imaginary"])
def test_unknown_and_deprecated_models_are_404(client: Any, model: str) -> None:
    with pytest.raises(ierr.NotFoundError) as caught:
        client.interactions.create(model=model, input="hello")
    error = error_body(caught.value)
    assert caught.value.status_code == 404 and error["code"] == "not_found"
    assert model in error["message"]
    if model != "gemini-9-imaginary":
        assert "gemini-3-flash-preview" in error["message"]  # the suggested replacement


def test_unknown_agent_is_404(client: Any) -> None:
    with pytest.raises(ierr.NotFoundError):
        client.interactions.create(agent="deep-research-imaginary", input="x", background=True)


@pytest.mark.parametrize("call", ["get", "cancel", "delete", "stream"])
def test_unknown_interaction_id_is_404(client: Any, call: str) -> None:
    actions = {
        "get": lambda: client.interactions.get("v1_missing"),
        "cancel": lambda: client.interactions.cancel("v1_missing"),
        "delete": lambda: client.interactions.delete("v1_missing"),
        "stream": lambda: list(client.interactions.get("v1_missing", stream=True)),
    }
    with pytest.raises(ierr.NotFoundError) as caught:
        actions[call]()
    assert error_body(caught.value)["code"] == "not_found"


# -- catalog ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", SEED_MODELS)
def test_every_seed_model_answers(client: Any, model: str) -> None:
    result = client.interactions.create(model=model, input="Draw a lighthouse at dusk")
    assert result.status == "completed"
    assert result.model == model
    final = result.steps[-1]
    assert type(final).__name__ == "ModelOutputStep"
    if "image" in model:
        images = [b for b in final.content if type(b).__name__ == "ImageContent"]
        assert images and images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert result.output_text


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_answers(client: Any, agent: str) -> None:
    created = client.interactions.create(
        agent=agent, input="The invention of the telescope [emulator: duration=0.3]", background=True
    )
    assert created.status == "in_progress"
    final, _ = wait_until_finished(client, created.id)
    assert final.status == "completed"
    assert final.agent == agent
    assert "Sources" in final.output_text


# -- expiry -------------------------------------------------------------------------------------------


def test_interactions_expire_after_the_configured_time(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(expire_after=0.3)
    client = sdk_client(server.base_url)
    first = client.interactions.create(model=MODEL, input="Hi, my name is Phil.")
    assert client.interactions.get(first.id).status == "completed"
    second = client.interactions.create(
        model=MODEL, input="What is my name?", previous_interaction_id=first.id
    )
    assert "Phil" in second.output_text
    time.sleep(0.45)
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(first.id)
    with pytest.raises(ierr.NotFoundError):
        list(client.interactions.get(second.id, stream=True))
    with pytest.raises(ierr.NotFoundError) as caught:
        client.interactions.create(model=MODEL, input="And now?", previous_interaction_id=second.id)
    assert second.id in error_body(caught.value)["message"]


def test_admin_expire_route(make_emulator: Callable[..., EmulatorServer]) -> None:
    """``server.expire(id)`` expires that interaction only; ``expire()`` expires all."""
    server = make_emulator()
    client = sdk_client(server.base_url)
    first = client.interactions.create(model=MODEL, input="Hi, my name is Phil.")
    other = client.interactions.create(model=MODEL, input="hello")
    assert server.expire(first.id) == 1
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(first.id)
    with pytest.raises(ierr.NotFoundError):
        client.interactions.create(model=MODEL, input="What is my name?", previous_interaction_id=first.id)
    assert client.interactions.get(other.id).status == "completed"
    assert server.expire() >= 1
    with pytest.raises(ierr.NotFoundError):
        client.interactions.get(other.id)


# -- binding ------------------------------------------------------------------------------------------


def test_binds_loopback_by_default(emulator: EmulatorServer) -> None:
    assert emulator.host == "127.0.0.1"
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{emulator.base_url}/emulator/health").json()["status"] == "ok"
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError), socket.create_connection((address, emulator.port), timeout=2):
        pass


def test_health_reports_json(emulator: EmulatorServer) -> None:
    reply = httpx.get(f"{emulator.base_url}/emulator/health")
    assert reply.headers["content-type"].startswith("application/json")
    assert json.loads(reply.text)["interactions"] >= 0
