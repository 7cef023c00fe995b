"""Audio in the Interactions API's steps and deltas, and the bytes a player takes.

``blocks.py`` knows the step shapes but is full; it hands ``audio`` content parts and deltas here and keeps
one line per hook. Like it, this module works on the wire's plain dicts and imports nothing of the project.

Why audio needs its own care: the service's TTS models answer *raw* samples — ``audio/l16`` (16-bit
little-endian PCM, 24 kHz mono; Gemini also labels it ``audio/L16;codec=pcm;rate=24000``) — and G.711
(``audio/alaw``, ``audio/mulaw``) when asked. No browser plays those, so ``AudioBlock.playable`` wraps PCM
in a WAV header and decodes G.711 to 16-bit PCM first; files (WAV, MP3, Ogg, ...) are kept as they came.
A stream sends raw audio in chunks that each play on their own: consecutive chunks of one format are
joined into one block (and, for the rebuilt steps, into one content part), so a streamed answer and a
non-streamed one give the same bytes.
"""

from __future__ import annotations

import array
import base64
import binascii
import io
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SERVICE_RATE = 24_000  # what the service's TTS models produce when a chunk does not say
G711_RATE = 8_000
PCM_TYPES = frozenset({"audio/l16", "audio/pcm", "audio/x-pcm", "audio/raw", "audio/x-raw"})
G711_TYPES = {
    "audio/alaw": "alaw",
    "audio/x-alaw": "alaw",
    "audio/pcma": "alaw",
    "audio/mulaw": "mulaw",
    "audio/x-mulaw": "mulaw",
    "audio/basic": "mulaw",
    "audio/pcmu": "mulaw",
}
# Audio files as the service names them → the MIME type browsers know them by.
FILE_TYPES = {
    "audio/wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg": "audio/mpeg",
    "audio/ogg": "audio/ogg",
    "audio/ogg_opus": "audio/ogg",
    "audio/opus": "audio/ogg",
    "audio/flac": "audio/flac",
    "audio/aac": "audio/aac",
    "audio/m4a": "audio/mp4",
    "audio/mp4": "audio/mp4",
    "audio/aiff": "audio/aiff",
    "audio/webm": "audio/webm",
}


def decode(data: Any) -> bytes:
    """Base64 of the wire (or bytes already) → bytes; ``b""`` when it is no valid base64."""
    if isinstance(data, bytes):
        return data
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        return b""


def parse_mime(mime: Any) -> tuple[str, dict[str, str]]:
    """``"audio/L16;codec=pcm;rate=24000"`` → ``("audio/l16", {"codec": "pcm", "rate": "24000"})``."""
    base, *rest = str(mime or "").split(";")
    params = {}
    for item in rest:
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return base.strip().lower(), params


def _rate(value: Any) -> int | None:
    """A sample rate a WAV header can hold and a player can play, or None (the wire may send anything)."""
    number = _number(value)
    return number if number is not None and 1_000 <= number <= 768_000 else None


def _channels(value: Any) -> int | None:
    number = _number(value)
    return number if number is not None and 1 <= number <= 32 else None


def _number(value: Any) -> int | None:
    try:
        return int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass
class AudioBlock:
    """Audio the model made, as it came (raw samples stay raw); ``playable()`` is what a player takes."""

    data: bytes = b""
    mime_type: str = "audio/l16"
    sample_rate: int | None = None
    channels: int | None = None
    uri: str | None = None

    @property
    def base_type(self) -> str:
        return parse_mime(self.mime_type)[0]

    @property
    def encoding(self) -> str:
        """``pcm``, ``alaw``, ``mulaw`` (raw samples), ``file`` (a format a browser knows) or ``unknown``."""
        base = self.base_type
        if base in PCM_TYPES:
            return "pcm"
        if base in G711_TYPES:
            return G711_TYPES[base]
        return "file" if base in FILE_TYPES else "unknown"

    @property
    def raw(self) -> bool:
        return self.encoding in ("pcm", "alaw", "mulaw")

    @property
    def rate(self) -> int:
        """Samples a second: the block's ``sample_rate``, else the MIME type's ``rate=``, else the default."""
        default = SERVICE_RATE if self.encoding == "pcm" else G711_RATE
        return _rate(self.sample_rate) or _rate(parse_mime(self.mime_type)[1].get("rate")) or default

    @property
    def channel_count(self) -> int:
        return _channels(self.channels) or _channels(parse_mime(self.mime_type)[1].get("channels")) or 1

    @property
    def seconds(self) -> float | None:
        """The duration, when the format tells it (raw samples, WAV); ``None`` otherwise."""
        if self.raw:
            width = 2 if self.encoding == "pcm" else 1
            return len(self.data) // (width * self.channel_count) / self.rate
        if self.base_type in FILE_TYPES and FILE_TYPES[self.base_type] == "audio/wav":
            return wav_seconds(self.data)
        return None

    def playable(self) -> tuple[bytes, str]:
        """``(bytes, MIME type)`` for a player or a file: raw samples as WAV, known files as they are,
        anything else as ``application/octet-stream``."""
        if self.encoding == "pcm":
            return wav(self.data, self.rate, self.channel_count), "audio/wav"
        if self.raw:
            return wav(g711_to_pcm(self.data, self.encoding), self.rate, self.channel_count), "audio/wav"
        return self.data, FILE_TYPES.get(self.base_type, "application/octet-stream")

    def joins(self, delta: dict[str, Any]) -> bool:
        """Whether a streamed chunk continues this block: raw samples of the same format."""
        return self.raw and same_format(
            (self.mime_type, self.sample_rate, self.channels),
            (delta.get("mime_type"), _rate(delta.get("sample_rate")), _channels(delta.get("channels"))),
        )


