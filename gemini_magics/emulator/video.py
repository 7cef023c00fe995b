"""Real video for the fake model: an uncompressed AVI (``video/avi``) written in pure Python.

An AVI of 24-bit DIB frames is the simplest container every desktop player and ffmpeg read, with no
codec to implement. Each frame is a vertical gradient in colours picked from the prompt with a white
disc that crosses the picture, so the frames differ and different prompts give different videos.

Sizes are the requested resolution scaled to 1/8 (720p 16:9 → 160×90; 360p → 80×45, 1080p → 240×135,
4k → 480×270; 9:16 swaps the sides) at 4 frames a second, for ``duration`` seconds (default 4, at most
8), so an answer stays about a megabyte.
"""

from __future__ import annotations

import colorsys
import math
import re
import struct
from typing import Any

FPS = 4
SCALE = 8
DEFAULT_SECONDS = 4.0
MAX_SECONDS = 8.0
_HEIGHTS = {"360p": 360, "720p": 720, "1080p": 1080, "4k": 2160}


def dimensions(fmt: dict[str, Any]) -> tuple[int, int]:
    """(width, height) for a video response format's ``resolution`` and ``aspect_ratio``."""
    short = _HEIGHTS.get(str(fmt.get("resolution") or "720p").lower(), 720) // SCALE
    long = short * 16 // 9
    return (short, long) if fmt.get("aspect_ratio") == "9:16" else (long, short)


def seconds(fmt: dict[str, Any]) -> float:
    """The ``duration`` asked for ("6s", "6", "6.5s"), within (0, MAX_SECONDS]."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", str(fmt.get("duration") or ""))
    value = float(match.group(1)) if match else DEFAULT_SECONDS
    return min(max(value, 1.0 / FPS), MAX_SECONDS)


def frames(width: int, height: int, count: int, seed: int) -> list[bytes]:
    """``count`` frames as bottom-up BGR rows, each row padded to 4 bytes (what a DIB stores)."""
    hue = (seed % 360) / 360.0
    top = [int(255 * v) for v in colorsys.hsv_to_rgb(hue, 0.7, 0.9)]
    bottom = [int(255 * v) for v in colorsys.hsv_to_rgb((hue + 0.4) % 1.0, 0.8, 0.4)]
    pad = b"\0" * (-3 * width % 4)
    backgrounds = []
    for y in range(height):
        t = y / max(height - 1, 1)
        r, g, b = (int(a + (c - a) * t) for a, c in zip(top, bottom, strict=True))
        backgrounds.append(bytes((b, g, r)) * width)
    radius = max(2.0, min(width, height) / 5)
    out = []
    for index in range(count):
        cx = radius + (width - 2 * radius) * (index / max(count - 1, 1))
        cy = height / 2 + (height / 4) * math.sin(2 * math.pi * index / max(count, 1))
        rows = []
        for y in range(height - 1, -1, -1):  # DIB rows go bottom-up
            row = backgrounds[y]
            dy = y + 0.5 - cy
            if dy * dy < radius * radius:
                half = math.sqrt(radius * radius - dy * dy)
                lo, hi = max(0, round(cx - half)), min(width, round(cx + half))
                if hi > lo:
                    row = row[: 3 * lo] + b"\xff" * (3 * (hi - lo)) + row[3 * hi :]
            rows.append(row + pad)
        out.append(b"".join(rows))
    return out


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, *parts: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(parts))


def avi(width: int, height: int, images: list[bytes], fps: int = FPS) -> bytes:
    """An AVI file: one uncompressed video stream of ``images`` (DIB frames) with an ``idx1`` index."""
    size = len(images[0]) if images else 0
    count = len(images)
    avih = struct.pack(
        "<14I", 1_000_000 // fps, size * fps, 0, 0x10, count, 0, 1, size, width, height, 0, 0, 0, 0
    )
    strh = (
        b"vids"
        + b"DIB "
        + struct.pack(
            "<IHHIIIIIIII4h", 0, 0, 0, 0, 1, fps, 0, count, size, 0xFFFFFFFF, 0, 0, 0, width, height
        )
    )
    strf = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, size, 2835, 2835, 0, 0)
    header = _list(
        b"hdrl", _chunk(b"avih", avih), _list(b"strl", _chunk(b"strh", strh), _chunk(b"strf", strf))
    )
    movi = [_chunk(b"00db", image) for image in images]
    index, offset = [], 4  # idx1 offsets count from the 'movi' FOURCC
    for image, chunk in zip(images, movi, strict=True):
        index.append(b"00db" + struct.pack("<III", 0x10, offset, len(image)))  # 0x10: a key frame
        offset += len(chunk)
    body = b"AVI " + header + _list(b"movi", *movi) + _chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def video_bytes(fmt: dict[str, Any], seed: int) -> bytes:
    width, height = dimensions(fmt)
    count = max(1, round(seconds(fmt) * FPS))
    return avi(width, height, frames(width, height, count, seed))
