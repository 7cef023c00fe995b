"""Directives: how a test, a benchmark or a demo asks the emulator for a behaviour or a fault.

One grammar everywhere: ``key=value`` pairs separated by commas (a bare ``key`` means ``key=1``).
They come from, weakest first: the server's ``--fault`` options, the ``x-emulator-directives`` request
header, and ``[emulator: ...]`` written anywhere in the prompt text. The prompt form lets a notebook cell
or a seed sample ask for a fault without touching the client; the emulator strips it from the text the
fake model sees.
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "x-emulator-directives"
_IN_TEXT = re.compile(r"\[emulator:\s*([^\]]*)\]", re.IGNORECASE)

# Every key the emulator understands, with what it does; the README's emulator section lists the same.
KNOWN: dict[str, str] = {
    "error": "fail the create request with this HTTP code (429, 500, 503, 400, ...); `error=503x2` fails "
    "only the first two attempts of the same request",
    "retry_after": "seconds sent in Retry-After with error=429 (default 1)",
    "poll_error": "the next gets of this interaction fail: `poll_error=503x3`",
    "cut": "the first stream of this interaction is cut (connection closed) after N events",
    "stall": "the first stream of this interaction stops sending after N events and hangs",
    "half_resume": "a resumed stream (last_event_id) replays N events and then hangs",
    "rate": "text deltas per second (slow token rate)",
    "deltas": "answer with exactly N text deltas",
    "duration": "seconds an agent runs before its report (default: the server's --agent-seconds)",
    "expire": "seconds after completion at which this interaction expires (404 afterwards)",
    "fail": "end the interaction with status failed and this message",
    "unsafe_html": "answer with text carrying script, onerror and javascript: payloads; search results, URL "
    "context URLs, a research agent's thoughts, report and sources carry them too",
    "always_call": "after function results, call the same functions again (a runaway tool loop); holds for "
    "the whole tool loop of the prompt that says it",
    "invalid_json": "structured output (response_format) is cut in the middle: not valid JSON",
    "continuations": "the answer passes the per-request decode limit N times: N+1 hops, each but the last "
    "ending `requires_continuation` with a `continuation_token`; streamed hops carry checkpoint tokens "
    "(`continuations=0`: checkpoints only)",
    "status": "end the interaction with this status instead: `budget_exceeded` (stops part-way) or `idle`",
    "queue": "seconds the interaction waits with status `queued` before it starts",
    "hop": "with `continuations`: the hop whose stream `cut`/`stall` hit (default 1); they fire once per "
    "answer",
}


def parse(spec: str | None) -> dict[str, str]:
    """``"cut=5, rate=100, unsafe_html"`` → ``{"cut": "5", "rate": "100", "unsafe_html": "1"}``.

    Raises ValueError naming an unknown key, so a typo never silently does nothing.
    """
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        key = key.strip().lower().replace("-", "_")
        if key not in KNOWN:
            raise ValueError(f"unknown emulator directive {key!r}; known: {', '.join(sorted(KNOWN))}")
        value = value.strip() or "1"
        shape = _VALUE_SHAPES.get(key)
        if shape is not None and not shape[0].fullmatch(value):
            raise ValueError(f"invalid value {value!r} for emulator directive {key!r}: expected {shape[1]}")
        out[key] = value
    return out


_CODE = (re.compile(r"[1-5]\d\d(x\d+)?"), "an HTTP status code, optionally xN (e.g. 503x2)")
_COUNT = (re.compile(r"\d+"), "a whole number")
_NUMBER = re.compile(r"\d+(\.\d+)?|\.\d+")
_SECONDS = (_NUMBER, "a number of seconds")
# What each key's value must look like (``fail`` and ``unsafe_html`` take any text).
_VALUE_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "error": _CODE,
    "poll_error": _CODE,
    "retry_after": _SECONDS,
    "cut": _COUNT,
    "stall": _COUNT,
    "half_resume": _COUNT,
    "deltas": _COUNT,
    "rate": (_NUMBER, "deltas per second"),
    "duration": _SECONDS,
    "expire": _SECONDS,
    "continuations": _COUNT,
    "status": (re.compile(r"budget_exceeded|idle"), "budget_exceeded or idle"),
    "queue": _SECONDS,
    "hop": _COUNT,
}


def from_text(text: str) -> tuple[dict[str, str], str]:
    """Directives written in a prompt, and the prompt without them."""
    found: dict[str, str] = {}
    for match in _IN_TEXT.finditer(text):
        found.update(parse(match.group(1)))
    return found, _IN_TEXT.sub("", text).strip()


def count_and_code(value: str) -> tuple[int, int]:
    """``"503x2"`` → ``(503, 2)``; ``"503"`` → ``(503, a very large count)``."""
    code, _, times = value.partition("x")
    return int(code), int(times) if times else 1 << 30


def number(directives: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = directives.get(key)
    return float(value) if value is not None else default
