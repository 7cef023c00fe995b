"""Conformance: the fake model's behaviours and every step type, through the real google-genai SDK.

Each behaviour is checked as the SDK returns it from ``create`` and, where streaming matters, rebuilt
from ``step.start``/``step.delta``/``step.stop`` events. Every step, content block and delta must be
one of the SDK's own typed classes (never ``UnknownStep``/``UnknownStepDeltaData``) and must pass the
SDK's strict validation, which the SDK itself skips for server payloads.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import os
import re
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import jsonschema
import pytest
from google.genai import interactions as gi
from google.genai._gaos.types import UnrecognizedStr
from pydantic import BaseModel, Field, ValidationError

from gemini_magics.emulator import EmulatorServer, tooling

MODEL = "gemini-3-flash-preview"
IMAGE_MODELS = ["gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview"]
AGENTS = ["deep-research-pro-preview-12-2025", "deep-research-preview-04-2026"]
SUMMARIES = {"thinking_summaries": "auto"}
RESEARCH_CONFIG = {"type": "deep-research", "thinking_summaries": "auto"}


def function_tool(name: str, parameter: str, description: str) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {parameter: {"type": "string", "description": f"The {parameter}."}},
            "required": [parameter],
        },
    }


WEATHER = function_tool("get_weather", "location", "Current weather at a location.")
TIME = function_tool("get_time", "city", "Local time in a city.")
STOCKS = function_tool("get_stock_price", "ticker", "Latest price of a stock.")


@pytest.fixture(scope="module")
def sdk(emulator: EmulatorServer) -> Any:
    """One real SDK client for the whole module, without retries so that any failure shows."""
    from google import genai
    from google.genai import types

    http = types.HttpOptions(base_url=emulator.base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="test-key", http_options=http)


# -- strict typing --------------------------------------------------------------------------------------


def _no_unknown(value: Any, where: str = "value") -> None:
    """No SDK fallback (``Unknown*`` objects, strings outside an enum) anywhere inside ``value``."""
    if isinstance(value, BaseModel):
        assert not getattr(value, "is_unknown", False), f"the SDK did not recognise {where}: {value!r}"
        assert not type(value).__name__.startswith("Unknown"), f"{where} is {type(value).__name__}"
        for name, item in value.__dict__.items():
            if name not in ("model", "agent"):  # the seed's model IDs need not be among the SDK's literals
                _no_unknown(item, f"{where}.{name}")
    elif isinstance(value, UnrecognizedStr):
        raise AssertionError(f"{where} = {value!r} is not one of the values the SDK knows")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _no_unknown(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_unknown(item, f"{where}[{key!r}]")


def typed(obj: Any, cls: type[BaseModel] | None = None) -> Any:
    """``obj`` is an SDK-typed object (of ``cls``) that also passes the SDK's strict validation."""
    assert isinstance(obj, BaseModel), f"not an SDK object: {obj!r}"
    if cls is not None:
        assert isinstance(obj, cls), f"expected {cls.__name__}, got {type(obj).__name__}: {obj!r}"
    _no_unknown(obj, type(obj).__name__)
    # Server payloads are parsed leniently (a bad known variant is built unvalidated); re-validate strictly.
    try:
        type(obj).model_validate(dump(obj))
    except ValidationError as error:
        if not _streamed_tool_shape(obj, error):
            raise
    return obj


# The service streams a server tool's steps as bare starts ({id|call_id, signature: "", type}) and sends a
# Google Search result without its ``result``: the links reach the client through the answer's annotations
# and ``get`` (real-samples/docs_stream_google_search_plus_function_call.json). The SDK's strict types call
# those fields required; in stream events, and only there, their absence is the service's shape.
STREAMED_WITHOUT_RESULT = {"google_search_result"}


def _streamed_tool_shape(obj: Any, error: ValidationError) -> bool:
    if isinstance(obj, gi.StepStart):
        inner, fields = obj.step, {"arguments", "result"}
    elif isinstance(obj, gi.StepDelta) and getattr(obj.delta, "type", None) in STREAMED_WITHOUT_RESULT:
        inner, fields = obj.delta, {"result"}
    else:
        return False
    kind = str(getattr(inner, "type", ""))
    tool_step = kind.endswith(("_call", "_result")) and kind not in ("function_call", "function_result")
    return tool_step and all(fields & set(map(str, e["loc"])) for e in error.errors())


def dump(obj: BaseModel) -> dict[str, Any]:
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True)


def check_usage(interaction: Any) -> Any:
    """Usage is present and consistent: every part a non-negative int, total = sum of the parts."""
    usage = typed(interaction.usage, gi.Usage)
    parts = [
        usage.total_input_tokens,
        usage.total_output_tokens,
        usage.total_thought_tokens,
        usage.total_tool_use_tokens or 0,
    ]
    assert all(isinstance(p, int) and p >= 0 for p in parts), usage
    assert usage.total_tokens == sum(parts), usage
    assert usage.total_input_tokens > 0 and usage.total_output_tokens > 0, usage
    return usage


