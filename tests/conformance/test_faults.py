"""Conformance of every fault the emulator injects, seen through the real google-genai 3.6.1 SDK.

Faults are asked for per request (``[emulator: ...]`` in the prompt or the ``x-emulator-directives``
header) or per server (``Settings.faults`` / the CLI's ``--fault``). Raw httpx is used where the SDK hides
what must be checked (headers, a connection that stays open) or where its own retries would get in the way.

What these tests pin down about the SDK's retries (google-genai 3.6.1): ``client.interactions`` is the
generated client under ``google/genai/_gaos``; it does not use the tenacity retries of the rest of the SDK.
``_gaos/google_genai.py::_translate_retry_config`` maps ``HttpOptions.retry_options`` onto the generated
``RetryConfig('attempt-count-backoff', ...)`` and ``_gaos/utils/retries.py`` retries 408/409/429/5xx
(``http_status_codes`` overrides that list). Without ``retry_options`` it still makes 5 attempts; a
``Retry-After`` header replaces the computed backoff.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google.genai import types
from google.genai._interactions_errors import (
    APIStatusError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)

from gemini_magics.emulator import EmulatorServer
from gemini_magics.emulator.__main__ import main as cli_main

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-pro-preview-12-2025"


def sdk_client(base_url: str, retries: bool = False, **options: Any) -> Any:
    """A real google-genai client for ``base_url``, without retries unless asked (as ``tests/conftest.py``).

    Defined here because ``from conftest import ...`` is ambiguous once a directory has its own conftest.
    """
    from google import genai

    http = types.HttpOptions(base_url=base_url, **options)
    if not retries:
        http.retry_options = types.HttpRetryOptions(attempts=1)
    return genai.Client(api_key="test-key", http_options=http)


# How long a client waits for the next byte before deciding that a stream hangs.
HANG_TIMEOUT = 0.5


def unique(prompt: str) -> str:
    """A prompt no other test sends: ``error=...xN`` counts attempts per identical request body."""
    return f"{prompt} (run {uuid.uuid4().hex[:8]})"


def fast_retries(attempts: int = 4) -> types.HttpRetryOptions:
    """SDK retries with tiny, jitter-free backoff so retry tests stay quick."""
    return types.HttpRetryOptions(attempts=attempts, initial_delay=0.02, max_delay=0.1, jitter=0)


class StatusLog:
    """An httpx client for the SDK (``HttpOptions.httpx_client``) that records every reply's status."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.client = httpx.Client(event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)


def sse_data(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON events of an SSE reply, as they arrive."""
    for line in response.iter_lines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            yield json.loads(line[5:])


def read_until_hang(
    method: str, url: str, timeout: float = HANG_TIMEOUT, **kwargs: Any
) -> tuple[list[dict[str, Any]], bool]:
    """Read an SSE stream until it ends or sends nothing for ``timeout`` s; (events, hung)."""
    events: list[dict[str, Any]] = []
    try:
        with httpx.stream(method, url, timeout=httpx.Timeout(10.0, read=timeout), **kwargs) as response:
            assert response.status_code == 200, response.read()
            for event in sse_data(response):
                events.append(event)
    except httpx.ReadTimeout:
        return events, True
    return events, False


def event_ids(events: list[Any]) -> list[int]:
    return [int(e["event_id"] if isinstance(e, dict) else e.event_id) for e in events]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(
        e["delta"].get("text", "")
        for e in events
        if e["event_type"] == "step.delta" and e["delta"].get("type") == "text"
    )


@pytest.fixture
def api(emulator: EmulatorServer) -> str:
    """The session emulator's ``/v1`` root for raw httpx requests."""
    return f"{emulator.base_url}/v1"


# -- error=CODE: the create request fails ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error_class"),
    [
        (429, "resource_exhausted", RateLimitError),
        (500, "internal_error", InternalServerError),
        (503, "unavailable", InternalServerError),
    ],
)
def test_error_codes_reach_the_sdk_as_google_errors(
    emulator: EmulatorServer, api: str, code: int, status: str, error_class: type[APIStatusError]
) -> None:
    """``error=CODE`` → that status, a Google-style JSON error, and the SDK's matching exception."""
    prompt = unique(f"Hello [emulator: error={code}]")
    reply = httpx.post(f"{api}/interactions", json={"model": MODEL, "input": prompt})
    assert reply.status_code == code
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert error["code"] == status and error["message"] and "status" not in error
    assert ("retry-after" in reply.headers) == (code == 429)

    client = sdk_client(emulator.base_url)
    with pytest.raises(error_class) as caught:
        client.interactions.create(model=MODEL, input=prompt)
    assert caught.value.status_code == code
    assert caught.value.body["error"]["code"] == status  # type: ignore[index]


