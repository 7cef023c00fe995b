"""The chart Deep Research adds to a report with ``visualization: "auto"``: a real bar chart as a PNG.

Drawn in pure Python (no plotting library on the emulator's side), so a report's image is a valid PNG
whose bars show the figures the report's table lists.
"""

from __future__ import annotations

import hashlib

from .content import encode_png

Colour = tuple[int, int, int]

_BACKGROUND: Colour = (255, 255, 255)
_AXIS: Colour = (60, 60, 60)
_GRID: Colour = (225, 225, 225)
_BARS: list[Colour] = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188)]


def chart_values(topic: str, labels: list[str]) -> list[int]:
    """Figures (0-100) for each label, stable for the same topic, so the same report draws the same chart."""
    digest = hashlib.sha256(topic.encode()).digest()
    return [20 + digest[i] % 80 for i in range(len(labels))]


def bar_chart_png(values: list[int], width: int = 480, height: int = 300) -> bytes:
    """A bar chart of ``values`` (0-100): axes, horizontal grid lines every 25, one coloured bar each."""
    pixels = [[_BACKGROUND] * width for _ in range(height)]
    left, right, top, bottom = 40, width - 20, 20, height - 30
    for level in (25, 50, 75, 100):
        y = bottom - (bottom - top) * level // 100
        for x in range(left, right):
            pixels[y][x] = _GRID
    slot = (right - left) // max(1, len(values))
    for i, value in enumerate(values):
        x0 = left + i * slot + slot // 6
        x1 = left + (i + 1) * slot - slot // 6
        y0 = bottom - (bottom - top) * max(0, min(100, value)) // 100
        colour = _BARS[i % len(_BARS)]
        for y in range(y0, bottom):
            row = pixels[y]
            for x in range(x0, x1):
                row[x] = colour
    for y in range(top, bottom + 1):  # the axes
        pixels[y][left] = _AXIS
    for x in range(left, right):
        pixels[bottom][x] = _AXIS
    return _encode(pixels, width, height)


def _encode(pixels: list[list[Colour]], width: int, height: int) -> bytes:
    raw = bytearray()
    for row in pixels:
        raw.append(0)  # filter type: none
        for rgb in row:
            raw.extend(rgb)
    return encode_png(width, height, bytes(raw))