def checked(interaction: Any, status: str = "completed") -> Any:
    """An Interaction with the expected status, typed steps and (when finished) consistent usage."""
    assert isinstance(interaction, gi.Interaction), type(interaction)
    assert interaction.status == status, (interaction.status, interaction.errors)
    assert interaction.id and interaction.created and interaction.updated
    for step in interaction.steps or []:
        typed(step)
    for error in interaction.errors or []:
        typed(error, gi.Error)
    if status in ("completed", "requires_action"):
        check_usage(interaction)
    return interaction


def steps_of(interaction: Any, cls: type[BaseModel]) -> list[Any]:
    return [s for s in interaction.steps if isinstance(s, cls)]


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def text_block(interaction: Any) -> Any:
    """The (last) text block of the interaction's last model_output step."""
    output = interaction.steps[-1]
    typed(output, gi.ModelOutputStep)
    return [typed(b, gi.TextContent) for b in output.content if b.type == "text"][-1]


# -- streams --------------------------------------------------------------------------------------------

_EVENTS = (
    gi.InteractionCreatedEvent,
    gi.InteractionStatusUpdate,
    gi.StepStart,
    gi.StepDelta,
    gi.StepStop,
    gi.InteractionCompletedEvent,
    gi.ErrorEvent,
)


@dataclass
class Streamed:
    """What a client sees of a stream, and the steps rebuilt from its events."""

    events: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    interaction_id: str | None = None
    completed: Any = None
    errors: list[Any] = field(default_factory=list)

    def deltas(self, cls: type[BaseModel]) -> list[Any]:
        return [e.delta for e in self.events if isinstance(e, gi.StepDelta) and isinstance(e.delta, cls)]

    def times_of(self, cls: type[BaseModel]) -> list[float]:
        return [
            t
            for e, t in zip(self.events, self.times, strict=True)
            if isinstance(e, gi.StepDelta) and isinstance(e.delta, cls)
        ]

    @property
    def status(self) -> str:
        return self.completed.status

    def interaction(self) -> Any:
        """The rebuilt steps as an SDK Interaction, validated strictly (so they must be well formed).

        Results the service streams without their ``result`` (``STREAMED_WITHOUT_RESULT``) are left out:
        a stream cannot rebuild them; ``get`` returns them whole.
        """
        steps = [
            s for s in self.steps if not (s["type"] in STREAMED_WITHOUT_RESULT and s.get("result") is None)
        ]
        rebuilt = gi.Interaction.model_validate(
            {"id": self.interaction_id, "status": self.status, "steps": steps}
        )
        for step in rebuilt.steps:
            typed(step)
        return rebuilt


def collect(events: Iterable[Any], completes: bool = True) -> Streamed:
    """Read a stream to its end, checking the event grammar and rebuilding every step from its deltas.

    A stream ends with ``interaction.completed`` or (``completes=False``), as the service's failed streams
    do, with an ``error`` event."""
    out = Streamed()
    arguments: dict[int, str] = {}
    open_index: int | None = None
    for event in events:
        out.times.append(time.monotonic())
        out.events.append(event)
        assert isinstance(event, _EVENTS), f"unexpected event {type(event).__name__}: {event!r}"
        assert out.completed is None, f"event after interaction.completed: {event!r}"
        typed(event)
        if isinstance(event, gi.InteractionCreatedEvent):
            assert len(out.events) == 1, "interaction.created must come first"
            out.interaction_id = event.interaction.id
        elif isinstance(event, gi.StepStart):
            assert open_index is None and event.index == len(out.steps), event
            open_index = event.index
            out.steps.append(dump(event.step))
        elif isinstance(event, gi.StepDelta):
            assert event.index == open_index, event
            _apply(out.steps[event.index], dump(event.delta), arguments, event.index)
        elif isinstance(event, gi.StepStop):
            assert event.index == open_index, event
            open_index = None
            if event.index in arguments:
                out.steps[event.index]["arguments"] = json.loads(arguments.pop(event.index))
        elif isinstance(event, gi.InteractionCompletedEvent):
            assert open_index is None, "interaction.completed inside an open step"
            assert event.interaction.id == out.interaction_id
            out.completed = event.interaction
        elif isinstance(event, gi.ErrorEvent):
            out.errors.append(event.error)
    if completes:
        assert out.completed is not None, "the stream ended without interaction.completed"
    else:
        assert out.completed is None and out.errors and out.events[-1] is not None, out.events[-1:]
        assert isinstance(out.events[-1], gi.ErrorEvent), "a failed stream ends with its error event"
    return out