def test_429_carries_retry_after(api: str) -> None:
    """A 429 says when to come back: 1 s by default, ``retry_after=S`` changes it."""
    default = httpx.post(
        f"{api}/interactions", json={"model": MODEL, "input": unique("[emulator: error=429]")}
    )
    assert default.status_code == 429 and default.headers["retry-after"] == "1"
    custom = httpx.post(
        f"{api}/interactions", json={"model": MODEL, "input": unique("[emulator: error=429, retry_after=3]")}
    )
    assert custom.status_code == 429 and custom.headers["retry-after"] == "3"
    assert custom.json()["error"]["code"] == "resource_exhausted"


def test_error_directive_in_the_header(emulator: EmulatorServer) -> None:
    """The ``x-emulator-directives`` header asks for the same faults as the prompt does."""
    client = sdk_client(emulator.base_url)
    with pytest.raises(InternalServerError) as caught:
        client.interactions.create(
            model=MODEL, input=unique("Hello"), extra_headers={"x-emulator-directives": "error=503"}
        )
    assert caught.value.status_code == 503


def test_503x2_with_sdk_retries_gets_the_answer(emulator: EmulatorServer) -> None:
    """``error=503x2`` fails two attempts; the SDK's own retries (attempts=4) then get the answer."""
    log = StatusLog()
    client = sdk_client(
        emulator.base_url, retries=True, retry_options=fast_retries(4), httpx_client=log.client
    )
    interaction = client.interactions.create(
        model=MODEL, input=unique("Tell me about owls [emulator: error=503x2]")
    )
    assert interaction.status == "completed"
    assert "owls" in interaction.output_text
    assert log.statuses == [503, 503, 200]


def test_503x2_without_retries_gets_the_error(emulator: EmulatorServer) -> None:
    """Without retries the first attempt's 503 is the caller's; the third identical attempt succeeds."""
    log = StatusLog()
    client = sdk_client(emulator.base_url, httpx_client=log.client)
    prompt = unique("Tell me about owls [emulator: error=503x2]")
    for _ in range(2):
        with pytest.raises(InternalServerError) as caught:
            client.interactions.create(model=MODEL, input=prompt)
        assert caught.value.status_code == 503
    assert client.interactions.create(model=MODEL, input=prompt).status == "completed"
    assert log.statuses == [503, 503, 200]


def test_sdk_attempts_count_the_first_request(emulator: EmulatorServer) -> None:
    """``HttpRetryOptions(attempts=2)`` is two requests in all: not enough for ``503x2``."""
    log = StatusLog()
    client = sdk_client(
        emulator.base_url, retries=True, retry_options=fast_retries(2), httpx_client=log.client
    )
    with pytest.raises(InternalServerError):
        client.interactions.create(model=MODEL, input=unique("Hi [emulator: error=503x2]"))
    assert log.statuses == [503, 503]


def test_sdk_retries_a_streamed_create_before_the_stream_starts(emulator: EmulatorServer) -> None:
    """Retries cover the status of a streamed create: the stream that follows is complete."""
    log = StatusLog()
    client = sdk_client(
        emulator.base_url, retries=True, retry_options=fast_retries(3), httpx_client=log.client
    )
    events = list(
        client.interactions.create(model=MODEL, input=unique("Owls [emulator: error=503x2]"), stream=True)
    )
    assert log.statuses == [503, 503, 200]
    assert events[0].event_type == "interaction.created"
    assert events[-1].event_type == "interaction.completed"
    assert event_ids(events) == list(range(1, len(events) + 1))


