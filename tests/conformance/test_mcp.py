"""Conformance: the ``mcp_server`` tool really calls a remote MCP server, through the real google-genai SDK.

A local MCP server (``tests/mcp_testing.py``, built with the ``mcp`` package) records every call and the
``Authorization`` header it received, so each test sees what the emulator really did: which tools it
called, with which arguments and headers; what reached the client in steps, stream events and answer.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulator_testing import sdk_client
from google.genai import interactions as gi
from google.genai._interactions_errors import BadRequestError
from mcp_testing import McpTestServer, free_port

from gemini_magics.emulator import EmulatorServer, mcp_tools, tooling
from gemini_magics.emulator.engine import Finish
from gemini_magics.emulator.turn import Turn

MODEL = "gemini-3-flash-preview"
SECRET = "sk-mcp-7f3a9c1e5b2d4f60"


@pytest.fixture(scope="module")
def server() -> Iterator[McpTestServer]:
    with McpTestServer(token=SECRET) as running:
        yield running


@pytest.fixture
def mcp(server: McpTestServer) -> McpTestServer:
    server.calls.clear()
    return server


@pytest.fixture(scope="module")
def sdk(emulator: EmulatorServer) -> Any:
    return sdk_client(emulator.base_url)


def kb(server: McpTestServer, **fields: Any) -> dict[str, Any]:
    """The ``mcp_server`` tool for the test server, with its ``Authorization`` header."""
    spec = {
        "type": "mcp_server",
        "name": "kb",
        "url": server.url,
        "headers": {"Authorization": f"Bearer {SECRET}"},
    }
    return {**spec, **fields}


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def mcp_steps(interaction: Any) -> tuple[list[Any], list[Any]]:
    calls = [s for s in interaction.steps if isinstance(s, gi.MCPServerToolCallStep)]
    results = [s for s in interaction.steps if isinstance(s, gi.MCPServerToolResultStep)]
    return calls, results


def dump(obj: Any) -> dict[str, Any]:
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True)


def strictly(step: Any) -> Any:
    """The step passes the SDK's strict validation of its own type (the SDK skips it for server payloads)."""
    type(step).model_validate(dump(step))
    return step


# -- calls, results, answers ------------------------------------------------------------------------------


def test_the_tool_is_really_called_with_the_headers(sdk: Any, mcp: McpTestServer) -> None:
    interaction = sdk.interactions.create(
        model=MODEL, input="Look up the word 'emulator' for me", tools=[kb(mcp)]
    )
    assert interaction.status == "completed", interaction.errors
    calls, results = mcp_steps(interaction)
    call, result = strictly(only(calls)), strictly(only(results))
    assert (call.name, call.server_name, call.arguments) == ("lookup_word", "kb", {"word": "emulator"})
    assert call.id and result.call_id == call.id
    assert (result.name, result.server_name) == ("lookup_word", "kb")
    assert (
        result.result
        == "emulator: a program that imitates another system so that clients cannot tell them apart"
    )
    assert not getattr(result, "is_error", False)
    # The server really received the call, with the request's header.
    (received,) = mcp.calls
    assert (received.tool, received.arguments) == ("lookup_word", {"word": "emulator"})
    assert received.authorization == f"Bearer {SECRET}"
    # The answer quotes the result; call and result come before it.
    assert result.result in interaction.output_text
    assert "`kb: lookup_word`" in interaction.output_text
    kinds = [s.type for s in interaction.steps]
    assert (
        kinds.index("mcp_server_tool_call")
        < kinds.index("mcp_server_tool_result")
        < kinds.index("model_output")
    )


def test_arguments_come_from_the_tool_schema_and_the_prompt(sdk: Any, mcp: McpTestServer) -> None:
    interaction = sdk.interactions.create(model=MODEL, input="Please add_numbers 2 and 40", tools=[kb(mcp)])
    call = only(mcp_steps(interaction)[0])
    assert call.arguments == {"a": 2, "b": 40}  # integers, as the tool's inputSchema says
    assert only(mcp_steps(interaction)[1]).result == "2 + 40 = 42"
    assert "2 + 40 = 42" in interaction.output_text