def _apply(step: dict[str, Any], delta: dict[str, Any], arguments: dict[int, str], index: int) -> None:
    kind = delta.pop("type")
    if kind == "text":
        blocks = step.setdefault("content", [])
        if blocks and blocks[-1]["type"] == "text":
            blocks[-1]["text"] += delta["text"]
        else:
            blocks.append({"type": "text", "text": delta["text"]})
    elif kind == "text_annotation_delta":
        block = [b for b in step["content"] if b["type"] == "text"][-1]
        block.setdefault("annotations", []).extend(delta["annotations"])
    elif kind in ("image", "audio", "document", "video"):
        step.setdefault("content", []).append({"type": kind, **delta})
    elif kind == "thought_summary":
        summary = step.setdefault("summary", [])
        part = delta["content"]
        if summary and summary[-1]["type"] == "text" and part["type"] == "text":
            summary[-1]["text"] += part["text"]
        else:
            summary.append(part)
    elif kind == "thought_signature":
        step["signature"] = delta["signature"]
    elif kind == "arguments_delta":
        arguments[index] = arguments.get(index, "") + delta["arguments"]
    else:  # deltas that carry a whole step's fields (code_execution_call, google_search_result, ...)
        step.update(delta)


def stream(sdk: Any, **request: Any) -> Streamed:
    return collect(sdk.interactions.create(stream=True, **request))


def wait_done(sdk: Any, interaction_id: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        interaction = sdk.interactions.get(interaction_id)
        if interaction.status != "in_progress":
            return interaction
        time.sleep(0.05)
    raise AssertionError(f"{interaction_id} still in progress after {timeout} s")


# -- stream and sync agree, for every behaviour ---------------------------------------------------------

SAME_BOTH_WAYS: dict[str, dict[str, Any]] = {
    "text": {"model": MODEL, "input": "Explain photosynthesis in two bullet points"},
    "thought_summary": {"model": MODEL, "input": "Why is the sky blue?", "generation_config": SUMMARIES},
    "minimal_thinking": {
        "model": MODEL,
        "input": "Why is the sky blue?",
        "generation_config": {"thinking_level": "minimal"},
    },
    "image": {"model": IMAGE_MODELS[0], "input": "A lighthouse at dusk"},
    "code_execution": {
        "model": MODEL,
        "input": "What is the sum of the first 20 primes?",
        "tools": [{"type": "code_execution"}],
    },
    "google_search": {"model": MODEL, "input": "Who designed Lisp?", "tools": [{"type": "google_search"}]},
    "url_context": {
        "model": MODEL,
        "input": "Compare https://example.com/guide and https://example.com/404",
        "tools": [{"type": "url_context"}],
    },
    "function_call": {"model": MODEL, "input": "What's the weather in Boston?", "tools": [WEATHER]},
    "structured": {
        "model": MODEL,
        "input": "A city and its population",
        "response_format": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "population": {"type": "integer", "minimum": 1}},
            "required": ["city", "population"],
        },
        "response_mime_type": "application/json",
    },
}


@pytest.mark.parametrize("case", list(SAME_BOTH_WAYS))
def test_stream_rebuilds_the_same_steps_as_create(sdk: Any, case: str) -> None:
    """The steps rebuilt from a stream equal those ``create`` returns for the same (deterministic) request."""
    request = SAME_BOTH_WAYS[case]
    status = "requires_action" if case == "function_call" else "completed"
    sync = checked(sdk.interactions.create(**request), status)
    streamed = stream(sdk, **request)
    assert streamed.status == status
    check_usage(streamed.completed)
    rebuilt = streamed.interaction()
    streamable = [dump(s) for s in sync.steps if s.type not in STREAMED_WITHOUT_RESULT]
    assert [dump(s) for s in rebuilt.steps] == streamable
    assert rebuilt.output_text == sync.output_text
    # ...and the stored interaction (get) says the same as the stream.
    stored = checked(sdk.interactions.get(streamed.interaction_id), status)
    assert stored.steps[0].type == "user_input"  # a get lists the stored input too, as the service does
    assert [dump(s) for s in stored.steps[1:]] == [dump(s) for s in sync.steps]
    assert stored.usage == streamed.completed.usage


# -- text ------------------------------------------------------------------------------------------------


def test_markdown_text_answer(sdk: Any) -> None:
    """A plain prompt: a thought step, then a model_output whose text block is Markdown."""
    interaction = checked(sdk.interactions.create(model=MODEL, input="Explain photosynthesis in three tips"))
    assert [s.type for s in interaction.steps] == ["thought", "model_output"]
    text = text_block(interaction).text
    assert interaction.output_text == text
    assert re.search(r"^- ", text, re.MULTILINE), text  # a bullet list
    assert len(re.findall(r"^- ", text, re.MULTILINE)) == 3, text
    assert "**" in text and "photosynthesis" in text.lower()


def test_same_request_same_answer(sdk: Any) -> None:
    first = checked(sdk.interactions.create(model=MODEL, input="Tell me a joke"))
    second = checked(sdk.interactions.create(model=MODEL, input="Tell me a joke"))
    assert first.id != second.id
    assert first.output_text == second.output_text and first.output_text
    assert [dump(s) for s in first.steps] == [dump(s) for s in second.steps]
    other = checked(sdk.interactions.create(model=MODEL, input="Summarise the history of Rome"))
    assert other.output_text != first.output_text


