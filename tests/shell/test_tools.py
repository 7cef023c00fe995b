"""Tools through real ``%%gemini`` cells against the emulator: notebook functions (``--tool``) and the tool
loop, built-in tools, file search, remote MCP servers (headers never shown), structured output.

What the service received is read back from the in-process emulator's record of each create request, so
the tests see the exact wire: declarations, ``function_result`` steps, ``previous_interaction_id``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_testing import sdk_client
from IPython.utils.capture import capture_output
from mcp_testing import McpTestServer
from shell_checks import failed, ok

from gemini_magics import blocks as b
from gemini_magics import tools
from gemini_magics.chain import ChainStore
from gemini_magics.emulator import EmulatorServer
from gemini_magics.render import static
from gemini_magics.turn import Result

SECRET = "sk-live-0123456789abcdef"

FUNCTIONS = '''
import datetime, enum
from typing import Literal, Optional
import pydantic

calls = []

class Point(pydantic.BaseModel):
    x: float
    y: float = 0.0

class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"

def get_weather(city: str, unit: Literal["c", "f"] = "c", days: Optional[int] = None,
                tags: list[str] | None = None) -> dict:
    """Current weather for a city.

    Args:
        city: the city name
    """
    calls.append(("get_weather", city, unit))
    return {"temp": 21, "unit": unit, "city": city}

def get_time(city: str) -> str:
    """Local time in a city."""
    calls.append(("get_time", city))
    return "12:00"

def plot_point(point: Point, size: Size = Size.SMALL, day: datetime.date = datetime.date(2026, 1, 1)):
    """Plot a point."""
    calls.append(("plot_point", type(point).__name__, point.x, point.y, size, type(day).__name__))
    return point

def get_stock(symbol: str):
    """Price of a stock."""
    calls.append(("get_stock", symbol))
    raise ValueError("market closed")

async def get_news(topic):
    """Headlines about a topic (async, no type hints)."""
    calls.append(("get_news", topic))
    return ["one", "two"]
'''


# -- helpers --------------------------------------------------------------------------------------------


@pytest.fixture
def functions(kernel: Any) -> dict[str, Any]:
    assert kernel.run(FUNCTIONS).success
    return kernel.shell.user_ns


def request(emulator: EmulatorServer, interaction_id: str | None) -> dict[str, Any]:
    assert interaction_id
    record = emulator.emulator.store.get(interaction_id)
    assert record is not None, interaction_id
    return record.request


def requests_of(emulator: EmulatorServer, result: Result, stop: str | None = None) -> list[dict[str, Any]]:
    """The create requests of one turn, oldest first: follow ``previous_interaction_id`` back to ``stop``."""
    out, cursor = [], result.id
    while cursor and cursor != stop:
        body = request(emulator, cursor)
        out.append(body)
        cursor = body.get("previous_interaction_id")
    return out[::-1]


def head(kernel: Any) -> str | None:
    with ChainStore(kernel.db) as store:
        return store.chain(kernel.notebook, store.active_name(kernel.notebook)).head


def chain_statuses(kernel: Any) -> list[str]:
    with ChainStore(kernel.db) as store:
        return [t.status for t in store.chain(kernel.notebook, store.active_name(kernel.notebook)).turns()]


def everything_shown(result: Result) -> str:
    data, metadata = result._repr_mimebundle_()
    return json.dumps([repr(result), data, metadata], default=str)


# -- functions and the tool loop ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_function_is_called_and_the_chain_continues_after_it(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any], stream: str
) -> None:
    before = ok(kernel.run("%%gemini\nHi, my name is Ada."))
    result = ok(kernel.run(f"%%gemini r {stream} --tool get_weather\nWhat is the weather in Paris?"))
    assert functions["calls"] == [("get_weather", "Paris", "c")]
    assert result.status == "completed"
    (call,) = result.function_calls
    assert call.answered and not call.is_error
    assert call.arguments == {"city": "Paris", "unit": "c"}
    assert call.result == {"temp": 21, "unit": "c", "city": "Paris"}
    assert '`get_weather` returned: {"temp": 21, "unit": "c", "city": "Paris"}' in result.text

    first, final = requests_of(emulator, result, stop=before.id)
    assert first["previous_interaction_id"] == before.id
    assert final["previous_interaction_id"] == first_id(emulator, result)
    assert final["input"] == [
        {"type": "function_result", "call_id": call.call_id, "name": "get_weather", "result": call.result}
    ]
    assert final["tools"] == first["tools"] and final["model"] == first["model"]
    # The chain's head is the final interaction: the next cell continues after the tool results.
    assert head(kernel) == result.id
    assert chain_statuses(kernel) == ["completed", "completed"]
    following = ok(kernel.run("%%gemini\nWhat is my name?"))
    assert request(emulator, following.id)["previous_interaction_id"] == result.id
    assert "Ada" in following.text
    shown = static.to_markdown(result.blocks)
    assert "**Function call** `get_weather`" in shown and "**Function result**" in shown


def first_id(emulator: EmulatorServer, result: Result) -> str:
    return request(emulator, result.id)["previous_interaction_id"]


def test_declaration_comes_from_type_hints_and_docstring(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = ok(kernel.run("%%gemini --tool get_weather --tool plot_point\nWhat is the weather in Oslo?"))
    weather, point = requests_of(emulator, result)[0]["tools"]
    assert weather["type"] == "function" and weather["name"] == "get_weather"
    assert weather["description"].startswith("Current weather for a city.")
    params = weather["parameters"]
    assert params["type"] == "object" and params["required"] == ["city"]
    props = params["properties"]
    assert props["city"] == {"type": "string"}
    assert props["unit"]["enum"] == ["c", "f"] and props["unit"]["default"] == "c"
    assert {"type": "integer"} in props["days"]["anyOf"] and {"type": "null"} in props["days"]["anyOf"]
    assert {"items": {"type": "string"}, "type": "array"} in props["tags"]["anyOf"]
    point_props = point["parameters"]["properties"]
    assert point_props["point"]["type"] == "object" and set(point_props["point"]["properties"]) == {"x", "y"}
    assert point_props["size"]["enum"] == ["small", "large"]
    assert point_props["day"]["format"] == "date"
    assert point["parameters"]["required"] == ["point"]


def test_arguments_are_converted_to_the_hints(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = ok(kernel.run("%%gemini --tool plot_point\nPlot point x=3 y=4, size large"))
    assert functions["calls"] == [("plot_point", "Point", 3.0, 4.0, functions["Size"].LARGE, "date")]
    (call,) = result.function_calls
    assert call.result == {"x": 3.0, "y": 4.0}  # a returned model goes back as an object


def test_async_function_without_hints(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = ok(kernel.run("%%gemini --tool get_news\nget news about 'volcanoes'"))
    assert functions["calls"] == [("get_news", "volcanoes")]
    (call,) = result.function_calls
    assert call.result == {"result": ["one", "two"]}
    declared = requests_of(emulator, result)[0]["tools"][0]
    assert declared["parameters"]["properties"] == {"topic": {}} and declared["description"]


def test_parallel_calls_are_all_answered_in_one_step(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = ok(kernel.run("%%gemini --tool get_weather --tool get_time\nGet weather and time in Rome"))
    assert sorted(c[0] for c in functions["calls"]) == ["get_time", "get_weather"]
    first, final = requests_of(emulator, result)  # one round answers both calls
    assert {t["name"] for t in first["tools"]} == {"get_weather", "get_time"}
    answered = {(s["type"], s["name"]) for s in final["input"]}
    assert answered == {("function_result", "get_weather"), ("function_result", "get_time")}
    assert {s["call_id"] for s in final["input"]} == {c.call_id for c in result.function_calls}
    assert "`get_time` returned: 12:00" in result.text and "`get_weather` returned" in result.text


def test_a_raising_function_sends_an_error_result(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = ok(kernel.run("%%gemini --tool get_stock\nGet the stock price of 'GOOG'"))
    assert functions["calls"] == [("get_stock", "GOOG")]
    (call,) = result.function_calls
    assert call.is_error and call.result == "ValueError: market closed"
    (sent,) = requests_of(emulator, result)[-1]["input"]
    assert sent["is_error"] is True and sent["result"] == "ValueError: market closed"
    assert "`get_stock` failed: ValueError: market closed" in result.text
    assert "**Function error**" in static.to_markdown(result.blocks)


def test_runaway_loop_stops_at_the_step_limit(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = ok(kernel.run("%%gemini\nHello"))
    kernel.run("%config GeminiMagics.max_tool_steps = 3")
    run = kernel.run("%%gemini --tool get_time\n[emulator: always_call] What is the time in Lima?")
    message = failed(run, capsys, "stopped after 3 rounds of function calls", "get_time", "max_tool_steps")
    assert "the conversation was not advanced" in message
    assert functions["calls"] == [("get_time", "Lima")] * 3
    assert head(kernel) == before.id
    assert chain_statuses(kernel) == ["completed", "failed"]


def test_step_limit_is_not_hit_by_a_normal_loop(kernel: Any, functions: dict[str, Any]) -> None:
    kernel.run("%config GeminiMagics.max_tool_steps = 1")
    ok(kernel.run("%%gemini --tool get_time\nWhat is the time in Lima?"))


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_no_store_resends_the_whole_conversation(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any], stream: str
) -> None:
    result = ok(kernel.run(f"%%gemini --no-store {stream} --tool get_time\nWhat is the time in Kyiv?"))
    assert functions["calls"] == [("get_time", "Kyiv")]
    assert "`get_time` returned: 12:00" in result.text
    assert emulator.emulator.store.get(result.id) is None  # store=false: the service kept nothing


def test_no_store_runaway_loop_carries_every_round(
    kernel: Any, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run("%config GeminiMagics.max_tool_steps = 3")
    run = kernel.run("%%gemini --no-store --tool get_time\n[emulator: always_call] What is the time in Lima?")
    failed(run, capsys, "stopped after 3 rounds")
    assert functions["calls"] == [("get_time", "Lima")] * 3


def test_calls_and_results_show_as_they_happen(kernel: Any) -> None:
    """With a front end (a kernel), the live view shows each call before it runs and each result as soon
    as it is there: two parallel calls look at what is on screen while they run."""
    magics = kernel.shell.magics_manager.registry["GeminiMagics"]
    magics.runner().live = True
    kernel.run(
        "seen = {}\n"
        "def probe_one(city: str):\n    seen['one'] = on_screen(); return 'first'\n"
        "def probe_two(city: str):\n    seen['two'] = on_screen(); return 'second'\n"
    )
    with capture_output() as captured:
        kernel.shell.user_ns["on_screen"] = lambda: captured.outputs[-1].data.get("text/markdown", "")
        result = ok(kernel.run("%%gemini --tool probe_one --tool probe_two\nProbe 'Paris' one and two"))
    seen = kernel.shell.user_ns["seen"]
    assert "**Function call** `probe_one`" in seen["one"] and '"city": "Paris"' in seen["one"]
    assert "**Function call** `probe_two`" in seen["one"] and "**Function result**" not in seen["one"]
    assert seen["two"].count("**Function result**") == 1 and "first" in seen["two"]
    assert "second" not in seen["two"]
    views = [o.data.get("text/markdown", "") for o in captured.outputs]
    assert any(v.count("**Function result**") == 2 for v in views)
    assert result.status == "completed" and [c.result for c in result.function_calls] == ["first", "second"]


def test_live_view_of_several_rounds(kernel: Any, functions: dict[str, Any]) -> None:
    """Round after round the live view shows each call and result once (3 calls, 2 answered, then the
    step limit)."""
    kernel.shell.magics_manager.registry["GeminiMagics"].runner().live = True
    kernel.run("%config GeminiMagics.max_tool_steps = 2")
    with capture_output() as captured:
        kernel.run("%%gemini --tool get_time\n[emulator: always_call] What is the time in Lima?")
    views = [o.data.get("text/markdown", "") for o in captured.outputs]
    counts = [(v.count("**Function call**"), v.count("**Function result**")) for v in views if v]
    assert counts == sorted(counts)  # each view shows more of the turn, none shows a block twice
    assert counts[-1] == (3, 2)


def test_tool_flag_mistakes_are_one_line(
    kernel: Any, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    failed(kernel.run("%%gemini --tool nowhere\nHi"), capsys, "--tool nowhere", "no such function")
    kernel.run("number = 3\nclass Opaque: pass\ndef takes(x: Opaque): pass")
    failed(kernel.run("%%gemini --tool number\nHi"), capsys, "--tool number", "not a function")
    failed(kernel.run("%%gemini --tool takes\nHi"), capsys, "--tool takes", "cannot describe", "type hints")
    failed(kernel.run("%%gemini --tool get_time --background\nHi"), capsys, "--background")
    assert functions["calls"] == []


# -- built-in tools, file search, MCP --------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_builtin_tools(kernel: Any, emulator: EmulatorServer, stream: str) -> None:
    line = f"%%gemini {stream} --tools google_search,code_execution --tools url_context"
    result = ok(kernel.run(f"{line}\nWhat is 6 * 7? See https://example.com/answer"))
    assert request(emulator, result.id)["tools"] == [
        {"type": "google_search"},
        {"type": "code_execution"},
        {"type": "url_context"},
    ]
    kinds = {type(x).__name__ for x in result.blocks}
    assert {"SearchBlock", "CodeBlock", "UrlContextBlock"} <= kinds
    (code,) = [x for x in result.blocks if isinstance(x, b.CodeBlock)]
    assert code.output is not None and code.output.strip() == "42"
    shown = static.to_markdown(result.blocks)
    assert "**Google Search**" in shown and "**Code execution**" in shown and "**URL context**" in shown


def test_unknown_builtin_tool(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%%gemini --tools google_search,web\nHi"), capsys, "unknown built-in tool 'web'")


def test_file_search_store(kernel: Any, emulator: EmulatorServer) -> None:
    # The stores must exist (the emulator's file search is real): made, and filled, through the SDK.
    sdk = sdk_client(emulator.base_url)
    manuals = sdk.file_search_stores.create(config={"display_name": "manuals"})
    other = sdk.file_search_stores.create(config={"display_name": "x 1"})
    assert manuals.name and other.name
    operation = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=manuals.name,
        file=io.BytesIO(b"To reset the boiler, hold the red button for ten seconds."),
        config={"mime_type": "text/plain", "display_name": "boiler.txt"},
    )
    while not operation.done:
        time.sleep(0.05)
        operation = sdk.operations.get(operation)
    short = manuals.name.removeprefix("fileSearchStores/")  # the magic adds the prefix
    cell = f"%%gemini --file-search {short} --file-search {other.name}\nHow to reset the boiler?"
    result = ok(kernel.run(cell))
    assert request(emulator, result.id)["tools"] == [
        {"type": "file_search", "file_search_store_names": [manuals.name, other.name]}
    ]
    assert "hold the red button for ten seconds" in static.to_markdown(result.blocks)


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpTestServer]:
    """A real MCP server (tests/mcp_testing.py) whose protected tool wants ``Bearer SECRET``."""
    with McpTestServer(token=SECRET) as server:
        yield server


def test_mcp_server_headers_are_sent_and_never_shown(
    kernel: Any, emulator: EmulatorServer, mcp_server: McpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(f"hdrs = {{'Authorization': 'Bearer {SECRET}'}}")
    line = f"%%gemini r --json --mcp kb={mcp_server.url} --mcp-headers hdrs"
    result = ok(kernel.run(f"{line}\nRead my private_notes on 'launch'"))
    assert request(emulator, result.id)["tools"] == [
        {
            "type": "mcp_server",
            "name": "kb",
            "url": mcp_server.url,
            "headers": {"Authorization": f"Bearer {SECRET}"},
        }
    ]
    # The emulator really called the server's tool with the header; the answer shows what it returned.
    assert [(c.tool, c.authorization) for c in mcp_server.calls] == [("private_notes", f"Bearer {SECRET}")]
    assert "ship on Friday" in result.text
    captured = capsys.readouterr()
    assert SECRET not in everything_shown(result) + captured.out + captured.err
    history = kernel.line("history")
    assert SECRET not in str(history.data)
    # Several servers name their headers; mistakes name variables, never values.
    kernel.run("bad = {'Authorization': 12345678}")
    two = "--mcp a=https://a.example/mcp --mcp b=https://b.example/mcp"
    failed(kernel.run(f"%%gemini {two} --mcp-headers hdrs\nHi"), capsys, "NAME=VAR")
    message = failed(kernel.run(f"%%gemini {two} --mcp-headers b=bad\nHi"), capsys, "bad must be a dict")
    assert "12345678" not in message
    failed(kernel.run(f"%%gemini {two} --mcp-headers c=hdrs\nHi"), capsys, "no --mcp server named 'c'")
    failed(kernel.run("%%gemini --mcp github\nHi"), capsys, "NAME=URL")


def test_mcp_secrets_are_scrubbed_from_errors_and_the_interaction() -> None:
    """What the service might echo (its error text, the interaction's ``tools``) loses the header values."""
    from google.genai._gaos.types.interactions import Interaction

    box = tools.prepare(
        _Request(mcp=("gh=https://x.example/mcp",), mcp_headers=("h",)), {"h": {"Authorization": SECRET}}
    )
    assert box is not None and SECRET not in repr(box)
    interaction = Interaction.model_validate(
        {"id": "v1_x", "status": "failed", "tools": [dict(box.specs[0])], "steps": []}
    )
    result = Result("v1_x", "failed", "m", interaction=interaction, error=f"bad header {SECRET}")
    result.notes.append(f"note {SECRET}")
    tools.finish(result, box)
    assert SECRET not in (result.error or "") + " ".join(result.notes)
    assert SECRET not in interaction.model_dump_json()
    assert interaction.tools[0].headers == {"Authorization": "***"}


class _Request:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def test_mcp_steps_render_as_tool_calls() -> None:
    steps = [
        {"type": "mcp_server_tool_call", "id": "m1", "name": "list_repos", "server_name": "github",
         "arguments": {"user": "ada"}},
        {"type": "mcp_server_tool_result", "call_id": "m1", "result": "repo-a, repo-b"},
    ]  # fmt: skip
    (block,) = b.from_steps(steps)
    assert isinstance(block, b.FunctionCallBlock) and block.server == "github" and block.answered
    shown = static.block_markdown(block)
    assert "**MCP tool** `github: list_repos`" in shown and "repo-a, repo-b" in shown


# -- structured output -----------------------------------------------------------------------------------

MODELS = """
import pydantic

class Person(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str]

class Strict(pydantic.BaseModel):
    code: str

    @pydantic.field_validator("code")
    @classmethod
    def upper(cls, value: str) -> str:
        if value != value.upper():
            raise ValueError("code must be upper case")
        return value

people = list[Person]
person_schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                 "required": ["name", "age"]}
"""


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_schema_from_a_pydantic_model(kernel: Any, emulator: EmulatorServer, stream: str) -> None:
    assert kernel.run(MODELS).success
    result = ok(kernel.run(f"%%gemini p {stream} --schema Person\nDescribe Alice"))
    person = kernel.shell.user_ns["Person"]
    assert isinstance(result.parsed, person)
    assert result.json == result.parsed.model_dump()
    fmt = request(emulator, result.id)["response_format"]
    assert fmt == {"type": "text", "mime_type": "application/json", "schema": person.model_json_schema()}


def test_schema_from_a_type_and_a_dict(kernel: Any, emulator: EmulatorServer) -> None:
    assert kernel.run(MODELS).success
    many = ok(kernel.run("%%gemini --schema people\nList people"))
    assert isinstance(many.parsed, list) and many.parsed
    assert all(isinstance(p, kernel.shell.user_ns["Person"]) for p in many.parsed)
    plain = ok(kernel.run("%%gemini --schema person_schema\nDescribe Bob"))
    assert isinstance(plain.parsed, dict) and set(plain.parsed) == {"name", "age"}
    assert request(emulator, plain.id)["response_format"]["schema"] == kernel.shell.user_ns["person_schema"]


def test_structured_answer_shows_as_a_json_block(kernel: Any) -> None:
    from gemini_magics.render import view

    assert kernel.run(MODELS).success
    result = ok(kernel.run("%%gemini --no-stream --schema Person\nDescribe Alice"))
    fenced = "```json\n" + result.text.strip() + "\n```"
    assert result.text.strip().startswith('{\n  "name": "Alice"')
    assert fenced in view.markdown(result)  # not a paragraph of JSON
    plain = ok(kernel.run("%%gemini --no-stream\nDescribe Alice"))
    assert "```json" not in view.markdown(plain)


def test_invalid_structured_output_shows_the_raw_text(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kernel.run(MODELS).success
    before = ok(kernel.run("%%gemini\nHello"))
    run = kernel.run("%%gemini --schema Person\nDescribe Alice [emulator: invalid_json]")
    message = failed(run, capsys, "does not fit --schema Person", "not valid JSON", 'raw text: { "name":')
    assert "the conversation was not advanced" in message
    assert head(kernel) == before.id
    run = kernel.run("%%gemini --schema Strict\nGive a code")
    failed(
        run, capsys, "does not fit --schema Strict", "validation error", "code must be upper case", "raw text"
    )


def test_schema_mistakes(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failed(kernel.run("%%gemini --schema Nobody\nHi"), capsys, "--schema Nobody", "no such variable")
    kernel.run("five = 5")
    failed(kernel.run("%%gemini --schema five\nHi"), capsys, "--schema five", "not a schema")


def test_help_lists_the_new_flags(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kernel.line("help")
    shown = capsys.readouterr().out
    flags = ("--tools", "--file-search", "--mcp", "--mcp-headers", "--tool", "--schema", "--image", "--file")
    for flag in (*flags, "--save"):
        assert flag in shown