def test_streamed_steps_follow_the_service_and_match_create(sdk: Any, mcp: McpTestServer) -> None:
    request = {"model": MODEL, "input": "Look up the word 'protocol'", "tools": [kb(mcp)]}
    events = list(sdk.interactions.create(stream=True, **request))
    starts = {e.index: e.step for e in events if isinstance(e, gi.StepStart)}
    deltas = {e.index: e.delta for e in events if isinstance(e, gi.StepDelta)}
    call_index = only([i for i, s in starts.items() if s.type == "mcp_server_tool_call"])
    result_index = call_index + 1
    # step.start: {id | call_id, signature: "", type} plus the names; arguments and result come as deltas.
    call_start = dump(starts[call_index])
    assert call_start == {
        "type": "mcp_server_tool_call",
        "id": call_start["id"],
        "signature": "",
        "name": "lookup_word",
        "server_name": "kb",
        "arguments": {},
    }
    result_start = dump(starts[result_index])
    assert result_start["call_id"] == call_start["id"] and result_start["signature"] == ""
    assert result_start["type"] == "mcp_server_tool_result" and not result_start.get("result")
    call_delta = strictly(deltas[call_index])
    assert isinstance(call_delta, gi.MCPServerToolCallDelta)
    assert (call_delta.name, call_delta.server_name, call_delta.arguments) == (
        "lookup_word",
        "kb",
        {"word": "protocol"},
    )
    result_delta = strictly(deltas[result_index])
    assert isinstance(result_delta, gi.MCPServerToolResultDelta)
    assert result_delta.result == "protocol: the rules two programs follow to talk to each other"
    completed = events[-1]
    assert isinstance(completed, gi.InteractionCompletedEvent) and completed.interaction.status == "completed"
    # The same request without streaming, and the stored interaction, hold the same MCP steps.
    created = sdk.interactions.create(**request)
    stored = sdk.interactions.get(completed.interaction.id)
    for interaction in (created, stored):
        call, result = (only(steps) for steps in mcp_steps(interaction))
        assert dump(call) == {k: v for k, v in call_start.items() if k != "signature"} | {
            "arguments": {"word": "protocol"}
        }
        assert result.result == result_delta.result and result.call_id == call.id
    assert [c.tool for c in mcp.calls] == ["lookup_word"] * 2


def test_allowed_tools_are_honoured(sdk: Any, mcp: McpTestServer) -> None:
    prompt = "Look up the word 'emulator' and add_numbers 1 and 2"
    both = sdk.interactions.create(model=MODEL, input=prompt, tools=[kb(mcp)])
    assert [c.name for c in mcp_steps(both)[0]] == ["lookup_word", "add_numbers"]
    mcp.calls.clear()
    allowed = [{"mode": "auto", "tools": ["add_numbers"]}]
    one = sdk.interactions.create(model=MODEL, input=prompt, tools=[kb(mcp, allowed_tools=allowed)])
    assert [c.name for c in mcp_steps(one)[0]] == ["add_numbers"]
    assert [c.tool for c in mcp.calls] == ["add_numbers"]  # the disallowed tool was never called
    assert "lookup_word" not in one.output_text
    mcp.calls.clear()
    none = sdk.interactions.create(
        model=MODEL, input=prompt, tools=[kb(mcp, allowed_tools=[{"mode": "none", "tools": ["add_numbers"]}])]
    )
    assert mcp_steps(none) == ([], []) and mcp.calls == []


def test_tool_choice_none_calls_nothing(sdk: Any, mcp: McpTestServer) -> None:
    interaction = sdk.interactions.create(
        model=MODEL,
        input="Look up the word 'emulator'",
        tools=[kb(mcp)],
        generation_config={"tool_choice": "none"},
    )
    assert interaction.status == "completed" and mcp_steps(interaction) == ([], []) and mcp.calls == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_error_is_an_error_result(sdk: Any, mcp: McpTestServer, stream: bool) -> None:
    request = {"model": MODEL, "input": "Make it explode because 'boom'", "tools": [kb(mcp)]}
    if stream:
        events = list(sdk.interactions.create(stream=True, **request))
        delta = only(
            [
                e.delta
                for e in events
                if isinstance(e, gi.StepDelta) and e.delta.type == "mcp_server_tool_result"
            ]
        )
        assert delta.is_error is True and "the tool exploded: boom" in delta.result
        interaction = sdk.interactions.get(events[-1].interaction.id)
    else:
        interaction = sdk.interactions.create(**request)
    assert interaction.status == "completed"
    result = strictly(only(mcp_steps(interaction)[1]))
    assert result.is_error is True and "the tool exploded: boom" in result.result
    assert "`kb: explode` failed" in interaction.output_text
    assert [c.tool for c in mcp.calls] == ["explode"]