def test_answers_depend_on_the_conversation(sdk: Any) -> None:
    """The Phil example: the model remembers what was said earlier in the chain, and only there."""
    hello = checked(sdk.interactions.create(model=MODEL, input="Hello, my name is Phil"))
    assert "Phil" in hello.output_text
    hobby = checked(
        sdk.interactions.create(model=MODEL, input="I like sailing", previous_interaction_id=hello.id)
    )
    name = checked(
        sdk.interactions.create(model=MODEL, input="What is my name?", previous_interaction_id=hobby.id)
    )
    assert name.previous_interaction_id == hobby.id
    assert "Phil" in name.output_text
    # Without the chain the same question has no answer.
    alone = checked(sdk.interactions.create(model=MODEL, input="What is my name?"))
    assert "Phil" not in alone.output_text
    # A later turn can change what the model knows.
    renamed = checked(
        sdk.interactions.create(
            model=MODEL, input="Actually, my name is Ada", previous_interaction_id=name.id
        )
    )
    asked = checked(
        sdk.interactions.create(model=MODEL, input="So what's my name?", previous_interaction_id=renamed.id)
    )
    assert "Ada" in asked.output_text and "Phil" not in asked.output_text
    recap = checked(
        sdk.interactions.create(
            model=MODEL, input="What did I say earlier?", previous_interaction_id=hobby.id
        )
    )
    assert "Hello, my name is Phil" in recap.output_text and "I like sailing" in recap.output_text
    assert "Ada" not in recap.output_text  # a branch of the chain does not see the other branch


def test_longer_chains_have_more_input_tokens(sdk: Any) -> None:
    previous = None
    inputs = []
    for prompt in ("Hello, my name is Phil", "I like sailing", "Tell me a joke", "What did I say before?"):
        interaction = checked(
            sdk.interactions.create(model=MODEL, input=prompt, previous_interaction_id=previous)
        )
        inputs.append(interaction.usage.total_input_tokens)
        previous = interaction.id
    assert inputs == sorted(inputs) and len(set(inputs)) == len(inputs), inputs


def test_unsafe_html_payloads(sdk: Any) -> None:
    """``[emulator: unsafe_html]`` returns the payloads the front end's security tests need."""
    request = {"model": MODEL, "input": "Show me something [emulator: unsafe_html]"}
    for text in (
        checked(sdk.interactions.create(**request)).output_text,
        stream(sdk, **request).interaction().output_text,
    ):
        assert "<script>" in text
        assert "onerror=" in text
        assert re.search(r"\]\(javascript:", text), text


# -- thoughts --------------------------------------------------------------------------------------------


def test_thought_with_summaries(sdk: Any) -> None:
    request = {"model": MODEL, "input": "Why is the sky blue?", "generation_config": SUMMARIES}
    interaction = checked(sdk.interactions.create(**request))
    thought = typed(interaction.steps[0], gi.ThoughtStep)
    assert thought.signature and base64.b64decode(thought.signature, validate=True)
    summary = [typed(block, gi.TextContent) for block in thought.summary]
    assert len(summary) == 1 and '"Why is the sky blue?"' in summary[0].text  # it is about the prompt
    assert interaction.usage.total_thought_tokens > 0

    streamed = stream(sdk, **request)
    parts = streamed.deltas(gi.ThoughtSummaryDelta)
    assert len(parts) >= 2, parts  # the summary arrives in several pieces
    assert "".join(p.content.text for p in parts) == summary[0].text
    assert [d.signature for d in streamed.deltas(gi.ThoughtSignatureDelta)] == [thought.signature]
    # Thought deltas come before any output text.
    first_text = streamed.times_of(gi.TextDelta)[0]
    assert max(streamed.times_of(gi.ThoughtSummaryDelta)) <= first_text


@pytest.mark.parametrize("config", [None, {"thinking_summaries": "none"}, {"thinking_level": "high"}])
def test_thought_without_summaries_has_only_a_signature(sdk: Any, config: dict[str, str] | None) -> None:
    request = {"model": MODEL, "input": "Why is the sky blue?", "generation_config": config}
    interaction = checked(sdk.interactions.create(**request))
    thought = typed(interaction.steps[0], gi.ThoughtStep)
    assert thought.signature and not thought.summary
    streamed = stream(sdk, **request)
    assert streamed.deltas(gi.ThoughtSummaryDelta) == []
    assert [d.signature for d in streamed.deltas(gi.ThoughtSignatureDelta)] == [thought.signature]


def test_minimal_thinking_has_no_thought_step(sdk: Any) -> None:
    config = {"thinking_level": "minimal", "thinking_summaries": "auto"}
    interaction = checked(
        sdk.interactions.create(model=MODEL, input="Why is the sky blue?", generation_config=config)
    )
    assert [s.type for s in interaction.steps] == ["model_output"]
    assert interaction.usage.total_thought_tokens == 0
    streamed = stream(sdk, model=MODEL, input="Why is the sky blue?", generation_config=config)
    assert [s["type"] for s in streamed.steps] == ["model_output"]
    assert streamed.deltas(gi.ThoughtSummaryDelta) == streamed.deltas(gi.ThoughtSignatureDelta) == []


# -- images ----------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Parse a PNG: check the signature and every chunk's CRC; (width, height, decompressed IDAT)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [k for k, _ in chunks]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    return width, height, pixels


