"""Content the fake model produces: text split into deltas, real PNG images, JSON that fits a schema."""

from __future__ import annotations

import base64
import colorsys
import json
import re
import struct
import zlib
from typing import TYPE_CHECKING, Any

from .engine import Emit

if TYPE_CHECKING:
    from .model import Turn

# Text for the security tests of the front end: each payload would run script if rendered as raw HTML.
UNSAFE_HTML = (
    "Here is some **untrusted** output.\n\n"
    "<script>window.__gm_pwned = 'script';</script>\n\n"
    '<img src="x" onerror="window.__gm_pwned = \'onerror\'">\n\n'
    "[Click me](javascript:window.__gm_pwned='link')\n"
)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def text_deltas(text: str, directives: dict[str, str]) -> list[dict[str, Any]]:
    """Split ``text`` the way a model streams: a few words a delta; ``deltas=N`` gives exactly N."""
    wanted = directives.get("deltas")
    if wanted:
        return [{"type": "text", "text": piece} for piece in _counted_pieces(int(wanted))]
    pieces = re.findall(r"\S+\s*|\s+", text)
    chunks = ["".join(pieces[i : i + 3]) for i in range(0, len(pieces), 3)] or [text]
    return [{"type": "text", "text": chunk} for chunk in chunks]


def _counted_pieces(count: int) -> list[str]:
    return [f"word{i} " if (i + 1) % 12 else f"word{i}.\n" for i in range(count)]


def counted_text(count: int) -> str:
    """The full text of an answer streamed as exactly ``count`` deltas (for benchmarks)."""
    return "".join(_counted_pieces(count))


# -- images ---------------------------------------------------------------------------------------


def wants_image(turn: Turn) -> bool:
    model = turn.request.get("model") or ""
    modalities = turn.request.get("response_modalities") or []
    return "image" in model or "image" in modalities


def png(width: int, height: int, seed: int) -> bytes:
    """A real PNG: a diagonal gradient in two colours picked from ``seed``, with a centred disc."""
    hue = (seed % 360) / 360.0
    c1 = [int(255 * v) for v in colorsys.hsv_to_rgb(hue, 0.65, 0.95)]
    c2 = [int(255 * v) for v in colorsys.hsv_to_rgb((hue + 0.35) % 1.0, 0.75, 0.55)]
    cx, cy, r2 = width / 2, height / 2, (min(width, height) / 4) ** 2
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            t = (x + y) / (width + height)
            if (x - cx) ** 2 + (y - cy) ** 2 <= r2:
                rows.extend((255, 255, 255))
            else:
                rows.extend(int(a + (b - a) * t) for a, b in zip(c1, c2, strict=True))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def image_output(turn: Turn) -> Emit:
    """An image model's answer: one sentence and a PNG that depends on the prompt."""
    data = b64(png(256, 256, turn.seed()))
    caption = f"Here is an image for: {turn.prompt[:100]}"
    image = {"type": "image", "mime_type": "image/png", "data": data}
    step = {"type": "model_output", "content": [{"type": "text", "text": caption}, image]}
    deltas = [{"type": "text", "text": caption}, dict(image)]
    return Emit(step, deltas=deltas)


# -- structured output ------------------------------------------------------------------------------


def structured_json(turn: Turn) -> str:
    """JSON text that conforms to the request's ``response_format`` schema, filled from the prompt."""
    fmt = turn.request.get("response_format")
    if isinstance(fmt, list):
        fmt = next((f for f in fmt if isinstance(f, dict)), {})
    schema = fmt if isinstance(fmt, dict) else {}
    # The SDK's ResponseFormat wraps the schema: {"type": "json_schema"?, "schema": {...}} or is the schema.
    for key in ("schema", "json_schema"):
        if isinstance(schema.get(key), dict):
            schema = schema[key]
    words = [w.strip(".,:;!?\"'()[]{}") for w in turn.prompt.split()]
    words = [w for w in words if w.isalpha()] or ["example"]
    value = _instance(schema, schema.get("$defs") or schema.get("definitions") or {}, words, [0])
    return json.dumps(value, ensure_ascii=False, indent=2)


def _instance(schema: dict[str, Any], defs: dict[str, Any], words: list[str], counter: list[int]) -> Any:
    """A deterministic value valid for ``schema`` (the subset of JSON Schema that structured output uses)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _instance(defs.get(name, {}), defs, words, counter)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _instance(options[0], defs, words, counter)
    if schema.get("allOf"):
        return _instance(schema["allOf"][0], defs, words, counter)
    if "enum" in schema:
        return schema["enum"][counter[0] % len(schema["enum"])]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    counter[0] += 1
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _instance(sub, defs, words, counter) for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 2))
        high = int(schema.get("maxItems", max(low, 3)))
        return [
            _instance(schema.get("items") or {}, defs, words, counter) for _ in range(min(max(low, 2), high))
        ]
    if kind == "integer":
        return _bounded(int(schema.get("minimum", 0)) + counter[0], schema, int)
    if kind == "number":
        return _bounded(float(schema.get("minimum", 0)) + counter[0] * 1.5, schema, float)
    if kind == "boolean":
        return counter[0] % 2 == 0
    if kind == "null":
        return None
    text = words[counter[0] % len(words)]
    if schema.get("format") == "date":
        return f"2026-01-{counter[0] % 28 + 1:02d}"
    if schema.get("format") in ("uri", "url"):
        return f"https://example.com/{text.lower()}"
    if schema.get("format") == "email":
        return f"{text.lower()}@example.com"
    limit = schema.get("maxLength")
    text = text.capitalize()
    return text[: int(limit)] if limit else text


def _bounded(value: Any, schema: dict[str, Any], cast: type) -> Any:
    if "maximum" in schema:
        value = min(value, cast(schema["maximum"]))
    return value
