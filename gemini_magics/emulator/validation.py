"""Request strictness: a create body is checked against google-genai's own request types.

The service rejects a field it does not know (top level or nested, e.g. ``generation_config.bogus``) with
a 400 that names it, and a value of the wrong type likewise. Instead of a hand-written list, the body is
validated once per request with the SDK's ``CreateModelInteraction`` / ``CreateAgentInteraction``
models: their ``extra="allow"`` keeps unknown keys in ``__pydantic_extra__`` and their open unions turn
an unknown ``type`` into an ``Unknown…`` variant, so walking the validated tree finds every field the
types do not declare. Upgrading the SDK upgrades the check. Free-form values (JSON schemas, function
arguments) are typed ``Any`` there and are not walked.
"""

from __future__ import annotations

import functools
import typing
from typing import Any


class RequestError(ValueError):
    """A request the service would refuse; the message names the offending field."""


@functools.cache
def _models() -> tuple[Any, Any, Any, Any]:
    import pydantic
    from google.genai._gaos.types import BaseModel
    from google.genai._gaos.types.interactions import createagentinteraction, createmodelinteraction

    return (
        createmodelinteraction.CreateModelInteraction,
        createagentinteraction.CreateAgentInteraction,
        BaseModel,
        pydantic.ValidationError,
    )


def check_create(body: dict[str, Any]) -> None:
    """Raise ``RequestError`` for the first unknown field or ill-typed value of a create body."""
    model_type, agent_type, base, validation_error = _models()
    kind = agent_type if body.get("agent") is not None and body.get("model") is None else model_type
    try:
        parsed = kind.model_validate(body)
    except validation_error as exc:
        raise RequestError(_describe(exc.errors()[0])) from None
    path = _unknown(parsed, base, "")
    if path is not None:
        raise RequestError(path)


def _describe(error: dict[str, Any]) -> str:
    where = _path(error.get("loc") or ())
    value = error.get("input")
    shown = (
        repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    )
    return f"Invalid value at '{where}' ({shown}): {error.get('msg', 'invalid')}."


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part[:1].isupper():  # skip union-variant names pydantic adds
            out += f".{part}" if out else part
    return out or "body"


@functools.cache
def _free_form(annotation: Any, base: type) -> bool:
    """Whether a field's type admits arbitrary JSON (``Any``, a ``Dict``, or a model with no fields):
    pydantic may still have parsed such a value into a typed variant, whose extras are then not errors."""
    annotation = getattr(annotation, "__value__", annotation)  # a TypeAliasType
    if annotation is Any or typing.get_origin(annotation) is dict or annotation is dict:
        return True
    if isinstance(annotation, type) and issubclass(annotation, base):
        return not annotation.model_fields
    return any(_free_form(arg, base) for arg in typing.get_args(annotation) if not isinstance(arg, str))


def _unknown(value: Any, base: type, path: str) -> str | None:
    """The message for the first undeclared field under ``value``, or None."""
    if isinstance(value, base):
        if getattr(value, "is_unknown", False):
            raw = getattr(value, "raw", None)
            kind = raw.get("type") if isinstance(raw, dict) else None
            return f"Invalid value at '{path}.type': unknown type {kind!r}."
        extra = value.__pydantic_extra__ or {}
        if extra:
            name = next(iter(extra))
            return f"Unknown parameter: '{path + '.' if path else ''}{name}'."
        for name, info in type(value).model_fields.items():
            if _free_form(info.annotation, base):
                continue
            found = _unknown(value.__dict__.get(name), base, f"{path}.{name}" if path else name)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unknown(item, base, f"{path}[{index}]")
            if found:
                return found
    return None
