"""The user's variables as the model should see them: name, type, size or shape — bounded, never a full repr.

A model that helps with a notebook needs to know that ``df`` is a 10-million-row DataFrame with columns
``a int64, b float64`` and ``prices`` a dict with keys ``'apple'`` and ``'pear'``; it does not need (and we
must not send) the ten million rows. Every entry here is cut to a character budget, containers are shown
with ``reprlib`` (a few items, then ``...``), and a variable whose *name* suggests a secret (``api_key``,
``token``, ``password``) is shown by its type only. The API key itself is scrubbed by the caller.

Which variables are the user's follows IPython's ``%who``: not private (``_x``), not what IPython put in
the namespace itself (``user_ns_hidden``), and neither modules, functions nor classes.
"""

from __future__ import annotations

import functools
import inspect
import re
import reprlib
import types
from collections.abc import Iterable, Mapping
from typing import Any

from .. import frames

SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:api_?)?key$|secret|token|passw|credential|(?:^|_)auth(?:_|$)|private_?key"
)
_INTERNALS = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
_SCALARS = (bool, int, float, complex, type(None))

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxset = 2, 12, 10, 10, 10
_repr.maxstring, _repr.maxother, _repr.maxlong = 60, 80, 40


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with ``…`` when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def kind(value: Any) -> str:
    """``int``, ``pandas DataFrame``, ``numpy ndarray``: the type as a reader knows it."""
    cls = type(value)
    package = (cls.__module__ or "").split(".")[0]
    return cls.__name__ if package in ("builtins", "") else f"{package} {cls.__name__}"


def user_variables(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> list[str]:
    """The names of the user's own data in ``namespace``, newest definitions first (as ``%who`` sees them)."""
    hidden = hidden or {}
    missing = object()
    names = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in _INTERNALS or hidden.get(name, missing) is value:
            continue
        if isinstance(value, types.ModuleType | type | functools.partial) or inspect.isroutine(value):
            continue
        names.append(name)
    return names[::-1]


def describe(name: str, value: Any, limit: int = 600, rows: int = 5) -> str:
    """``- `name`: what it is`` for a Markdown list, at most ``limit`` characters (a DataFrame's schema and
    first ``rows`` rows on the lines below, indented)."""
    try:
        what = _what(name, value, rows)
    except Exception as exc:  # a property or repr that raises: say what it is, not why
        what = f"{kind(value)} (could not be read: {type(exc).__name__})"
    return clip(f"- `{name}`: {what}", limit)


def describe_all(pairs: Iterable[tuple[str, Any]], limit: int, each: int = 600) -> tuple[list[str], int]:
    """Entries for ``pairs`` while they fit ``limit`` characters in all; (the entries, how many were left
    out)."""
    entries: list[str] = []
    used, pairs = 0, list(pairs)
    for position, (name, value) in enumerate(pairs):
        entry = describe(name, value, min(each, limit - used))
        if used + len(entry) + 1 > limit or len(entry) < len(name) + 8:
            return entries, len(pairs) - position
        entries.append(entry)
        used += len(entry) + 1
    return entries, 0


def _what(name: str, value: Any, rows: int) -> str:
    if SECRET_NAME.search(name):
        return f"{kind(value)} (value not shown: the name suggests a secret)"
    if frames.is_frame(value):
        first, *rest = frames.markdown(value, rows=rows, columns=12).split("\n")
        return "\n".join([first, *("  " + line if line else "" for line in rest)])
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, type):
        return f"class {value.__qualname__}"
    if inspect.isroutine(value):
        try:
            signature = str(inspect.signature(value))
        except (TypeError, ValueError):
            signature = "(…)"
        return f"function {getattr(value, '__name__', name)}{clip(signature, 120)}"
    if isinstance(value, str):
        return f"str, {len(value):,} chars: {_repr.repr(value)}"
    if isinstance(value, _SCALARS):
        return f"{kind(value)}: {_repr.repr(value)}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{kind(value)}, {len(value):,} bytes"
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return f"{kind(value)}, {len(value):,} items: {_repr.repr(value)}"
    shaped = _shaped(value)
    if shaped:
        return shaped
    return f"{kind(value)}: {_repr.repr(value)}"


def _shaped(value: Any) -> str:
    """numpy arrays, pandas Series and the like: shape and dtype, and the first values when few."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if not isinstance(shape, tuple) or dtype is None:
        return ""
    size = " × ".join(f"{n:,}" for n in shape) or "scalar"
    text = f"{kind(value)}, shape {size}, dtype {dtype}"
    label = getattr(value, "name", None)
    if isinstance(label, str):
        text += f", name {label!r}"
    head = getattr(value, "head", None)
    try:
        first = head(5).tolist() if callable(head) else value.ravel()[:5].tolist()
    except Exception:
        return text
    more = ", …" if (shape and shape[0] > 5) or len(shape) > 1 else ""
    return f"{text}: {', '.join(frames.cell(v, 30) for v in first)}{more}"
