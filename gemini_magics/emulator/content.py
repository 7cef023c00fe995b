"""Content the fake model produces: text split into deltas, real PNG images, JSON that fits a schema."""

from __future__ import annotations

import base64
import colorsys
import json
import math
import re
import struct
import zlib
from typing import Any

from .engine import Emit
from .turn import STOP_WORDS, Turn

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
    # The colour depends on x + y only: each row is a slice of one diagonal table (fast for large sizes).
    total = width + height
    diagonal = bytes(
        int(a + (b - a) * (s / total)) for s in range(total) for a, b in zip(c1, c2, strict=True)
    )
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        row = diagonal[3 * y : 3 * (y + width)]
        span = [x for x in _disc_span(cx, (y - cy) ** 2, r2, width) if (x - cx) ** 2 + (y - cy) ** 2 <= r2]
        if span:
            row = row[: 3 * span[0]] + b"\xff" * (3 * (span[-1] + 1 - span[0])) + row[3 * (span[-1] + 1) :]
        rows += row
    return encode_png(width, height, bytes(rows))


def encode_png(width: int, height: int, raw: bytes) -> bytes:
    """A PNG file from 8-bit RGB rows, each led by its filter byte (0: none)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _disc_span(cx: float, dy2: float, r2: float, width: int) -> range:
    """The columns that may lie in the disc on a row ``dy2`` (squared) away from its centre."""
    if dy2 > r2:
        return range(0)
    half = math.sqrt(r2 - dy2)
    return range(max(0, math.floor(cx - half) - 1), min(width, math.ceil(cx + half) + 2))


# ``image_size`` is the long side of the service's image; the emulator draws it at a quarter (1K → 256).
_IMAGE_SIDES = {"512": 128, "1K": 256, "2K": 512, "4K": 1024}


def image_dimensions(turn: Turn) -> tuple[int, int]:
    """(width, height) from ``generation_config.image_config`` or a typed image ``response_format``."""
    config = dict(turn.generation_config.get("image_config") or {})
    formats = turn.request.get("response_format")
    for fmt in formats if isinstance(formats, list) else [formats]:
        if isinstance(fmt, dict) and fmt.get("type") == "image":
            config.update({k: fmt[k] for k in ("aspect_ratio", "image_size") if fmt.get(k)})
    side = _IMAGE_SIDES.get(str(config.get("image_size") or "1K").upper(), 256)
    ratio = re.fullmatch(r"(\d+):(\d+)", str(config.get("aspect_ratio") or "1:1"))
    w, h = (int(ratio.group(1)), int(ratio.group(2))) if ratio and "0" not in ratio.groups() else (1, 1)
    return (side, max(1, round(side * h / w))) if w >= h else (max(1, round(side * w / h)), side)


def image_output(turn: Turn) -> Emit:
    """An image model's answer: one sentence and a PNG that depends on the prompt (sized by its config)."""
    data = b64(png(*image_dimensions(turn), turn.seed()))
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
        dicts = [f for f in fmt if isinstance(f, dict)]
        fmt = next((f for f in dicts if f.get("type") == "text"), dicts[0] if dicts else {})
    schema = fmt if isinstance(fmt, dict) else {}
    # The SDK's ResponseFormat wraps the schema: {"type": "json_schema"?, "schema": {...}} or is the schema.
    for key in ("schema", "json_schema"):
        if isinstance(schema.get(key), dict):
            schema = schema[key]
    if schema.get("type") == "text":  # a bare schema the SDK sent as a text format, its keys inline
        schema = {k: v for k, v in schema.items() if k not in ("type", "mime_type")}
    words = [w.strip(".,:;!?\"'()[]{}") for w in turn.prompt.split()]
    words = [w for w in words if w.isalpha()]
    words = [w for w in words if w.lower() not in STOP_WORDS] or words or ["example"]  # the content words
    value = _instance(schema, schema.get("$defs") or schema.get("definitions") or {}, words, [0])
    return json.dumps(value, ensure_ascii=False, indent=2)