def test_a_tool_that_needs_the_header_fails_without_it(sdk: Any, mcp: McpTestServer) -> None:
    prompt = "Read my private_notes on 'launch'"
    bare = sdk.interactions.create(model=MODEL, input=prompt, tools=[kb(mcp, headers={})])
    result = only(mcp_steps(bare)[1])
    assert result.is_error is True and "Authorization" in result.result
    good = sdk.interactions.create(model=MODEL, input=prompt, tools=[kb(mcp)])
    result = only(mcp_steps(good)[1])
    assert not getattr(result, "is_error", False) and "ship on Friday" in result.result
    assert [c.authorization for c in mcp.calls] == [None, f"Bearer {SECRET}"]


def test_a_slow_tool_is_bounded_by_the_time_limit(
    sdk: Any, mcp: McpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_tools, "MCP_TIME_LIMIT", 1.0)
    interaction = sdk.interactions.create(model=MODEL, input="wait_seconds 3", tools=[kb(mcp)])
    result = only(mcp_steps(interaction)[1])
    assert result.is_error is True and "no answer within 1 seconds" in result.result
    assert interaction.status == "completed"


# -- servers that cannot be used -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_unreachable_server_is_a_400_at_create(sdk: Any, mcp: McpTestServer, stream: bool) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(BadRequestError) as caught:
        reply = sdk.interactions.create(
            model=MODEL, input="Look up the word 'x'", tools=[kb(mcp, url=url)], stream=stream
        )
        list(reply)
    error = caught.value
    assert error.status_code == 400 and error.body["error"]["code"] == "invalid_request"  # type: ignore[index]
    message = str(error)
    assert f"MCP server 'kb' at {url}" in message and "handshake failed" in message
    assert SECRET not in message


def test_a_refused_handshake_is_a_400_that_names_the_status() -> None:
    with McpTestServer(token=SECRET, require_auth=True) as guarded, EmulatorServer() as emulator:
        sdk = sdk_client(emulator.base_url)
        wrong = "Bearer wrong-token-0123456789"
        with pytest.raises(BadRequestError) as caught:
            sdk.interactions.create(
                model=MODEL,
                input="Look up the word 'x'",
                tools=[kb(guarded, headers={"Authorization": wrong})],
            )
        assert caught.value.status_code == 400
        assert "HTTP 401" in str(caught.value) and "wrong-token" not in str(caught.value)
        assert guarded.calls == []
        ok = sdk.interactions.create(model=MODEL, input="Look up the word 'emulator'", tools=[kb(guarded)])
        assert only(mcp_steps(ok)[0]).name == "lookup_word" and len(guarded.calls) == 1


def test_a_url_that_is_not_http_is_a_400(sdk: Any, mcp: McpTestServer) -> None:
    with pytest.raises(BadRequestError) as caught:
        sdk.interactions.create(model=MODEL, input="Hi", tools=[kb(mcp, url="ftp://example.com/mcp")])
    assert caught.value.status_code == 400 and "MCP server 'kb'" in str(caught.value)


# -- secrets ---------------------------------------------------------------------------------------------


def test_header_values_never_appear_in_any_response_body(
    emulator: EmulatorServer, mcp: McpTestServer
) -> None:
    """Create (JSON and SSE), get, and errors, read raw: the header value is nowhere, even when echoed."""
    url = f"{emulator.base_url}/v1/interactions"
    prompt = "Run echo_auth, then read my private_notes on 'launch' and look up the word 'emulator'"
    bodies = []
    with httpx.Client(timeout=30) as http:
        for stream in (False, True):
            body = {"model": MODEL, "input": prompt, "tools": [kb(mcp)], "stream": stream}
            reply = http.post(url, json=body, headers={"x-goog-api-key": "k"})
            assert reply.status_code == 200, reply.text
            bodies.append(reply.text)
        created = json.loads(bodies[0])
        bodies.append(http.get(f"{url}/{created['id']}", headers={"x-goog-api-key": "k"}).text)
        bad = {"model": MODEL, "input": "Hi", "tools": [kb(mcp, url=f"http://127.0.0.1:{free_port()}/mcp")]}
        refused = http.post(url, json=bad, headers={"x-goog-api-key": "k"})
        assert refused.status_code == 400
        bodies.append(refused.text)
    assert sorted(c.tool for c in mcp.calls) == sorted(["echo_auth", "private_notes", "lookup_word"] * 2)
    assert all(c.authorization == f"Bearer {SECRET}" for c in mcp.calls)
    for text in bodies:
        assert SECRET not in text
    assert "You sent Authorization: ***" in bodies[0]  # the careless server's echo, scrubbed
    assert "ship on Friday" in bodies[0] and "ship on Friday" in bodies[1]


