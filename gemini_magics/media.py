"""Files and images for a prompt (``--image X`` / ``--file X``), and images a model made (``--save DIR``).

``X`` is a path, an http(s) URL, or the name of a notebook variable holding bytes, a PIL image, a path
(``str``/``pathlib.Path``) or an open binary file. The MIME type is read from the bytes' signature, then
the file name, then the server's ``Content-Type``; text that is no known format goes as ``text/plain``.
URLs are downloaded here, so the MIME type is checked and the emulator sees the same bytes as Gemini.

Inline or by the Files API: parts are sent inline (base64 in the request) unless the backend is Gemini and
their total passes ``inline_limit`` bytes; then the largest go through the Files API (``client.files.upload``)
and the request carries their ``uri``. The emulator has no Files API route, so for the emulator everything
stays inline (``files_api="on"`` also uploads for a URL backend, e.g. a proxy in front of Gemini).
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import Backend

DEFAULT_INLINE_LIMIT = 20_000_000  # bytes of files sent inline in one request
MAX_DOWNLOAD = 100_000_000  # bytes read from one URL
_KINDS = ("image", "audio", "video")
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/x-sh"}
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_EXTENSIONS |= {"audio/wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/flac": "flac"}
_EXTENSIONS |= {"audio/aac": "aac", "audio/mp4": "m4a", "audio/aiff": "aiff", "audio/webm": "webm"}


class MediaError(ValueError):
    """A file that cannot be sent; the message is one line that names it."""


@dataclass
class Media:
    """One file for the prompt: its bytes, MIME type and a label for messages (never its content)."""

    data: bytes
    mime_type: str
    label: str

    @property
    def kind(self) -> str:
        """The content block type: ``image``, ``audio``, ``video`` or ``document``."""
        major = self.mime_type.split("/")[0]
        return major if major in _KINDS else "document"

    def inline(self) -> dict[str, Any]:
        data = base64.b64encode(self.data).decode("ascii")
        return {"type": self.kind, "data": data, "mime_type": self.mime_type}

    def __repr__(self) -> str:
        return f"<Media {self.label}: {self.mime_type}, {len(self.data):,} bytes>"


# -- loading --------------------------------------------------------------------------------------------


def collect(images: tuple[str, ...], files: tuple[str, ...], namespace: Mapping[str, Any]) -> list[Media]:
    """Everything ``--image`` and ``--file`` name, in order; ``--image`` must be an image."""
    out = []
    for spec in images:
        media = load(spec, namespace, "--image")
        if media.kind != "image":
            raise MediaError(f"--image {spec}: is {media.mime_type}, not an image; use --file for it")
        out.append(media)
    out += [load(spec, namespace, "--file") for spec in files]
    return out


def load(spec: str, namespace: Mapping[str, Any], flag: str = "--file") -> Media:
    """A variable of the notebook, a URL or a path (tried in that order)."""
    if spec.isidentifier() and spec in namespace:
        return from_value(namespace[spec], f"{flag} {spec}")
    return from_value(spec, f"{flag} {spec}")


def from_value(value: Any, label: str) -> Media:
    """Bytes, a PIL image, a path or URL string, a ``PathLike`` or a binary file object → ``Media``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _checked(bytes(value), label)
    if is_pil(value):
        return Media(pil_png(value), "image/png", label)
    if isinstance(value, str) and re.match(r"^https?://", value.strip(), re.IGNORECASE):
        return _download(value.strip(), label)
    if isinstance(value, str | os.PathLike):
        return _read(Path(os.fspath(value)).expanduser(), label)
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if not isinstance(data, bytes):
            raise MediaError(f"{label}: the file is open in text mode; open it with 'rb'")
        return _checked(data, label, name=str(getattr(value, "name", "") or ""))
    raise MediaError(f"{label}: a {type(value).__name__} is not a file; use a path, URL, bytes or PIL image")


