"""Older and partial wire shapes → the current one, before ``blocks.py`` reads them.

The recorded real exchanges (``tests/real_samples/``) show shapes besides the one google-genai 3.6.1 is
written for, and the magics must render them all as a user expects:

* **pre-GA** (google-genai 1.x era): an interaction's ``outputs`` (content items: ``text``, ``image``,
  ``thought``, ``function_call``, …) instead of ``steps``; stream events ``interaction.start``,
  ``content.start``/``content.delta``/``content.stop`` and ``interaction.complete``;
* **Vertex Agent Platform**: the current steps, but the final event still named ``interaction.complete``;
* **streams whose steps never stop**: ``interaction.completed`` right after a step's last delta (no
  ``step.stop``), which would leave a function call's streamed arguments unparsed;
* **a reply without a status** (the docs elide it): complete when it carries output.

Each is turned into the current shape here, one event or one interaction at a time, so ``blocks.py`` keeps
knowing a single vocabulary. Nothing here imports the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

# Content item types of the pre-GA ``outputs`` that belong in a ``model_output`` step (untyped = text).
_CONTENT = frozenset({"text", "image", "audio", "document", "video", None})
_RENAMED = {"interaction.start": "interaction.created", "interaction.complete": "interaction.completed"}
_STEP_EVENTS = {"content.start": "step.start", "content.delta": "step.delta", "content.stop": "step.stop"}


def current(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The events of one stream in the current shape (see the module docstring)."""
    started: list[int] = []  # step indexes started and not stopped yet, in order
    for event in events:
        kind = event.get("event_type")
        if not isinstance(kind, str):  # not a name (a damaged event): blocks.py shows it as unknown
            yield event
            continue
        kind = _RENAMED.get(kind, kind)
        if kind in _STEP_EVENTS:
            event = _step_event(event, str(kind))
            kind = event["event_type"]
        elif kind != event.get("event_type"):
            event = {**event, "event_type": kind}
        index = event.get("index")
        if kind == "step.start" and isinstance(index, int):
            started.append(index)
        elif kind == "step.stop" and index in started:
            started.remove(index)
        elif kind == "interaction.completed":
            for open_index in started:  # a step the stream never stopped: finish it (its arguments)
                yield {"event_type": "step.stop", "index": open_index}
            started.clear()
        yield event


def _step_event(event: dict[str, Any], kind: str) -> dict[str, Any]:
    """A pre-GA ``content.*`` event as the ``step.*`` event it stands for."""
    out = {k: v for k, v in event.items() if k != "content"}
    out["event_type"] = _STEP_EVENTS[kind]
    if kind == "content.start":
        item = event.get("content") if isinstance(event.get("content"), dict) else {}
        out["step"] = {"type": "model_output"} if _is_content(item.get("type")) else dict(item)
    return out


def steps_of(interaction: Any) -> list[dict[str, Any]]:
    """An SDK ``Interaction``'s steps as dicts; built from its pre-GA ``outputs`` when it has no steps."""
    steps = [plain(s) for s in getattr(interaction, "steps", None) or []]
    if not steps:
        extra = getattr(interaction, "model_extra", None) or {}
        outputs = extra.get("outputs") if isinstance(extra, dict) else None
        steps = steps_from_outputs(outputs) if isinstance(outputs, list) else []
    return _paired(steps)


def _paired(steps: list[Any]) -> list[Any]:
    """A tool call without an ``id`` (elided, as the docs do) takes the ``call_id`` of the next result of
    its tool that answers no call, so the result is shown with its call instead of as an unknown step."""
    ids = {
        _name(s.get("id")) for s in steps if isinstance(s, dict) and str(s.get("type", "")).endswith("_call")
    }
    for n, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, dict) else None
        if not isinstance(kind, str) or not kind.endswith("_call") or step.get("id"):
            continue
        result_kind = kind.removesuffix("_call") + "_result"
        later = [s for s in steps[n + 1 :] if isinstance(s, dict)]
        answers = [_name(s.get("call_id")) for s in later if s.get("type") == result_kind]
        free = next((call_id for call_id in answers if call_id and call_id not in ids), None)
        if free is not None:
            steps[n] = {**step, "id": free}
            ids.add(free)
    return steps


def steps_from_outputs(outputs: list[Any]) -> list[dict[str, Any]]:
    """Pre-GA content items → steps: consecutive text and media items form one ``model_output`` step,
    thoughts and tool calls and results are steps of their own (their fields as they are)."""
    steps: list[dict[str, Any]] = []
    for item in outputs:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if _is_content(kind):
            part = item if kind else {**item, "type": "text"}
            if steps and steps[-1].get("type") == "model_output":
                steps[-1]["content"].append(part)
            else:
                steps.append({"type": "model_output", "content": [part]})
        else:
            steps.append(dict(item))
    return steps


def plain(value: Any) -> Any:
    """An SDK object as JSON-ready data (``model_dump(mode="json")``, Nones left out). A reply the SDK
    parsed without validating can hold a number where a model belongs, which pydantic cannot serialise:
    then its fields are walked one by one, so the rest of the reply is still shown."""
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump(mode="json", exclude_none=True, warnings=False)
        except Exception:  # pydantic's serialisation errors have no common public base
            return {str(k): plain(v) for k, v in value if v is not None}  # fields, then extras
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _is_content(kind: Any) -> bool:
    """A pre-GA item type that belongs in a ``model_output`` step (a damaged ``{}`` type does not)."""
    return kind is None or (isinstance(kind, str) and kind in _CONTENT)


def _name(value: Any) -> str | None:
    """A type, an id: a string or nothing (a damaged reply's ``{}`` or list must not be looked up)."""
    return value if isinstance(value, str) else None


def status_of(interaction: Any, steps: list[dict[str, Any]]) -> str:
    """The interaction's status; a reply without one is complete when it carries output (an answer is
    only returned whole), else failed."""
    status = getattr(interaction, "status", None)
    if status:
        return str(status)
    return "completed" if steps and not getattr(interaction, "errors", None) else "failed"