def test_sdk_retry_waits_for_retry_after(emulator: EmulatorServer) -> None:
    """The interactions client sleeps for ``Retry-After`` (1 s) instead of its 20 ms backoff."""
    log = StatusLog()
    client = sdk_client(
        emulator.base_url, retries=True, retry_options=fast_retries(3), httpx_client=log.client
    )
    started = time.perf_counter()
    interaction = client.interactions.create(model=MODEL, input=unique("Hi [emulator: error=429x1]"))
    elapsed = time.perf_counter() - started
    assert interaction.status == "completed"
    assert log.statuses == [429, 200]
    assert elapsed >= 0.95, elapsed


def test_sdk_without_retry_options_still_retries_interactions(emulator: EmulatorServer) -> None:
    """Unlike ``client.models``, ``client.interactions`` retries by default (5 attempts, 0.5 s backoff)."""
    from google import genai

    log = StatusLog()
    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=emulator.base_url, httpx_client=log.client),
    )
    interaction = client.interactions.create(model=MODEL, input=unique("Hi [emulator: error=503x1]"))
    assert interaction.status == "completed"
    assert log.statuses == [503, 200]


# -- poll_error: gets of a background interaction fail -----------------------------------------------------


def test_poll_error_fails_the_next_gets_then_gets_work(emulator: EmulatorServer) -> None:
    """``poll_error=503x3``: the create works, the next three gets fail with 503, then gets work."""
    client = sdk_client(emulator.base_url)
    created = client.interactions.create(
        model=MODEL, input=unique("Owls [emulator: poll_error=503x3]"), background=True
    )
    for _ in range(3):
        with pytest.raises(InternalServerError) as caught:
            client.interactions.get(created.id)
        assert caught.value.status_code == 503
        assert caught.value.body["error"]["code"] == "unavailable"  # type: ignore[index]
    deadline = time.monotonic() + 10
    while (
        got := client.interactions.get(created.id)
    ).status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.status == "completed" and "owls" in got.output_text


def test_poll_error_is_absorbed_by_sdk_retries(emulator: EmulatorServer) -> None:
    """A get with ``attempts=4`` rides out ``poll_error=503x3`` in one call."""
    log = StatusLog()
    client = sdk_client(
        emulator.base_url, retries=True, retry_options=fast_retries(4), httpx_client=log.client
    )
    created = client.interactions.create(
        model=MODEL, input=unique("Owls [emulator: poll_error=503x3]"), background=True
    )
    got = client.interactions.get(created.id)
    assert got.id == created.id
    assert log.statuses == [200, 503, 503, 503, 200]


# -- cut / stall / half_resume: streams that end early or hang ---------------------------------------------


def test_cut_ends_the_first_stream_and_resume_gets_the_rest(emulator: EmulatorServer) -> None:
    """``cut=5``: the stream ends after exactly 5 events, no completion; a resume has the rest, no gaps."""
    client = sdk_client(emulator.base_url)
    first = list(
        client.interactions.create(
            model=MODEL, input=unique("Tell me about owls [emulator: cut=5]"), stream=True
        )
    )
    assert len(first) == 5
    assert all(e.event_type != "interaction.completed" for e in first)
    interaction_id = first[0].interaction.id
    rest = list(client.interactions.get(interaction_id, stream=True, last_event_id=first[-1].event_id))
    union = first + rest
    assert event_ids(union) == list(range(1, len(union) + 1))  # no gap, no duplicate
    assert rest[-1].event_type == "interaction.completed"
    assert rest[-1].interaction.status == "completed"
    text = "".join(
        e.delta.text for e in union if e.event_type == "step.delta" and getattr(e.delta, "type", "") == "text"
    )
    assert text and text == client.interactions.get(interaction_id).output_text


def test_cut_applies_to_the_first_stream_only(emulator: EmulatorServer) -> None:
    """A cut (here asked for in the header) hits one stream; streaming the log again is complete."""
    client = sdk_client(emulator.base_url)
    first = list(
        client.interactions.create(
            model=MODEL,
            input=unique("Owls"),
            stream=True,
            extra_headers={"x-emulator-directives": "cut=3"},
        )
    )
    assert len(first) == 3
    again = list(client.interactions.get(first[0].interaction.id, stream=True))
    assert event_ids(again) == list(range(1, len(again) + 1))
    assert again[-1].event_type == "interaction.completed"


