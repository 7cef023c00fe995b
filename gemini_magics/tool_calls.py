"""Calling a notebook function for the model: the model's arguments converted to the function's type hints,
an async function awaited on a thread of its own (the kernel's loop is busy), and what it returns (or
raises) turned into a ``function_result`` the wire takes. ``tools.py`` declares the functions and runs the
loop; this module knows nothing of requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import inspect
import json
import threading
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any


def type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """``function``'s resolved type hints (a callable object's: its ``__call__``'s); ``{}`` when they cannot
    be resolved (``tools.declare`` describes them, ``invoke`` converts the arguments to them)."""
    target = function if inspect.isroutine(function) else getattr(function, "__call__", function)  # noqa: B004
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        return {}


def invoke(function: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """Call ``function`` with the model's arguments, converted to its type hints (dict → pydantic model,
    str → enum/date, ...). Raises what the function raises, or a ``ValueError`` for invalid arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    hints = type_hints(function)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for key, value in arguments.items():
        parameter = signature.parameters.get(key) if signature else None
        if key in hints and parameter is not None:
            value = _convert(hints[key], value, key)
        if parameter is not None and parameter.kind is parameter.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[key] = value
    value = function(*args, **kwargs)
    if inspect.isawaitable(value):
        value = _await(value)
    return value


def _convert(hint: Any, value: Any, name: str) -> Any:
    import pydantic

    try:
        adapter = pydantic.TypeAdapter(hint)
    except Exception:
        return value  # a hint pydantic cannot check: pass the value as it came
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors()[:3])
        raise ValueError(f"invalid argument {name!r}: {problems}") from None


def _await(awaitable: Any) -> Any:
    """Run an async function's result to completion in a thread of its own (the kernel's loop is busy)."""
    box: dict[str, Any] = {}

    async def wait() -> Any:
        return await awaitable

    def target() -> None:
        try:
            box["value"] = asyncio.run(wait())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="gemini-tool", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def to_wire(value: Any) -> Any:
    """A function's return value as a ``function_result``: text as it is, anything else as a JSON object."""
    if isinstance(value, str):
        return value
    plain = jsonable(value)
    return plain if isinstance(plain, dict) else {"result": plain}


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (pydantic models, dataclasses, enums, dates, sets, numpy...)."""
    return json.loads(json.dumps(value, default=_plain, ensure_ascii=False))


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    for method in ("tolist", "to_dict"):  # numpy arrays and scalars, pandas objects
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:
                break
    return str(value)


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, short enough to send back to the model."""
    message = " ".join(str(exc).split())
    if len(message) > 500:
        message = message[:499] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
