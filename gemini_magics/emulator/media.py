"""Typed output in the fake model: which media a request asks for, and the step that carries them.

A request asks for media with a typed ``response_format`` (``{"type": "audio"|"image"|"video"|"text",
...}`` or a list of them), with ``response_modalities`` (``audio``, ``video``, ``document``), or by its
model family (Lyria models make audio, Omni models make video). The answer is one ``model_output`` step
with a block per kind, in the order asked: text (JSON when a text format has a schema), a PNG (JPEG
when the format says ``image/jpeg``), speech (``speech.py``), an AVI video (``video.py``) or a PDF.
A bare JSON schema as ``response_format`` stays structured output, as before.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import content, speech, video
from .engine import Emit

if TYPE_CHECKING:
    from .turn import Turn

KINDS = ("text", "image", "audio", "video")  # the typed response formats
_MODALITIES = ("audio", "video", "document")  # modalities this module answers (images: content.py)


def formats(turn: Turn) -> list[dict[str, Any]]:
    """The typed response formats of the request, in order (a bare JSON schema is not one)."""
    fmt = turn.request.get("response_format")
    return [
        f for f in (fmt if isinstance(fmt, list) else [fmt]) if isinstance(f, dict) and f.get("type") in KINDS
    ]


def wants_json(turn: Turn) -> bool:
    """Whether the text of the answer is structured output: a bare schema, or a text format with one.

    The SDK sends a bare schema dict as a text format with the schema's keys inline
    (``{"type": "text", "$defs": ..., "$ref": ...}``): any key besides ``type``/``mime_type`` is a schema.
    """
    if turn.request.get("response_format") is None:
        return False
    typed = formats(turn)
    if not typed:
        return True
    if turn.request.get("response_mime_type") == "application/json":
        return True
    return any(
        f.get("mime_type") == "application/json" or set(f) - {"type", "mime_type"}
        for f in typed
        if f["type"] == "text"
    )


def kinds(turn: Turn) -> list[str]:
    """The kinds of content the answer carries when this module answers ([] when it does not)."""
    typed = [f["type"] for f in formats(turn)]
    if any(kind != "text" for kind in typed):
        return list(dict.fromkeys(typed))
    modalities = [str(m).lower() for m in turn.request.get("response_modalities") or []]
    if any(m in _MODALITIES for m in modalities):
        return list(dict.fromkeys(modalities))
    model = str(turn.request.get("model") or "")
    if "lyria" in model:
        return ["audio"]
    if "omni" in model:
        return ["video"]
    return []


def _format(turn: Turn, kind: str) -> dict[str, Any]:
    return next((f for f in formats(turn) if f["type"] == kind), {})


def output(turn: Turn, answer: Callable[[], str]) -> Emit | None:
    """The step for a request that asks for media, or None; ``answer`` gives the model's text."""
    wanted = kinds(turn)
    if not wanted:
        return None
    text: list[str] = []

    def said() -> str:
        if not text:
            text.append(content.structured_json(turn) if wants_json(turn) else answer())
        return text[0]

    blocks: list[dict[str, Any]] = []
    deltas: list[dict[str, Any]] = []
    for kind in wanted:
        if kind == "text":
            blocks.append({"type": "text", "text": said()})
            deltas += content.text_deltas(said(), turn.directives)
        elif kind == "audio":
            spoken = turn.prompt if "lyria" in str(turn.request.get("model")) else said()
            more, streamed = speech.speech(turn, spoken)
            blocks += more
            deltas += streamed
        elif kind in ("image", "video", "document"):
            block = {"image": image_block, "video": video_block, "document": document_block}[kind](turn, said)
            blocks.append(block)
            deltas.append(dict(block))
    return Emit({"type": "model_output", "content": blocks}, deltas=deltas)


def image_block(turn: Turn, said: Callable[[], str]) -> dict[str, Any]:
    """The PNG an image model draws, sized by ``content.image_dimensions``; JPEG when the format asks."""
    data = content.png(*content.image_dimensions(turn), turn.seed())
    if _format(turn, "image").get("mime_type") != "image/jpeg":
        return {"type": "image", "mime_type": "image/png", "data": content.b64(data)}
    from PIL import Image  # a dependency of the package; only needed for JPEG

    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as picture:
        picture.convert("RGB").save(out, "JPEG", quality=85)
    return {"type": "image", "mime_type": "image/jpeg", "data": content.b64(out.getvalue())}


def video_block(turn: Turn, said: Callable[[], str]) -> dict[str, Any]:
    data = video.video_bytes(_format(turn, "video"), turn.seed())
    return {"type": "video", "mime_type": "video/avi", "data": content.b64(data)}


def document_block(turn: Turn, said: Callable[[], str]) -> dict[str, Any]:
    return {"type": "document", "mime_type": "application/pdf", "data": content.b64(pdf(said()))}


# -- PDF -------------------------------------------------------------------------------------------------

_LINES_PER_PAGE = 52
_WIDTH = 90  # characters a line (11 pt Helvetica on A4 with 50 pt margins)


def _wrap(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        words, line = paragraph.split(" "), ""
        for word in words:
            if line and len(line) + 1 + len(word) > _WIDTH:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def _pdf_string(line: str) -> bytes:
    raw = line.encode("cp1252", "replace")
    return b"(" + re.sub(rb"([\\()])", rb"\\\1", raw) + b")"


def pdf(text: str) -> bytes:
    """A real PDF (1.4, Helvetica, A4) holding ``text``, one page per 52 lines."""
    lines = _wrap(text)
    pages = [lines[i : i + _LINES_PER_PAGE] for i in range(0, len(lines), _LINES_PER_PAGE)] or [[]]
    font_id, first_page = 3, 4
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    kids = []
    for number, page in enumerate(pages):
        page_id, stream_id = first_page + 2 * number, first_page + 2 * number + 1
        kids.append(f"{page_id} 0 R".encode())
        body = (
            b"BT /F1 11 Tf 14 TL 50 792 Td "
            + b" T* ".join(_pdf_string(line) + b" Tj" for line in page)
            + b" ET"
        )
        objects[stream_id] = b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font_id, stream_id)
        )
    objects[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(pages)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in sorted(objects))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