def test_cut_counts_the_events_of_a_first_stream_that_resumes(emulator: EmulatorServer, api: str) -> None:
    """``cut=N`` is N events of the stream, also when the first stream starts at ``last_event_id``."""
    client = sdk_client(emulator.base_url)
    created = client.interactions.create(model=MODEL, input=unique("Owls [emulator: cut=3]"), background=True)
    deadline = time.monotonic() + 10
    while client.interactions.get(created.id).status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    events, hung = read_until_hang(
        "GET", f"{api}/interactions/{created.id}", params={"stream": "true", "last_event_id": "2"}
    )
    assert not hung
    assert event_ids(events) == [3, 4, 5]


def test_stall_hangs_after_n_events_and_resume_works(api: str) -> None:
    """``stall=4``: 4 events, then silence on an open connection (read timeout); a resume finishes."""
    body = {"model": MODEL, "input": unique("Tell me about owls [emulator: stall=4]"), "stream": True}
    started = time.perf_counter()
    events, hung = read_until_hang("POST", f"{api}/interactions", json=body)
    assert hung, "the stalled stream ended instead of hanging"
    assert time.perf_counter() - started >= HANG_TIMEOUT
    assert event_ids(events) == [1, 2, 3, 4]
    interaction_id = events[0]["interaction"]["id"]
    rest, hung = read_until_hang(
        "GET", f"{api}/interactions/{interaction_id}", params={"stream": "true", "last_event_id": "4"}
    )
    assert not hung
    assert event_ids(events + rest) == list(range(1, len(events) + len(rest) + 1))
    assert rest[-1]["event_type"] == "interaction.completed"
    assert "owls" in text_of(events + rest)


def test_half_resume_replays_two_events_then_hangs_while_get_progresses(
    emulator: EmulatorServer, api: str
) -> None:
    """``half_resume=2``: a resumed stream gives 2 events and hangs; a plain get shows the run finish."""
    client = sdk_client(emulator.base_url)
    created = client.interactions.create(
        agent=AGENT, input=unique("History of owls [emulator: half_resume=2, duration=1]"), background=True
    )
    assert created.status == "in_progress"
    resumed, hung = read_until_hang(
        "GET", f"{api}/interactions/{created.id}", params={"stream": "true", "last_event_id": "1"}
    )
    assert hung, "the resumed stream ended instead of hanging"
    assert event_ids(resumed) == [2, 3]
    # The fallback a client must use: plain gets keep showing progress until the run ends.
    seen_steps: list[int] = []
    deadline = time.monotonic() + 10
    while True:
        got = client.interactions.get(created.id)
        seen_steps.append(len(got.steps or []))
        if got.status != "in_progress" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got.status == "completed"
    assert seen_steps == sorted(seen_steps) and seen_steps[-1] > seen_steps[0]
    assert "Research report" in got.output_text


def test_half_resume_leaves_the_first_stream_alone(emulator: EmulatorServer) -> None:
    """Only resumed streams misbehave: the create's own stream is complete."""
    client = sdk_client(emulator.base_url)
    events = list(
        client.interactions.create(model=MODEL, input=unique("Owls [emulator: half_resume=2]"), stream=True)
    )
    assert events[-1].event_type == "interaction.completed"


# -- rate: slow token rate ------------------------------------------------------------------------------


def test_rate_spreads_text_deltas_over_time(emulator: EmulatorServer) -> None:
    """``rate=100`` with 20 deltas: they arrive spread over ≥ 0.15 s (19 gaps of 10 ms)."""
    client = sdk_client(emulator.base_url)
    arrivals: list[float] = []
    for event in client.interactions.create(
        model=MODEL, input=unique("Owls [emulator: deltas=20, rate=100]"), stream=True
    ):
        if event.event_type == "step.delta" and getattr(event.delta, "type", "") == "text":
            arrivals.append(time.perf_counter())
    assert len(arrivals) == 20
    spread = arrivals[-1] - arrivals[0]
    assert 0.15 <= spread < 5.0, spread