def image_of(interaction: Any) -> bytes:
    image = only([b for b in interaction.steps[-1].content if b.type == "image"])
    typed(image, gi.ImageContent)
    assert image.mime_type == "image/png"
    return base64.b64decode(image.data, validate=True)


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_image_model_returns_a_real_png(sdk: Any, model: str) -> None:
    interaction = checked(sdk.interactions.create(model=model, input="A red fox in the snow"))
    width, height, pixels = decode_png(image_of(interaction))
    assert (width, height) == (256, 256)
    assert len(pixels) == height * (1 + width * 3)  # a filter byte and RGB triples per row
    assert all(pixels[row * (1 + width * 3)] == 0 for row in range(height))  # filter type "none"
    assert len(set(pixels)) > 10  # a picture, not a blank
    # The SDK's shortcut finds the same block; the caption is the output text.
    assert typed(interaction.output_image, gi.ImageContent).data == interaction.steps[-1].content[-1].data
    assert "red fox" in interaction.output_text

    same = checked(sdk.interactions.create(model=model, input="A red fox in the snow"))
    assert image_of(same) == image_of(interaction)
    other = checked(sdk.interactions.create(model=model, input="A blue whale under the sea"))
    assert decode_png(image_of(other))[2] != pixels

    streamed = stream(sdk, model=model, input="A red fox in the snow")
    only(streamed.deltas(gi.ImageDelta))
    assert image_of(streamed.interaction()) == image_of(interaction)


# -- code execution --------------------------------------------------------------------------------------


def code_steps(interaction: Any) -> tuple[Any, Any]:
    call = only(steps_of(interaction, gi.CodeExecutionCallStep))
    result = only(steps_of(interaction, gi.CodeExecutionResultStep))
    assert interaction.steps.index(result) == interaction.steps.index(call) + 1
    assert result.call_id == call.id and call.id
    assert call.arguments.language == "python" and call.arguments.code
    assert isinstance(result.result, str)
    return call, result


def run_code(sdk: Any, prompt: str) -> tuple[Any, Any, Any]:
    interaction = checked(
        sdk.interactions.create(model=MODEL, input=prompt, tools=[{"type": "code_execution"}])
    )
    return interaction, *code_steps(interaction)


def fenced(code: str) -> str:
    return f"Run this:\n```python\n{code}\n```"


def test_code_execution_sum_of_primes(sdk: Any) -> None:
    interaction, call, result = run_code(sdk, "What is the sum of the first 20 primes?")
    assert "prime" in call.arguments.code
    assert result.is_error is False
    assert re.search(r"\b639\b", result.result), result.result
    assert "639" in interaction.output_text
    assert interaction.usage.total_tool_use_tokens > 0


def test_code_execution_runs_pasted_code(sdk: Any) -> None:
    _, call, result = run_code(sdk, fenced("print(6*7)"))
    assert call.arguments.code.strip() == "print(6*7)"
    assert result.result.strip() == "42" and result.is_error is False


def test_code_execution_runs_in_a_separate_isolated_process(sdk: Any) -> None:
    _, _, result = run_code(sdk, fenced("import os, sys\nprint(os.getpid(), sys.flags.isolated)"))
    pid, isolated = result.result.split()
    assert int(pid) != os.getpid() and isolated == "1"


def test_code_execution_error_has_the_traceback(sdk: Any) -> None:
    interaction, _, result = run_code(sdk, fenced("def f():\n    return 1 / 0\n\nf()"))
    assert result.is_error is True
    assert "Traceback (most recent call last)" in result.result
    assert "ZeroDivisionError: division by zero" in result.result
    assert "ZeroDivisionError" in interaction.output_text


def test_code_execution_times_out(sdk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tooling, "CODE_TIME_LIMIT", 0.5)
    started = time.monotonic()
    _, _, result = run_code(sdk, fenced("while True:\n    pass"))
    assert time.monotonic() - started < 5
    assert result.is_error is True
    assert "timed out" in result.result and "0.5" in result.result


# -- Google Search ---------------------------------------------------------------------------------------


def check_citations(block: Any) -> list[Any]:
    """``url_citation`` annotations sit exactly on the ``[n]`` markers, numbered from 1."""
    annotations = [typed(a, gi.URLCitation) for a in block.annotations or []]
    assert annotations, block
    for number, annotation in enumerate(annotations, 1):
        assert block.text[annotation.start_index : annotation.end_index] == f"[{number}]", annotation
        assert re.match(r"https?://\S+$", annotation.url) and annotation.title
    assert len({a.url for a in annotations}) == len(annotations)
    return annotations


def test_google_search(sdk: Any) -> None:
    request = {
        "model": MODEL,
        "input": "Who designed the Lisp language?",
        "tools": [{"type": "google_search"}],
    }
    interaction = checked(sdk.interactions.create(**request))
    call = only(steps_of(interaction, gi.GoogleSearchCallStep))
    result = only(steps_of(interaction, gi.GoogleSearchResultStep))
    assert result.call_id == call.id
    query = only(call.arguments.queries)
    assert "Lisp" in query
    suggestions = typed(only(result.result), gi.GoogleSearchResult).search_suggestions
    block = text_block(interaction)
    annotations = check_citations(block)
    assert len(annotations) >= 2
    for annotation in annotations:  # the rendered search chips link to the cited sources
        assert f'href="{annotation.url}"' in suggestions
    assert interaction.output_text == block.text

    streamed = stream(sdk, **request)
    assert only(streamed.deltas(gi.TextAnnotationDelta)).annotations == block.annotations
    assert check_citations(text_block(streamed.interaction())) == annotations