def same_format(one: tuple[Any, Any, Any], other: tuple[Any, Any, Any]) -> bool:
    return parse_mime(one[0]) == parse_mime(other[0]) and one[1:] == other[1:]


# -- the wire → blocks --------------------------------------------------------------------------------------


def content(part: dict[str, Any]) -> AudioBlock | None:
    """An ``audio`` content part (of a step, or a delta) → ``AudioBlock``; ``None`` for other parts."""
    if part.get("type") != "audio":
        return None
    uri = part.get("uri")
    return AudioBlock(
        decode(part.get("data")),
        str(part.get("mime_type") or "audio/l16"),
        _rate(part.get("sample_rate")),
        _channels(part.get("channels")),
        uri if isinstance(uri, str) and uri else None,
    )


def feed(kind: Any, opened: list[Any], delta: dict[str, Any], append: Callable[[Any], Any]) -> bool:
    """Apply a stream delta this module knows (``audio``) to the blocks of its step; True if shown blocks
    changed. A chunk continuing the step's last audio block is added to it; else it starts a new block
    (``append`` adds it to the answer)."""
    if kind != "audio":
        return False
    last = opened[-1] if opened else None
    if isinstance(last, AudioBlock) and last.joins(delta):
        last.data += decode(delta.get("data"))
        return True
    block = content(delta)
    if block is not None:
        opened.append(append(block))
    return block is not None


def merge_delta(step: dict[str, Any], delta: dict[str, Any]) -> None:
    """Rebuild a step's content from an ``image`` or ``audio`` delta, as the finished interaction has it:
    images append a part; raw audio chunks join the step's last audio part of the same format."""
    parts = step.setdefault("content", [])
    last = parts[-1] if parts and isinstance(parts[-1], dict) else {}
    audio = content({**last, "data": ""})  # the last part's format, if it is audio
    if delta.get("type") == "audio" and audio is not None and audio.joins(delta):
        before, more = str(last.get("data") or ""), str(delta.get("data") or "")
        if before.endswith("=") or len(before) % 4:  # padded: base64 strings do not simply concatenate
            last["data"] = base64.b64encode(decode(before) + decode(more)).decode("ascii")
        else:
            last["data"] = before + more
        return
    parts.append({k: v for k, v in delta.items() if k != "rate"})  # ``rate``: deprecated, ignored


# -- bytes a player takes -----------------------------------------------------------------------------------


def wav(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """16-bit little-endian PCM in a WAV file (a cut-off last frame is dropped)."""
    frame = 2 * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm[: len(pcm) - len(pcm) % frame])
    return buffer.getvalue()


def wav_seconds(data: bytes) -> float | None:
    """The duration of a WAV file, or ``None`` when it is not one ``wave`` can read."""
    try:
        with wave.open(io.BytesIO(data), "rb") as file:
            rate = file.getframerate()
            return file.getnframes() / rate if rate else None
    except (wave.Error, EOFError, ValueError):
        return None


def _mulaw(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def _alaw(code: int) -> int:
    code ^= 0x55
    exponent, mantissa = (code & 0x70) >> 4, code & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


_G711 = {name: array.array("h", map(law, range(256))) for name, law in (("mulaw", _mulaw), ("alaw", _alaw))}


def g711_to_pcm(data: bytes, encoding: str) -> bytes:
    """G.711 (``alaw`` or ``mulaw``, one byte a sample) → 16-bit little-endian PCM."""
    table = _G711[encoding]
    samples = array.array("h", (table[byte] for byte in data))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()
