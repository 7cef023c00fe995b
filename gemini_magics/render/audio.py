"""The view of audio a model made: a player, and a static fallback that survives in a saved notebook.

In a kernel the answer's widget view shows an ``ipywidgets.Audio`` player. The static Markdown (what a
saved notebook, nbviewer or a JupyterLab without the kernel shows) holds an HTML5 ``<audio controls>``
whose ``src`` is a ``data:`` URI of the audio, followed by one line that says what it is. That HTML is
built here from bytes we decoded ourselves, with a MIME type from our own list, so nothing the service
sent reaches it as markup; JupyterLab's sanitizer keeps ``<audio src>`` in untrusted notebooks. The one
line is for readers without a player (GitHub, a terminal): it is made of numbers and a MIME type reduced
to ``[a-z0-9/.+-]``, so it needs no escaping (this module must not import ``static``, which imports it).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from ..blocks_media import AudioBlock

MAX_EMBEDDED = 8_000_000  # bytes of audio the saved view embeds (about 2.5 minutes of 24 kHz speech)
# What the saved view and the widget play: the types ``AudioBlock.playable`` gives that browsers know.
PLAYABLE = ("audio/wav", "audio/mpeg", "audio/ogg", "audio/flac", "audio/aac", "audio/mp4", "audio/webm")
_RAW = {"pcm": "PCM 16-bit", "alaw": "G.711 A-law", "mulaw": "G.711 µ-law"}
_FILES = {
    "audio/wav": "WAV",
    "audio/mpeg": "MP3",
    "audio/ogg": "Ogg",
    "audio/flac": "FLAC",
    "audio/aac": "AAC",
    "audio/mp4": "MPEG-4 audio",
    "audio/aiff": "AIFF",
    "audio/webm": "WebM",
}
_SAFE_URI = re.compile(r"https?://[A-Za-z0-9._~/?=&%:+,;@!-]+")  # no quotes, parentheses, spaces, $ or \


def _mime(block: AudioBlock) -> str:
    return re.sub(r"[^a-z0-9/.+-]", "", block.base_type)[:40] or "audio"


def _channels(count: int) -> str:
    return {1: "mono", 2: "stereo"}.get(count, f"{count} channels")


def describe(block: AudioBlock) -> str:
    """One line for people: duration, format, sample rate, size (safe as Markdown and as plain text)."""
    parts = []
    seconds = block.seconds
    if seconds is not None:
        parts.append(f"{seconds:.2f} s")
    if block.raw:
        layout = f"{block.rate:,} Hz, {_channels(block.channel_count)}"
        parts.append(f"{_RAW[block.encoding]}, {layout} ({_mime(block)})")
    else:
        playable = block.playable()[1]
        parts.append(f"{_FILES[playable]} ({_mime(block)})" if playable in _FILES else _mime(block))
    if block.data:
        parts.append(f"{len(block.data):,} bytes")
    elif block.uri:
        parts.append("by URI")
    else:
        parts.append("no data")
    return " · ".join(parts)


def markdown(block: AudioBlock, embed: bool = False) -> str:
    """The static view: with ``embed``, a player (``<audio>`` with the audio as a data URI), then one line."""
    line = f"**Audio** · {describe(block)}"
    if block.uri and _SAFE_URI.fullmatch(block.uri):
        line += f" · [audio file]({block.uri})"
    data, mime = block.playable()
    if not (embed and data and mime in PLAYABLE and len(data) <= MAX_EMBEDDED):
        return line
    source = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<audio controls src="{source}"></audio>\n\n{line}'


def players(block: AudioBlock) -> list[Any]:
    """The widget view's player (``ipywidgets.Audio``, not started); none when no browser could play it."""
    data, mime = block.playable()
    if not data or mime not in PLAYABLE:
        return []
    import ipywidgets as w

    return [w.Audio(value=data, format=mime.split("/")[1], autoplay=False, loop=False, controls=True)]


def ipython_audio(block: AudioBlock) -> Any:
    """``IPython.display.Audio`` of the block (what ``Result.audio`` gives): a player in any front end."""
    from IPython.display import Audio

    data, mime = block.playable()
    player = Audio(data=data)
    player.mimetype = mime  # IPython labels bytes as WAV; MP3 or Ogg keep their own type
    return player