# -- URL context ----------------------------------------------------------------------------------------


def test_url_context(sdk: Any) -> None:
    urls = ["https://example.com/guide", "https://example.org/missing-404"]
    interaction = checked(
        sdk.interactions.create(
            model=MODEL,
            input=f"Compare {urls[0]} with {urls[1]} please",
            tools=[{"type": "url_context"}],
        )
    )
    call = only(steps_of(interaction, gi.URLContextCallStep))
    result = only(steps_of(interaction, gi.URLContextResultStep))
    assert call.arguments.urls == urls and result.call_id == call.id
    statuses = {typed(r, gi.URLContextResult).url: r.status for r in result.result}
    assert statuses == {urls[0]: "success", urls[1]: "error"}
    assert urls[0] in interaction.output_text and urls[1] not in interaction.output_text


def test_url_context_without_urls_is_not_called(sdk: Any) -> None:
    interaction = checked(
        sdk.interactions.create(model=MODEL, input="Explain caching", tools=[{"type": "url_context"}])
    )
    assert [s.type for s in interaction.steps] == ["thought", "model_output"]


# -- function calling -----------------------------------------------------------------------------------


def test_function_call_round_trip(sdk: Any) -> None:
    tools = [WEATHER, STOCKS]  # the stock tool is irrelevant to the prompt and must not be called
    asked = checked(
        sdk.interactions.create(model=MODEL, input="What's the weather in Boston?", tools=tools),
        "requires_action",
    )
    call = only(steps_of(asked, gi.FunctionCallStep))
    assert call.name == "get_weather" and call.arguments == {"location": "Boston"} and call.id
    assert asked.steps[-1] is call and not steps_of(asked, gi.ModelOutputStep)

    answered = checked(
        sdk.interactions.create(
            model=MODEL,
            previous_interaction_id=asked.id,
            input=[
                {"type": "function_result", "call_id": call.id, "name": call.name, "result": "Sunny, 22 C"}
            ],
            tools=tools,
        )
    )
    assert answered.previous_interaction_id == asked.id
    assert "Sunny, 22 C" in answered.output_text and "get_weather" in answered.output_text
    assert not steps_of(answered, gi.FunctionCallStep)


def test_parallel_function_calls(sdk: Any) -> None:
    asked = checked(
        sdk.interactions.create(
            model=MODEL, input="What's the weather in Paris and the local time there?", tools=[WEATHER, TIME]
        ),
        "requires_action",
    )
    calls = steps_of(asked, gi.FunctionCallStep)
    assert {c.name: c.arguments for c in calls} == {
        "get_weather": {"location": "Paris"},
        "get_time": {"city": "Paris"},
    }
    assert len({c.id for c in calls}) == 2
    assert asked.steps[-2:] == calls  # one step set, nothing after the calls

    results = [
        {"type": "function_result", "call_id": calls[0].id, "name": calls[0].name, "result": {"temp_c": 18}},
        {"type": "function_result", "call_id": calls[1].id, "name": calls[1].name, "result": "14:05"},
    ]
    answered = checked(
        sdk.interactions.create(
            model=MODEL, previous_interaction_id=asked.id, input=results, tools=[WEATHER, TIME]
        )
    )
    assert '"temp_c": 18' in answered.output_text and "14:05" in answered.output_text


def test_one_parallel_call_per_place_the_prompt_lists(sdk: Any) -> None:
    def calls_for(prompt: str) -> list[tuple[str, Any]]:
        asked = sdk.interactions.create(model=MODEL, input=prompt, tools=[WEATHER, TIME, STOCKS])
        calls = steps_of(checked(asked, "requires_action"), gi.FunctionCallStep)
        assert len({c.id for c in calls}) == len(calls)
        return [(c.name, c.arguments) for c in calls]

    assert calls_for("Compare the weather in Paris and in Oslo.") == [
        ("get_weather", {"location": "Paris"}),
        ("get_weather", {"location": "Oslo"}),
    ]
    assert calls_for("What are the weather and the local time in Rome, Lima and Quito?") == [
        ("get_weather", {"location": "Rome"}),
        ("get_weather", {"location": "Lima"}),
        ("get_weather", {"location": "Quito"}),
        ("get_time", {"city": "Rome"}),
        ("get_time", {"city": "Lima"}),
        ("get_time", {"city": "Quito"}),
    ]


