"""The Batch API (``client.batches`` / ``client.aio.batches``), driven by the real google-genai SDK.

Jobs of inlined GenerateContent requests go PENDING → RUNNING → SUCCEEDED at the emulator's pace, and each
answer is the one a stateless interaction gives the same prompt. Raw httpx only where the SDK hides the
wire (``batchStats``, int64 counts as strings, error bodies, a request without a key).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest
from emulator_testing import sdk_client
from google.genai import errors, types

from gemini_magics.emulator import EmulatorServer, Settings

MODEL = "gemini-2.5-flash"
TOPICS = [
    "volcanoes", "glaciers", "tides", "comets", "deserts", "coral", "bees", "tornadoes", "auroras", "lichens",
    "geysers", "monsoons", "fjords", "meteors", "reefs", "dunes", "eclipses", "marshes", "storms", "floods",
]  # fmt: skip


class Recipe(pydantic.BaseModel):
    recipe_name: str
    ingredients: list[str]
    minutes: int


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """An emulator of this module's own (default pace), so that listings hold only what these tests made."""
    with EmulatorServer(Settings()) as running:
        yield running


@pytest.fixture
def sdk(server: EmulatorServer) -> Any:
    return sdk_client(server.base_url)


def wait(sdk: Any, name: str, timeout: float = 15.0) -> tuple[types.BatchJob, list[str]]:
    """Poll ``batches.get`` until the job ends; the job and the states seen (each once, in order)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sdk.batches.get(name=name)
        if not seen or seen[-1] != job.state.name:
            seen.append(job.state.name)
        if job.done:
            return job, seen
        time.sleep(0.02)
    raise AssertionError(f"{name} did not end in {timeout} s (states seen: {seen})")


def raw(server: EmulatorServer, path: str, method: str = "GET", **options: Any) -> httpx.Response:
    options.setdefault("headers", {"x-goog-api-key": "test-key"})
    return httpx.request(method, f"{server.base_url}/v1beta/{path}", timeout=10, **options)


def stateless(sdk: Any, prompt: str, **fields: Any) -> Any:
    return sdk.interactions.create(model=MODEL, input=prompt, store=False, **fields)


def png_bytes(colour: str = "steelblue") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), colour).save(buffer, "PNG")
    return buffer.getvalue()


# -- create, get, lifecycle --------------------------------------------------------------------------------


def test_create_answers_a_pending_operation(server: EmulatorServer, sdk: Any) -> None:
    job = sdk.batches.create(
        model=MODEL, src=[{"contents": "Say hello"}], config={"display_name": "greeting"}
    )
    assert job.name.startswith("batches/") and len(job.name) > len("batches/") + 20
    assert job.state == types.JobState.JOB_STATE_PENDING and not job.done
    assert job.model == f"models/{MODEL}" and job.display_name == "greeting"
    assert job.create_time is not None and job.end_time is None and job.dest is None

    wire = raw(server, job.name).json()
    assert set(wire) <= {"name", "metadata", "done", "response"} and wire["name"] == job.name
    meta = wire["metadata"]
    assert meta["@type"] == "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
    assert meta["name"] == job.name and meta["state"].startswith("BATCH_STATE_")
    assert meta["batchStats"]["requestCount"] == "1"  # int64 in proto3 JSON: a string
    wait(sdk, job.name)


def test_a_job_runs_its_requests_in_order_and_succeeds(server: EmulatorServer, sdk: Any) -> None:
    prompts = [f"Explain {topic} in two bullet points" for topic in TOPICS]
    src = [{"contents": p, "metadata": {"key": f"request-{i}"}} for i, p in enumerate(prompts)]
    started = time.monotonic()
    job = sdk.batches.create(model=MODEL, src=src)
    done, seen = wait(sdk, job.name)
    took = time.monotonic() - started
    assert seen == ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert 0.9 < took < 5, f"20 requests at the default 20/s took {took:.2f} s"  # paced, and fast
    assert done.end_time is not None and done.end_time >= done.create_time
    assert done.update_time == done.end_time

    answers = done.dest.inlined_responses
    assert [a.metadata for a in answers] == [{"key": f"request-{i}"} for i in range(20)]
    assert all(a.error is None for a in answers)
    for index in (0, 7, 19):  # each answer is the stateless interaction's answer to the same prompt
        answer = answers[index].response
        assert answer.text == stateless(sdk, prompts[index]).output_text
        assert f"*{TOPICS[index]}*" in answer.text
        assert answer.candidates[0].content.role == "model"
        assert answer.candidates[0].finish_reason == types.FinishReason.STOP
        assert answer.model_version == MODEL and answer.response_id
        usage = answer.usage_metadata
        assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
        assert usage.total_token_count == (
            usage.prompt_token_count + usage.candidates_token_count + (usage.thoughts_token_count or 0)
        )

    stats = raw(server, job.name).json()["metadata"]["batchStats"]
    assert stats == {"requestCount": "20", "successfulRequestCount": "20"}  # zero counts left out


def test_stats_and_answers_grow_while_running(make_emulator: Any) -> None:
    server = make_emulator(batch_rate=10)
    sdk = sdk_client(server.base_url)
    job = sdk.batches.create(model=MODEL, src=[{"contents": f"Question {i}"} for i in range(6)])
    progress: list[tuple[str, dict[str, str], bool]] = []
    while True:
        wire = raw(server, job.name).json()
        meta = wire["metadata"]
        progress.append((meta["state"], meta["batchStats"], "output" in meta))
        if wire.get("done"):
            break
        time.sleep(0.03)
    running = [stats for state, stats, _ in progress if state == "BATCH_STATE_RUNNING"]
    assert progress[0][0] == "BATCH_STATE_PENDING" and progress[0][1]["pendingRequestCount"] == "6"
    answered = [int(s.get("successfulRequestCount", 0)) for s in running]
    assert answered == sorted(answered) and len(set(answered)) >= 3  # counted up one request at a time
    for stats in running:
        assert int(stats.get("successfulRequestCount", 0)) + int(stats.get("pendingRequestCount", 0)) == 6
    assert not any(has_output for state, _, has_output in progress if state != "BATCH_STATE_SUCCEEDED")
    final = progress[-1]
    assert final[0] == "BATCH_STATE_SUCCEEDED" and final[2]
    assert final[1] == {"requestCount": "6", "successfulRequestCount": "6"}
    assert len(wire["response"]["inlinedResponses"]["inlinedResponses"]) == 6
    assert wire["response"]["@type"].endswith("GenerateContentBatchOutput")


def test_pace_comes_from_the_environment(make_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_EMULATOR_BATCH_RATE", "5")
    server = make_emulator()  # batch_rate=None: the environment decides
    sdk = sdk_client(server.base_url)
    started = time.monotonic()
    job = sdk.batches.create(model=MODEL, src=[{"contents": f"Question {i}"} for i in range(3)])
    wait(sdk, job.name)
    assert time.monotonic() - started >= 0.75  # pending + 3 requests at 5 a second


# -- what each request asks --------------------------------------------------------------------------------


def test_system_instruction_json_schema_and_media(sdk: Any) -> None:
    recipe_schema = Recipe.model_json_schema()
    image = png_bytes()
    src: list[Any] = [
        {"contents": "Explain tides", "config": {"system_instruction": "Answer like a pirate"}},
        {
            "contents": "Give me a cookie recipe",
            "config": {"response_mime_type": "application/json", "response_schema": Recipe},
        },
        {
            "contents": "Give me a cookie recipe",
            "config": {"response_mime_type": "application/json", "response_json_schema": recipe_schema},
        },
        types.InlinedRequest(
            contents=[
                types.Content(
                    role="user",
                    parts=[
                        types.Part(text="What is in this picture?"),
                        types.Part(inline_data=types.Blob(data=image, mime_type="image/png")),
                    ],
                )
            ]
        ),
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Summarise this video"},
                        {
                            "file_data": {
                                "file_uri": "https://example.com/files/clip",
                                "mime_type": "video/mp4",
                            }
                        },
                    ],
                }
            ]
        },
    ]
    job = sdk.batches.create(model=MODEL, src=src)
    done, _ = wait(sdk, job.name)
    pirate, typed, json_schema, picture, video = [a.response for a in done.dest.inlined_responses]

    assert "Following the system instruction: Answer like a pirate" in pirate.text
    assert (
        pirate.text == stateless(sdk, "Explain tides", system_instruction="Answer like a pirate").output_text
    )

    expected = stateless(
        sdk, "Give me a cookie recipe", response_format=recipe_schema, response_mime_type="application/json"
    ).output_text
    for answer in (typed, json_schema):
        recipe = Recipe.model_validate_json(answer.text)  # conforms to the schema
        assert recipe.ingredients and "cookie" in recipe.recipe_name.lower()
        assert json.loads(answer.text) == json.loads(expected)

    assert "I see 1 image (64×32 PNG)" in picture.text and "steel blue" in picture.text
    assert picture.usage_metadata.prompt_token_count > 258  # the image's tokens count as input
    modalities = {d.modality.name for d in picture.usage_metadata.prompt_tokens_details}
    assert modalities == {"TEXT", "IMAGE"}
    assert "video/mp4, by URI" in video.text


def test_thoughts_only_when_asked(sdk: Any) -> None:
    src = [
        {"contents": "Why is the sky blue?", "config": {"thinking_config": {"include_thoughts": True}}},
        {"contents": "Why is the sky blue?"},
        {"contents": "Why is the sky blue?", "config": {"thinking_config": {"thinking_budget": 0}}},
    ]
    done, _ = wait(sdk, sdk.batches.create(model=MODEL, src=src).name)
    shown, hidden, none = [a.response for a in done.dest.inlined_responses]
    thought_parts = [p for p in shown.candidates[0].content.parts if p.thought]
    assert len(thought_parts) == 1 and '"Why is the sky blue?"' in thought_parts[0].text
    assert not any(p.thought for p in hidden.candidates[0].content.parts)
    assert hidden.usage_metadata.thoughts_token_count > 0  # it thought, without saying what
    assert none.usage_metadata.thoughts_token_count is None
    assert shown.text == hidden.text == none.text  # the answer itself is the same


def test_function_declarations_give_function_calls(sdk: Any) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING)},
            required=["city"],
        ),
    )
    src = [
        {
            "contents": "What is the weather in Paris?",
            "config": {"tools": [types.Tool(function_declarations=[weather])]},
        }
    ]
    done, _ = wait(sdk, sdk.batches.create(model=MODEL, src=src).name)
    answer = done.dest.inlined_responses[0].response
    (call,) = answer.function_calls
    assert call.name == "get_weather" and call.args == {"city": "Paris"}


def test_failing_requests_carry_errors_and_the_job_succeeds(server: EmulatorServer, sdk: Any) -> None:
    src = [
        {"contents": "First question", "metadata": {"key": "ok-1"}},
        {"contents": "Second question [emulator: error=500]", "metadata": {"key": "boom"}},
        {"contents": "Third question [emulator: error=429]"},
        {"contents": "Fourth question [emulator: fail=the model gave up]", "metadata": {"key": "gave-up"}},
        {"contents": "Fifth question", "metadata": {"key": "ok-2"}},
    ]
    job = sdk.batches.create(model=MODEL, src=src)
    done, _ = wait(sdk, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    first, internal, quota, gave_up, last = done.dest.inlined_responses
    assert first.response.text and first.error is None and last.metadata == {"key": "ok-2"}
    assert internal.response is None and internal.metadata == {"key": "boom"}
    assert internal.error.code == 13 and "internal error" in internal.error.message  # google.rpc INTERNAL
    assert quota.error.code == 8 and "exhausted" in quota.error.message  # RESOURCE_EXHAUSTED
    assert gave_up.error.code == 13 and gave_up.error.message == "the model gave up"
    assert "fifth question" in last.response.text.lower()
    stats = raw(server, job.name).json()["metadata"]["batchStats"]
    assert stats == {"requestCount": "5", "successfulRequestCount": "2", "failedRequestCount": "3"}


def test_error_times_counts_batches_that_carry_the_same_request(sdk: Any) -> None:
    src = [{"contents": "Flaky question [emulator: error=503x1]"}]
    first, _ = wait(sdk, sdk.batches.create(model=MODEL, src=src).name)
    again, _ = wait(sdk, sdk.batches.create(model=MODEL, src=src).name)
    assert first.dest.inlined_responses[0].error.code == 14  # UNAVAILABLE, the first time only
    assert again.dest.inlined_responses[0].error is None
    assert again.dest.inlined_responses[0].response.text


def test_bad_requests_are_refused_at_create(server: EmulatorServer, sdk: Any) -> None:
    with pytest.raises(errors.ClientError) as typo:
        sdk.batches.create(model=MODEL, src=[{"contents": "Hello [emulator: eror=500]"}])
    assert typo.value.code == 400 and "unknown emulator directive 'eror'" in typo.value.message
    empty = raw(server, f"models/{MODEL}:batchGenerateContent", "POST", json={"batch": {"inputConfig": {}}})
    assert empty.status_code == 400 and empty.json()["error"]["status"] == "INVALID_ARGUMENT"


# -- list, cancel, delete ----------------------------------------------------------------------------------


def test_list_pages_newest_first(make_emulator: Any) -> None:
    server = make_emulator(batch_rate=0)
    sdk = sdk_client(server.base_url)
    assert list(sdk.batches.list()) == []
    names = [sdk.batches.create(model=MODEL, src=[{"contents": f"Job {i}"}]).name for i in range(5)]
    pager = sdk.batches.list(config={"page_size": 2})
    assert pager.page_size == 2 and len(pager.page) == 2
    assert [j.name for j in pager] == names[::-1]  # every page, newest first
    wire = raw(server, "batches?pageSize=2").json()
    assert [op["name"] for op in wire["operations"]] == names[:2:-1] and wire["nextPageToken"]
    second = raw(server, f"batches?pageSize=2&pageToken={wire['nextPageToken']}").json()
    assert [op["name"] for op in second["operations"]] == names[2:0:-1]
    listed = {j.name: j for j in sdk.batches.list(config={"page_size": 10})}
    assert all(listed[n].model == f"models/{MODEL}" and listed[n].state is not None for n in names)


def test_cancel_stops_a_running_job(make_emulator: Any) -> None:
    server = make_emulator(batch_rate=5)
    sdk = sdk_client(server.base_url)
    job = sdk.batches.create(model=MODEL, src=[{"contents": f"Question {i}"} for i in range(10)])
    deadline = time.monotonic() + 10
    while raw(server, job.name).json()["metadata"]["batchStats"].get("successfulRequestCount") != "2":
        assert time.monotonic() < deadline, "the job never answered two requests"
        time.sleep(0.02)
    sdk.batches.cancel(name=job.name)
    cancelled = sdk.batches.get(name=job.name)
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED and cancelled.done
    assert cancelled.end_time is not None
    answered = len(cancelled.dest.inlined_responses)
    assert 2 <= answered < 10
    time.sleep(0.5)  # nothing more is answered after the cancel
    later = raw(server, job.name).json()
    assert later["metadata"]["state"] == "BATCH_STATE_CANCELLED" and later["done"] is True
    assert len(later["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]) == answered
    assert later["error"]["code"] == 1 and "response" not in later  # google.longrunning: CANCELLED
    sdk.batches.cancel(name=job.name)  # cancelling an ended job changes nothing
    assert sdk.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED


def test_delete_then_404(server: EmulatorServer, sdk: Any) -> None:
    job = sdk.batches.create(model=MODEL, src=[{"contents": "Short question"}])
    wait(sdk, job.name)
    deleted = sdk.batches.delete(name=job.name)
    assert isinstance(deleted, types.DeleteResourceJob)
    with pytest.raises(errors.ClientError) as gone:
        sdk.batches.get(name=job.name)
    assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"
    assert job.name not in [j.name for j in sdk.batches.list(config={"page_size": 100})]
    body = raw(server, job.name).json()
    assert body == {"error": {"code": 404, "message": f"Batch {job.name} not found.", "status": "NOT_FOUND"}}
    for call in (sdk.batches.delete, sdk.batches.cancel):
        with pytest.raises(errors.ClientError) as again:
            call(name=job.name)
        assert again.value.code == 404


def test_unknown_batch_is_404(sdk: Any) -> None:
    with pytest.raises(errors.ClientError) as missing:
        sdk.batches.get(name="batches/doesnotexist")
    assert missing.value.code == 404 and "batches/doesnotexist" in missing.value.message


def test_unknown_model_is_the_interactions_404(sdk: Any) -> None:
    from google.genai import _interactions as ierr

    with pytest.raises(ierr.NotFoundError) as interaction:
        sdk.interactions.create(model="gemini-2.5-flashh", input="Hello")
    with pytest.raises(errors.ClientError) as batch:
        sdk.batches.create(model="gemini-2.5-flashh", src=[{"contents": "Hello"}])
    assert batch.value.code == 404 and batch.value.status == "NOT_FOUND"
    assert batch.value.message == interaction.value.body["error"]["message"]
    assert "Did you mean 'gemini-2.5-flash'?" in batch.value.message


def test_keys_are_required_like_interactions(make_emulator: Any) -> None:
    server = make_emulator(require_key=True, api_keys=frozenset({"good"}))
    body = {
        "batch": {
            "inputConfig": {
                "requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "Hi"}]}]}}]}
            }
        }
    }
    path = f"models/{MODEL}:batchGenerateContent"
    missing = raw(server, path, "POST", json=body, headers={})
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert raw(server, "batches", headers={}).status_code == 401
    bad_client = sdk_client(server.base_url, api_key="bad")
    with pytest.raises(errors.ClientError) as bad:
        bad_client.batches.list()
    assert bad.value.code == 400 and "API key not valid" in bad.value.message
    good = sdk_client(server.base_url, api_key="good")
    job = good.batches.create(model=MODEL, src=[{"contents": "Hi"}])
    assert wait(good, job.name)[0].state == types.JobState.JOB_STATE_SUCCEEDED


def test_the_event_loop_stays_free_while_jobs_run(make_emulator: Any) -> None:
    server = make_emulator(batch_rate=1)  # a worker that slept in the loop would stall it a second a time
    sdk = sdk_client(server.base_url)
    jobs = [sdk.batches.create(model=MODEL, src=[{"contents": f"Question {i}"}] * 3) for i in range(3)]
    started = time.monotonic()
    for number in range(4):
        assert stateless(sdk, f"Tell me a joke about number {number}").output_text
    assert time.monotonic() - started < 0.8
    assert not any(sdk.batches.get(name=job.name).done for job in jobs)


# -- the async client --------------------------------------------------------------------------------------


def test_async_client_create_get_list_cancel_delete(make_emulator: Any) -> None:
    server = make_emulator(batch_rate=20)
    sdk = sdk_client(server.base_url)

    async def flow() -> None:
        batches = sdk.aio.batches
        job = await batches.create(
            model=MODEL, src=[{"contents": "Tell me a joke", "metadata": {"key": "j"}}]
        )
        assert job.state == types.JobState.JOB_STATE_PENDING
        slow = await batches.create(model=MODEL, src=[{"contents": f"Question {i}"} for i in range(40)])
        while not (done := await batches.get(name=job.name)).done:
            await asyncio.sleep(0.02)
        answer = done.dest.inlined_responses[0]
        assert answer.metadata == {"key": "j"} and answer.error is None
        assert answer.response.text == stateless(sdk, "Tell me a joke").output_text
        pager = await batches.list(config={"page_size": 1})
        names = [j.name async for j in pager]
        assert names == [slow.name, job.name]
        await batches.cancel(name=slow.name)
        assert (await batches.get(name=slow.name)).state == types.JobState.JOB_STATE_CANCELLED
        await batches.delete(name=slow.name)
        with pytest.raises(errors.ClientError) as gone:
            await batches.get(name=slow.name)
        assert gone.value.code == 404

    # In its own thread: in the full suite another test's event loop may still run in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, flow()).result(timeout=120)