def _read(path: Path, label: str) -> Media:
    if not path.exists():
        raise MediaError(f"{label}: no such file or notebook variable")
    if path.is_dir():
        raise MediaError(f"{label}: is a folder, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"{label}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    return _checked(data, label, name=path.name)


def _download(url: str, label: str) -> Media:
    request = urllib.request.Request(url, headers={"User-Agent": "gemini-magics"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            data = reply.read(MAX_DOWNLOAD + 1)
            content_type = reply.headers.get_content_type() if reply.headers else None
    except urllib.error.HTTPError as exc:
        raise MediaError(f"{label}: download failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MediaError(f"{label}: download failed ({' '.join(str(reason).split())})") from None
    if len(data) > MAX_DOWNLOAD:
        raise MediaError(f"{label}: larger than {MAX_DOWNLOAD // 1_000_000} MB; download it and use the file")
    name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return _checked(data, label, name=name, content_type=content_type)


def _checked(data: bytes, label: str, name: str = "", content_type: str | None = None) -> Media:
    if not data:
        raise MediaError(f"{label}: is empty")
    mime = sniff(data, name, content_type)
    if mime is None:
        raise MediaError(f"{label}: cannot tell what kind of file this is ({len(data):,} bytes, binary)")
    return Media(data, mime, label)


# -- MIME types ------------------------------------------------------------------------------------------

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"qt  ": "video/quicktime",
         b"M4A ": "audio/mp4", b"3gp4": "video/3gpp", b"3gp5": "video/3gpp"}  # fmt: skip


def sniff(data: bytes, name: str = "", content_type: str | None = None) -> str | None:
    """The MIME type of ``data``: its signature, else its name, else ``content_type``, else text or None."""
    for signature, offset, mime in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return mime
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return _FTYP.get(data[8:12], "video/mp4")
    if data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    guessed = mimetypes.guess_type(name)[0] if name else None
    for mime in (guessed, content_type):
        if mime and mime != "application/octet-stream":
            return _text_type(mime) if _is_text(mime) else mime
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 65536 - 4:  # not just a character cut at the sample's end
            return None
    return "text/plain"


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_TYPES


def _text_type(mime: str) -> str:
    """Text the service reads as documents: CSV, HTML and Markdown keep their type, the rest is plain."""
    return mime if mime in ("text/csv", "text/html", "text/markdown") else "text/plain"


# -- images ------------------------------------------------------------------------------------------------


def is_pil(value: Any) -> bool:
    """A PIL-style image (``save`` and a 2-tuple ``size``), without importing Pillow."""
    if isinstance(value, str | bytes | int | float | type):
        return False
    try:
        size = getattr(value, "size", None)
        return callable(getattr(value, "save", None)) and isinstance(size, tuple) and len(size) == 2
    except Exception:
        return False


def pil_png(image: Any) -> bytes:
    """A PIL image as PNG bytes (modes PNG cannot hold, e.g. CMYK, are converted to RGB)."""
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError, KeyError):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def save_images(images: list[tuple[bytes, str]], directory: str | os.PathLike[str], stem: str) -> list[Path]:
    """Write ``(bytes, mime)`` pairs (images, or audio) as ``DIR/<stem>-<n>.<ext>`` (n from 1); the paths
    written. An unknown image type is written as .png, any other unknown type as .bin."""
    folder = Path(os.fspath(directory)).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (data, mime) in enumerate(images, 1):
        extension = _EXTENSIONS.get(mime) or ("png" if mime.startswith("image/") else "bin")
        path = folder / f"{stem}-{number}.{extension}"
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- sending -----------------------------------------------------------------------------------------------


def plan(media: list[Media], target_kind: str, inline_limit: int, files_api: str = "auto") -> list[bool]:
    """For each part, whether it goes by the Files API: the largest first, until the rest fits inline."""
    uploads = [False] * len(media)
    allowed = (files_api == "on" and target_kind != "emulator") or (
        files_api == "auto" and target_kind == "gemini"
    )
    if not allowed:
        return uploads
    total = sum(len(m.data) for m in media)
    for index in sorted(range(len(media)), key=lambda i: -len(media[i].data)):
        if total <= inline_limit:
            break
        uploads[index] = True
        total -= len(media[index].data)
    return uploads


def blocks(
    media: list[Media], backend: Backend, inline_limit: int = DEFAULT_INLINE_LIMIT, files_api: str = "auto"
) -> list[dict[str, Any]]:
    """Content blocks for ``media``: inline, or uploaded by the Files API where ``plan`` says so."""
    chosen = plan(media, backend.target().kind, inline_limit, files_api)
    return [upload(backend, m) if up else m.inline() for m, up in zip(media, chosen, strict=True)]


def upload(backend: Backend, media: Media, poll: float = 1.0, wait: float = 300.0) -> dict[str, Any]:
    """Upload ``media`` with the SDK's Files API; a content block that refers to it by ``uri``.

    Raises ``BackendError`` (one line, no key) when the service refuses or a file fails processing.
    """
    from .backend import BackendError

    try:
        from google.genai import types

        client = backend.client
        name = media.label.partition(" ")[2] or media.label  # "--image big.png" → "big.png"
        name = (
            name.replace("\\", "/").rstrip("/").rpartition("/")[2] or name
        )  # no local path leaves the machine
        config = types.UploadFileConfig(mime_type=media.mime_type, display_name=name[:500])
        file = client.files.upload(file=io.BytesIO(media.data), config=config)
        deadline = time.monotonic() + wait
        while _state(file) == "PROCESSING" and time.monotonic() < deadline:
            time.sleep(poll)
            file = client.files.get(name=file.name)
    except Exception as exc:
        error = backend.translate(exc)
        if error.status == 404:
            raise BackendError(
                f"{media.label}: Files API upload failed: the backend has no Files API (HTTP 404) — "
                "%config GeminiMagics.files_api = 'off' sends files inline",
                404,
            ) from None
        raise BackendError(f"{media.label}: Files API upload failed: {error}", error.status) from None
    if _state(file) not in ("ACTIVE", "STATE_UNSPECIFIED", "") or not file.uri:
        raise BackendError(f"{media.label}: the Files API did not accept the file (state {_state(file)})")
    return {"type": media.kind, "uri": file.uri, "mime_type": file.mime_type or media.mime_type}


def _state(file: Any) -> str:
    state = getattr(file, "state", None)
    return str(getattr(state, "value", state) or "")