def test_function_error_result_is_reflected(sdk: Any) -> None:
    asked = checked(
        sdk.interactions.create(model=MODEL, input="What's the weather in Oslo?", tools=[WEATHER]),
        "requires_action",
    )
    call = only(steps_of(asked, gi.FunctionCallStep))
    failed = {
        "type": "function_result",
        "call_id": call.id,
        "name": call.name,
        "result": "weather service unreachable",
        "is_error": True,
    }
    answered = checked(
        sdk.interactions.create(
            model=MODEL, previous_interaction_id=asked.id, input=[failed], tools=[WEATHER]
        )
    )
    assert "failed" in answered.output_text and "weather service unreachable" in answered.output_text
    assert "returned" not in answered.output_text


def test_function_call_streams_its_arguments(sdk: Any) -> None:
    streamed = stream(sdk, model=MODEL, input="What's the weather in Boston?", tools=[WEATHER])
    assert streamed.status == "requires_action"
    index = next(
        i
        for i, e in enumerate(streamed.events)
        if isinstance(e, gi.StepStart) and e.step.type == "function_call"
    )
    start, delta, stop = streamed.events[index : index + 3]
    typed(start.step, gi.FunctionCallStep)
    assert start.step.name == "get_weather" and start.step.id
    typed(delta.delta, gi.ArgumentsDelta)
    assert json.loads(delta.delta.arguments) == {"location": "Boston"}
    assert isinstance(stop, gi.StepStop) and stop.index == start.index
    rebuilt = only(steps_of(streamed.interaction(), gi.FunctionCallStep))
    assert rebuilt.arguments == {"location": "Boston"}


# -- structured output ----------------------------------------------------------------------------------


class Difficulty(StrEnum):
    easy = "easy"
    medium = "medium"
    hard = "hard"


class Ingredient(BaseModel):
    name: str
    grams: float = Field(gt=0, le=1000)
    optional: bool = False


class RecipeStep(BaseModel):
    number: int = Field(ge=1)
    text: str
    minutes: int | None = None


class Recipe(BaseModel):
    title: str
    servings: int = Field(gt=0, lt=13)
    difficulty: Difficulty
    course: Literal["starter", "main", "dessert"]
    tags: list[str]
    ingredients: list[Ingredient] = Field(min_length=1)
    steps: list[RecipeStep]
    best_before: datetime.date
    published: datetime.datetime
    note: str | None = None
    related: Recipe | None = None  # recursive $ref


def test_structured_output_fits_a_pydantic_model(sdk: Any) -> None:
    schema = Recipe.model_json_schema()
    assert "$defs" in schema  # nested models, enums and the recursive reference live in $defs
    request = {
        "model": MODEL,
        "input": "Give me a pancake recipe",
        "response_format": schema,
        "response_mime_type": "application/json",
    }
    interaction = checked(sdk.interactions.create(**request))
    recipe = Recipe.model_validate_json(interaction.output_text)
    assert recipe.ingredients and recipe.steps and recipe.tags
    jsonschema.validate(json.loads(interaction.output_text), schema)
    assert Recipe.model_validate_json(stream(sdk, **request).interaction().output_text) == recipe


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "shipped", "closed"]},
        "total": {"type": "number", "minimum": 0, "maximum": 500},
        "quantity": {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 20},
        "express": {"type": "boolean"},
        "ship_on": {"type": "string", "format": "date"},
        "contact": {"type": ["string", "null"], "format": "email"},
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
                "required": ["sku", "count"],
            },
        },
        "address": {"$ref": "#/$defs/Address"},
    },
    "required": ["order_id", "status", "total", "quantity", "lines", "address"],
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["street", "zip"],
        }
    },
}


