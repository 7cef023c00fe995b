"""What the emulator produced, by the SDK's own types: for tests/conformance/test_type_coverage.py.

The categories are the open unions of google-genai's interactions types (step, delta, annotation, tool,
content, stream event) and the ``Literal`` of ``Interaction.status``, read from the installed SDK.

What counts: a step, event, annotation or content type when the SDK parsed it into that type's own class
and it passes the class's strict validation; a delta type when the wire named it and the SDK parsed the
delta into its class (the service's own deltas may be partial: a search result's carries only ``is_error``,
so no strict validation there; an untyped delta the SDK reads leniently does not count). Annotations and
content blocks only in the emulator's output (``model_output`` steps, deltas), not in the echoed input; a
tool type when a request declaring it was accepted and produced that tool's own ``…_call`` step — or, for
``function``, a call of a declared function and, for ``computer_use`` (no step of its own), a call of a
function the request did not declare. Client-side steps (``user_input``, ``function_result``) count when
the emulator returns them.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import httpx
from google.genai._gaos.types.interactions import (
    annotation,
    content,
    interaction,
    interactionsseevent,
    step,
    stepdeltadata,
    tool,
)
from pydantic import BaseModel, ValidationError

# Category → the SDK's discriminator → class map (the open unions the SDK parses by).
VARIANTS: dict[str, dict[str, type[BaseModel]]] = {
    "step": step._STEP_VARIANTS,
    "delta": stepdeltadata._STEP_DELTA_DATA_VARIANTS,
    "annotation": annotation._ANNOTATION_VARIANTS,
    "tool": tool._TOOL_VARIANTS,
    "content": content._CONTENT_VARIANTS,
    "event": interactionsseevent._INTERACTION_SSE_EVENT_VARIANTS,
}


def _literals(annotation_: object) -> set[str]:
    found: set[str] = set()
    for arg in typing.get_args(annotation_):
        found |= {arg} if isinstance(arg, str) else _literals(arg)
    return found


def sdk_types() -> dict[str, frozenset[str]]:
    """What the installed SDK declares, per category."""
    declared = {category: frozenset(variants) for category, variants in VARIANTS.items()}
    declared["status"] = frozenset(_literals(interaction.InteractionStatus))
    return declared


CATEGORIES = sorted(sdk_types())


class _Tee(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, chunks: list[bytes]) -> None:
        self.inner, self.chunks = inner, chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Tap(httpx.HTTPTransport):
    """The SDK's transport, keeping the bytes of the responses so stream events can be read as sent."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.stream = _Tee(response.stream, self.chunks)  # type: ignore[arg-type]
        return response

    def events(self) -> list[Any]:
        """The SSE events received since ``chunks`` was cleared (without the ``[DONE]`` terminator)."""
        lines = b"".join(self.chunks).decode("utf-8").splitlines()
        data = [line[5:].strip() for line in lines if line.startswith("data:")]
        return [json.loads(item) for item in data if item != "[DONE]"]


def typed_as(obj: Any, category: str, key: str = "type", strict: bool = True) -> str | None:
    """The discriminator of ``obj`` when it is that type's own class (and passes its strict validation)."""
    name = getattr(obj, key, None)
    cls = VARIANTS[category].get(name) if isinstance(name, str) else None
    if cls is None or not isinstance(obj, cls):
        return None
    if not strict:
        return name
    try:
        cls.model_validate(obj.model_dump(mode="json", by_alias=True, exclude_none=True))
    except ValidationError:
        return None
    return name


def walk(obj: Any) -> Iterator[Any]:
    """``obj`` and every parsed object inside it."""
    yield obj
    if isinstance(obj, BaseModel):
        for value in vars(obj).values():  # not getattr: it warns about the SDK's deprecated fields
            yield from walk(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from walk(item)


def collect(objects: list[Any], wire: list[Any], request: dict[str, Any], into: dict[str, set[str]]) -> None:
    """Add the types found in ``objects`` (stream events, then interactions) to ``into``.

    ``wire`` holds the stream's events as sent, one per parsed event: the SDK parses replies leniently
    (an untyped Deep Research text delta becomes an ``ArgumentsDelta``), so a delta counts only when the
    wire named its type too.
    """
    steps: list[Any] = []
    outputs: list[Any] = []  # what the emulator wrote: model_output steps and deltas
    for position, obj in enumerate(objects):
        if typed_as(obj, "event", "event_type"):
            into["event"].add(obj.event_type)
        status = getattr(obj, "status", None) or getattr(getattr(obj, "interaction", None), "status", None)
        if isinstance(status, str):
            into["status"].add(status)
        if isinstance(obj, VARIANTS["event"]["step.start"]):
            steps.append(obj.step)
        elif isinstance(obj, VARIANTS["event"]["step.delta"]):
            sent = wire[position].get("delta", {}).get("type") if position < len(wire) else None
            if (kind := typed_as(obj.delta, "delta", strict=False)) and kind == sent:
                into["delta"].add(kind)
            outputs.append(obj.delta)
        elif isinstance(obj, interaction.Interaction):
            steps += obj.steps or []
    for item in steps:
        if kind := typed_as(item, "step"):
            into["step"].add(kind)
            if kind == "model_output":
                outputs.append(item)
                into["content"] |= {k for block in item.content or [] if (k := typed_as(block, "content"))}
    into["annotation"] |= {k for out in outputs for obj in walk(out) if (k := typed_as(obj, "annotation"))}
    into["tool"] |= tools_evidenced(request, steps)


def tools_evidenced(request: dict[str, Any], steps: list[Any]) -> set[str]:
    """The declared tool types whose work shows in ``steps``: a server tool's own ``…_call`` step; for
    ``function`` a call of a declared function; for ``computer_use`` a call of an undeclared one."""
    declared = {t["type"] for t in request.get("tools") or []}
    names = {t.get("name") for t in request.get("tools") or [] if t["type"] == "function"}
    kinds = {s.type for s in steps if typed_as(s, "step")}
    called = {s.name for s in steps if typed_as(s, "step") == "function_call"}
    server = declared - {"function", "computer_use"}
    found = {t for t in server if any(k.startswith(t) and k.endswith("_call") for k in kinds)}
    if "function" in declared and called & names:
        found.add("function")
    if "computer_use" in declared and called - names:
        found.add("computer_use")
    return found