def test_without_rate_deltas_arrive_at_once(emulator: EmulatorServer) -> None:
    """The same 20 deltas without ``rate`` come in one burst (the control for the test above)."""
    client = sdk_client(emulator.base_url)
    arrivals = [
        time.perf_counter()
        for event in client.interactions.create(
            model=MODEL, input=unique("Owls [emulator: deltas=20]"), stream=True
        )
        if event.event_type == "step.delta" and getattr(event.delta, "type", "") == "text"
    ]
    assert len(arrivals) == 20
    assert arrivals[-1] - arrivals[0] < 0.15


# -- expire: stored interactions go away -----------------------------------------------------------------


def test_expire_makes_one_interaction_404_after_s_seconds(emulator: EmulatorServer) -> None:
    """``expire=0.5``: gettable at once, 404 (and unusable as previous_interaction_id) afterwards."""
    client = sdk_client(emulator.base_url)
    doomed = client.interactions.create(model=MODEL, input=unique("Owls [emulator: expire=0.5]"))
    kept = client.interactions.create(model=MODEL, input=unique("Owls"))
    assert client.interactions.get(doomed.id).status == "completed"
    time.sleep(0.6)
    with pytest.raises(NotFoundError) as caught:
        client.interactions.get(doomed.id)
    assert caught.value.body["error"]["code"] == "not_found"  # type: ignore[index]
    assert doomed.id in caught.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(NotFoundError):
        client.interactions.create(model=MODEL, input="And then?", previous_interaction_id=doomed.id)
    assert client.interactions.get(kept.id).status == "completed"