@pytest.mark.parametrize(
    "response_format",
    [ORDER_SCHEMA, {"type": "text", "mime_type": "application/json", "schema": ORDER_SCHEMA}],
    ids=["bare-schema", "text-format"],
)
def test_structured_output_fits_a_json_schema(sdk: Any, response_format: dict[str, Any]) -> None:
    interaction = checked(
        sdk.interactions.create(
            model=MODEL,
            input="An order for three lamps",
            response_format=response_format,
            response_mime_type="application/json",
        )
    )
    value = json.loads(interaction.output_text)
    jsonschema.Draft202012Validator(ORDER_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(value)
    assert set(value) >= set(ORDER_SCHEMA["required"])


class Book(BaseModel):
    title: str
    year: int
    genres: list[str]
    mood: Literal["cheerful", "gloomy"]


def test_structured_values_read_like_the_prompt(sdk: Any) -> None:
    """Names and titles take the prompt's words, list items are numbered, enums follow a mention."""
    prompt = "A gloomy science fiction novel, please."
    interaction = checked(
        sdk.interactions.create(model=MODEL, input=prompt, response_format=Book.model_json_schema())
    )
    book = Book.model_validate_json(interaction.output_text)
    assert book.title == "Gloomy science fiction novel"
    assert book.genres == ["Genre 1", "Genre 2"] and book.mood == "gloomy"
    assert 1900 < book.year < 2030


# -- counted deltas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 7, 2500])
def test_exact_number_of_text_deltas(sdk: Any, count: int) -> None:
    streamed = stream(sdk, model=MODEL, input=f"Stream please [emulator: deltas={count}]")
    assert streamed.status == "completed"
    assert len(streamed.deltas(gi.TextDelta)) == count
    text = streamed.interaction().output_text
    assert text == "".join(d.text for d in streamed.deltas(gi.TextDelta))
    stored = checked(sdk.interactions.get(streamed.interaction_id))
    assert stored.output_text == text and text


# -- Deep Research ----------------------------------------------------------------------------------------


def check_report(interaction: Any) -> None:
    """A Markdown report as Deep Research writes it: ``[cite: N]`` markers, a ``**Sources:**`` list of
    links, and one ``url_citation`` per source (title null) on its first marker, in UTF-8 byte offsets."""
    block = text_block(interaction)
    text = block.text
    assert text.startswith("# ") and "\n## " in text
    body, _, sources = text.partition("**Sources:**\n")
    assert sources, "no Sources list"
    listed = re.findall(r"^(\d+)\. \[([^\]]+)\]\((https?://[^)\s]+)\)$", sources, re.MULTILINE)
    assert [int(n) for n, _, _ in listed] == list(range(1, len(listed) + 1)) and len(listed) >= 2
    cited = {int(n) for marker in re.findall(r"\[cite: ([\d, ]+)\]", body) for n in marker.split(", ")}
    assert cited == set(range(1, len(listed) + 1))
    annotations = [typed(a, gi.URLCitation) for a in block.annotations or []]
    assert [a.url for a in annotations] == [url for _, _, url in listed]
    raw = text.encode()
    for number, annotation in enumerate(annotations, 1):
        marker = raw[annotation.start_index : annotation.end_index].decode()
        assert annotation.title is None and str(number) in re.findall(r"\d+", marker), marker
        assert marker.startswith("[cite: ") and annotation.end_index <= len(body.encode())


@pytest.mark.parametrize("agent", AGENTS)
def test_deep_research_in_the_background(sdk: Any, agent: str) -> None:
    started = sdk.interactions.create(
        agent=agent,
        input="The history of the Lisp language [emulator: duration=0.5]",
        background=True,
        agent_config=RESEARCH_CONFIG,
    )
    checked(started, "in_progress")
    assert started.agent == agent and not started.output_text
    done = checked(wait_done(sdk, started.id))
    thoughts = steps_of(done, gi.ThoughtStep)
    assert len(thoughts) >= 3 and all(t.summary and t.summary[0].text for t in thoughts)
    assert len({t.summary[0].text for t in thoughts}) == len(thoughts)
    assert done.steps[-1].type == "model_output" and done.steps.index(thoughts[-1]) < len(done.steps) - 1
    check_report(done)
    assert "Lisp" in done.output_text


@pytest.mark.parametrize("agent", AGENTS)
def test_deep_research_streams_thoughts_over_time(sdk: Any, agent: str) -> None:
    started = sdk.interactions.create(
        agent=agent,
        input="The history of the Lisp language [emulator: duration=0.5]",
        background=True,
        agent_config=RESEARCH_CONFIG,
    )
    assert started.status == "in_progress"
    # The report's text deltas are untyped, as the service streams them (tests/conformance/test_agents.py):
    # tell thoughts from the report by the step each delta belongs to.
    events, times = [], []
    for event in sdk.interactions.get(started.id, stream=True):
        events.append(event)
        times.append(time.monotonic())
    assert events[-1].event_type == "interaction.completed" and events[-1].interaction.status == "completed"
    kinds = {e.index: e.step.type for e in events if e.event_type == "step.start"}
    deltas = [(kinds[e.index], t) for e, t in zip(events, times, strict=True) if e.event_type == "step.delta"]
    thought_times = [t for kind, t in deltas if kind == "thought"]
    text_times = [t for kind, t in deltas if kind == "model_output"]
    assert len(thought_times) >= 3 and text_times
    assert max(thought_times) <= min(text_times), "thoughts must come before the report"
    assert thought_times[-1] - thought_times[0] >= 0.15, thought_times  # spread over the run, not a burst
    gaps = [b - a for a, b in itertools.pairwise(thought_times)]
    assert sum(g > 0.03 for g in gaps) >= 2, gaps
    check_report(checked(sdk.interactions.get(started.id)))


@pytest.mark.parametrize("agent", AGENTS)
def test_deep_research_failure(sdk: Any, agent: str) -> None:
    started = sdk.interactions.create(
        agent=agent,
        input="Anything [emulator: duration=0.2, fail=boom]",
        background=True,
        agent_config=RESEARCH_CONFIG,
    )
    streamed = collect(sdk.interactions.get(started.id, stream=True), completes=False)
    assert [typed(e, gi.Error).message for e in streamed.errors] == ["boom"]  # the stream's last event
    failed = checked(sdk.interactions.get(started.id), "failed")
    assert [(e.code, e.message) for e in failed.errors] == [("internal_error", "boom")]
    assert not failed.output_text


def test_model_failure_directive(sdk: Any) -> None:
    failed = checked(sdk.interactions.create(model=MODEL, input="Hi [emulator: fail=boom]"), "failed")
    assert failed.errors[0].message == "boom" and not failed.steps