def test_importing_the_emulator_does_not_import_mcp() -> None:
    """``%load_ext gemini_magics`` and the emulator's modules leave ``mcp`` unimported (it costs a second)."""
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'gemini_magics')\n"
        "assert 'gemini' in shell.magics_manager.magics['cell']\n"
        "from gemini_magics.emulator import app, tooling, mcp_tools\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_cancelling_a_background_interaction_stops_a_running_call(sdk: Any, mcp: McpTestServer) -> None:
    started = time.monotonic()
    running = sdk.interactions.create(model=MODEL, input="wait_seconds 5", tools=[kb(mcp)], background=True)
    deadline = started + 4
    while not mcp.calls and time.monotonic() < deadline:  # the server has the call: it is in flight
        time.sleep(0.02)
    assert [c.tool for c in mcp.calls] == ["wait_seconds"]
    cancelled = sdk.interactions.cancel(running.id)
    assert cancelled.status == "cancelled"
    assert sdk.interactions.get(running.id).status == "cancelled"
    assert time.monotonic() - started < 4  # not held up by the call
    done = sdk.interactions.create(model=MODEL, input="Look up the word 'emulator'", tools=[kb(mcp)])
    assert done.status == "completed"  # the emulator goes on serving


def test_a_server_that_fails_after_the_check_ends_the_interaction_as_failed() -> None:
    """Between the check at create and the run the server may go away: the behaviour ends ``failed``."""
    url = f"http://127.0.0.1:{free_port()}/mcp"
    spec = {"type": "mcp_server", "name": "kb", "url": url, "headers": {"Authorization": f"Bearer {SECRET}"}}
    turn = Turn(request={"tools": [spec]}, input_steps=[], history=[], directives={}, prompt="lookup_word x")

    async def run() -> list[Any]:
        return [item async for item in tooling.run_builtin_tools(turn)]

    # In its own thread: in the full suite another test's event loop may still run in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        (finish,) = pool.submit(asyncio.run, run()).result(timeout=60)
    assert isinstance(finish, Finish) and finish.status == "failed"
    assert finish.error is not None and finish.error["code"] == "invalid_request"
    assert f"MCP server 'kb' at {url}" in finish.error["message"] and SECRET not in finish.error["message"]


def test_the_requests_tool_choice_applies_to_mcp_tools(sdk: Any, mcp: McpTestServer) -> None:
    prompt = "Look up the word 'emulator' and add_numbers 1 and 2"
    only_lookup = {"tool_choice": {"allowed_tools": {"mode": "auto", "tools": ["lookup_word"]}}}
    one = sdk.interactions.create(model=MODEL, input=prompt, tools=[kb(mcp)], generation_config=only_lookup)
    assert [c.name for c in mcp_steps(one)[0]] == ["lookup_word"]
    assert [c.tool for c in mcp.calls] == ["lookup_word"]
    # "any": a call even though the prompt names no tool (the first tool allowed_tools permits).
    mcp.calls.clear()
    forced = sdk.interactions.create(
        model=MODEL,
        input="Hello there",
        tools=[kb(mcp, allowed_tools=[{"tools": ["add_numbers"]}])],
        generation_config={"tool_choice": "any"},
    )
    assert [c.name for c in mcp_steps(forced)[0]] == ["add_numbers"] and len(mcp.calls) == 1


def test_rich_results_keep_their_images(sdk: Any, mcp: McpTestServer) -> None:
    interaction = sdk.interactions.create(model=MODEL, input="draw_square with colour=red", tools=[kb(mcp)])
    result = strictly(only(mcp_steps(interaction)[1]))
    text, image = result.result
    assert isinstance(text, gi.TextContent) and text.text == "A red square"
    assert isinstance(image, gi.ImageContent) and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "A red square" in interaction.output_text