def test_server_expire_after_applies_to_every_interaction(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    """``Settings.expire_after`` (CLI ``--expire-after``) makes every interaction expire."""
    server = make_emulator(expire_after=0.4)
    client = sdk_client(server.base_url)
    ids = [client.interactions.create(model=MODEL, input=f"Owls {i}").id for i in range(2)]
    assert all(client.interactions.get(i).status == "completed" for i in ids)
    time.sleep(0.5)
    for interaction_id in ids:
        with pytest.raises(NotFoundError):
            client.interactions.get(interaction_id)


# -- fail: the interaction itself fails ------------------------------------------------------------------


def test_fail_gives_status_failed_with_the_message(emulator: EmulatorServer) -> None:
    """``fail=msg``: status ``failed`` and ``errors`` carries the message, in create and get."""
    client = sdk_client(emulator.base_url)
    created = client.interactions.create(model=MODEL, input=unique("Owls [emulator: fail=quota melted]"))
    assert created.status == "failed"
    assert [e.message for e in created.errors] == ["quota melted"]
    got = client.interactions.get(created.id)
    assert got.status == "failed" and got.errors[0].message == "quota melted"


def test_fail_in_a_stream_ends_with_an_error_event(emulator: EmulatorServer) -> None:
    """A failed stream ends, as the service's do, with an ``error`` event (string code, the message) and the
    terminator; the stored interaction says ``failed`` with the same error."""
    client = sdk_client(emulator.base_url)
    events = list(
        client.interactions.create(
            model=MODEL, input=unique("Owls [emulator: fail=quota melted]"), stream=True
        )
    )
    assert events[-1].event_type == "error"
    assert events[-1].error.message == "quota melted" and events[-1].error.code == "internal_error"
    stored = client.interactions.get(events[0].interaction.id)
    assert stored.status == "failed" and stored.errors[0].message == "quota melted"
    raw = httpx.post(
        f"{emulator.base_url}/v1/interactions",
        json={"model": MODEL, "input": unique("Owls [emulator: fail=quota melted]"), "stream": True},
        timeout=10,
    ).text
    assert raw.endswith("event: error\n" + raw.split("event: error\n")[-1])
    assert raw.rstrip().endswith("event: done\ndata: [DONE]")


def test_fail_for_a_background_agent(emulator: EmulatorServer) -> None:
    """An agent run with ``fail`` starts in progress and ends failed."""
    client = sdk_client(emulator.base_url)
    created = client.interactions.create(
        agent=AGENT, input=unique("Owls [emulator: fail=research failed, duration=0.4]"), background=True
    )
    assert created.status == "in_progress"
    deadline = time.monotonic() + 10
    while (
        got := client.interactions.get(created.id)
    ).status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.status == "failed" and got.errors[0].message == "research failed"


# -- server-wide faults -----------------------------------------------------------------------------------


def test_server_wide_error_fails_every_create(make_emulator: Callable[..., EmulatorServer]) -> None:
    """``faults={"error": "503"}`` fails every create, whatever the prompt, even with SDK retries."""
    server = make_emulator(faults={"error": "503"})
    log = StatusLog()
    retrying = sdk_client(
        server.base_url, retries=True, retry_options=fast_retries(3), httpx_client=log.client
    )
    with pytest.raises(InternalServerError):
        retrying.interactions.create(model=MODEL, input="Owls")
    assert log.statuses == [503, 503, 503]
    plain = sdk_client(server.base_url)
    for prompt in ("Cats", "Dogs"):
        with pytest.raises(InternalServerError) as caught:
            plain.interactions.create(model=MODEL, input=prompt)
        assert caught.value.status_code == 503


def test_server_wide_cut_applies_to_every_stream(make_emulator: Callable[..., EmulatorServer]) -> None:
    """``faults={"cut": "3"}`` cuts the first stream of every interaction."""
    server = make_emulator(faults={"cut": "3"})
    client = sdk_client(server.base_url)
    for prompt in ("Owls", "Cats"):
        events = list(client.interactions.create(model=MODEL, input=prompt, stream=True))
        assert event_ids(events) == [1, 2, 3]


def test_prompt_directive_overrides_server_fault(make_emulator: Callable[..., EmulatorServer]) -> None:
    """Per-request directives are stronger than the server's: ``cut=6`` in the prompt beats ``cut=3``."""
    server = make_emulator(faults={"cut": "3"})
    client = sdk_client(server.base_url)
    events = list(client.interactions.create(model=MODEL, input="Owls [emulator: cut=6]", stream=True))
    assert len(events) == 6


def test_cli_fault_option(tmp_path: Any) -> None:
    """``python -m gemini_magics.emulator --fault error=503`` serves a failing emulator."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_magics.emulator", "--port", str(port), "--fault", "error=503"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/emulator/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, (
                    "the CLI emulator did not start"
                )
                time.sleep(0.1)
        client = sdk_client(base)  # keep a reference: a collected Client closes its connection pool
        with pytest.raises(InternalServerError) as caught:
            client.interactions.create(model=MODEL, input="Owls")
        assert caught.value.status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_rejects_an_unknown_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in ``--fault`` stops the CLI with exit code 2 and names the key."""
    assert cli_main(["--fault", "stal=3"]) == 2
    assert "'stal'" in capsys.readouterr().err


# -- unknown directive keys -------------------------------------------------------------------------------


def test_unknown_directive_in_prompt_is_400_naming_the_key(emulator: EmulatorServer) -> None:
    """A typo never silently does nothing: 400 INVALID_ARGUMENT naming the unknown key."""
    client = sdk_client(emulator.base_url)
    with pytest.raises(BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="Owls [emulator: stal=3]")
    error = caught.value.body["error"]  # type: ignore[index]
    assert caught.value.status_code == 400 and error["code"] == "invalid_request"
    assert "'stal'" in error["message"]


@pytest.mark.parametrize(
    "directive", ["cut=x", "error=5o3", "error=503xz", "poll_error=x", "expire=soon", "rate=-1"]
)
def test_malformed_directive_value_is_400_naming_key_and_value(
    emulator: EmulatorServer, directive: str
) -> None:
    """A value that cannot be used is the caller's error (a JSON 400), never a plain-text 500."""
    key, _, value = directive.partition("=")
    client = sdk_client(emulator.base_url)
    with pytest.raises(BadRequestError) as caught:
        client.interactions.create(model=MODEL, input=f"Owls [emulator: {directive}]", stream=key == "cut")
    message = caught.value.body["error"]["message"]  # type: ignore[index]
    assert f"'{key}'" in message and f"'{value}'" in message


def test_unknown_directive_in_header_is_400_naming_the_key(api: str) -> None:
    reply = httpx.post(
        f"{api}/interactions",
        json={"model": MODEL, "input": "Owls"},
        headers={"x-emulator-directives": "cut=2, retry_afterr=3"},
    )
    assert reply.status_code == 400
    assert "'retry_afterr'" in reply.json()["error"]["message"]