def _instance(
    schema: dict[str, Any],
    defs: dict[str, Any],
    words: list[str],
    counter: list[int],
    refs: tuple = (),
    key: str = "",
) -> Any:
    """A deterministic value valid for ``schema`` (the subset of JSON Schema that structured output uses).

    ``refs`` are the ``$defs`` being expanded: a recursive schema ends where it allows (null, empty list).
    ``key`` is the property being filled (``ingredients[2]`` for an item): names and titles take the
    prompt's words, list items are numbered ("Ingredient 2"), years look like years.
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in refs:
            return None
        return _instance(defs.get(name, {}), defs, words, counter, (*refs, name), key)
    for union in ("anyOf", "oneOf"):
        if schema.get(union):
            options = [o for o in schema[union] if o.get("type") != "null"] or schema[union]
            if len(options) < len(schema[union]) and _cyclic(options[0], refs):
                return None
            return _instance(options[0], defs, words, counter, refs, key)
    if schema.get("allOf"):
        return _instance(schema["allOf"][0], defs, words, counter, refs, key)
    if "enum" in schema:
        mentioned = [v for v in schema["enum"] if str(v).lower() in {w.lower() for w in words}]
        return mentioned[0] if mentioned else schema["enum"][counter[0] % len(schema["enum"])]
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
        required = set(schema.get("required") or props)
        return {
            name: _instance(sub, defs, words, counter, refs, name)
            for name, sub in props.items()
            if name in required or not _cyclic(sub, refs)
        }
    if kind == "array":
        if schema.get("prefixItems"):  # tuples: one value per position
            return [_instance(item, defs, words, counter, refs, key) for item in schema["prefixItems"]]
        items = schema.get("items") or {}
        low = int(schema.get("minItems", 0 if _cyclic(items, refs) else 2))
        high = int(schema.get("maxItems", max(low, 3)))
        count = low if _cyclic(items, refs) else min(max(low, 2), high)
        return [_instance(items, defs, words, counter, refs, f"{key}[{i}]") for i in range(1, count + 1)]
    if kind in ("integer", "number"):
        bounded = any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))
        if "year" in key.lower() and kind == "integer" and not bounded:
            return 1950 + 7 * counter[0] % 70
        return _number(schema, counter[0], kind == "integer")
    if kind == "boolean":
        return counter[0] % 2 == 0
    if kind == "null":
        return None
    text = _text_for(key, words, counter[0])
    if schema.get("format") == "date":
        return f"2026-01-{counter[0] % 28 + 1:02d}"
    if schema.get("format") == "date-time":
        return f"2026-01-{counter[0] % 28 + 1:02d}T12:00:00Z"
    if schema.get("format") == "time":
        return f"12:{counter[0] % 60:02d}:00"
    if schema.get("format") == "uuid":
        return f"00000000-0000-4000-8000-{counter[0]:012d}"
    if schema.get("format") in ("uri", "url"):
        return f"https://example.com/{text.lower()}"
    if schema.get("format") == "email":
        return f"{text.lower()}@example.com"
    limit = schema.get("maxLength")
    text = text[:1].upper() + text[1:]
    text = text.ljust(int(schema.get("minLength", 0)), "x")
    return text[: int(limit)] if limit else text


def _text_for(key: str, words: list[str], counter: int) -> str:
    """A string for the property ``key``: the prompt's words for names and titles, numbered list items
    ("Ingredient 2" in ``ingredients``), the property's name and a number for other properties, else one
    word of the prompt."""
    item = re.fullmatch(r"(\w+)\[(\d+)\]", key)
    name = (item.group(1) if item else key).lower()
    if item and name and not re.search(r"name|title", name):
        singular = re.sub(r"ies$", "y", name) if name.endswith("ies") else re.sub(r"(?<=[^s])s$", "", name)
        return f"{singular.replace('_', ' ')} {item.group(2)}"
    if name in ("name", "title", "headline", "topic", "subject") or name.endswith(("_name", "_title")):
        return " ".join(words[:4])
    if name.isidentifier():  # a placeholder that says what it stands for: "author 7"
        return f"{name.replace('_', ' ')} {counter}"
    return words[counter % len(words)].lower()


def _cyclic(schema: dict[str, Any], refs: tuple) -> bool:
    """Whether ``schema`` leads back into a definition that is being expanded (a recursive model)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1] in refs
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return any(_cyclic(o, refs) for o in options if o.get("type") != "null")


def _number(schema: dict[str, Any], counter: int, integer: bool) -> int | float:
    """A number inside the schema's inclusive and exclusive bounds."""
    low, high = schema.get("minimum"), schema.get("maximum")
    x_low, x_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integer:
        lo = math.ceil(low) if low is not None else math.floor(x_low) + 1 if x_low is not None else 0
        hi = math.floor(high) if high is not None else math.ceil(x_high) - 1 if x_high is not None else None
        return lo + counter if hi is None else min(lo + counter, max(hi, lo))
    lo = float(low if low is not None else x_low if x_low is not None else 0)
    hi = high if high is not None else x_high
    value = lo + counter * 1.5
    if hi is not None and (value > hi or (value == hi and high is None)):
        value = (lo + hi) / 2 if lo < hi else float(hi)
    return value
