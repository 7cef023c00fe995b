"""Which fence lines JupyterLab's math pass pairs, found in one pass over the lines.

JupyterLab's ``removeMath`` hides the ``$`` of fenced code with a regular expression (ported as
``FENCED``): a line of three or more backticks (or ``~``, written ``~T`` once the pass has doubled them)
opens a fence that the next line of the same fence closes. Run as a regular expression, every opener
that is never closed is tried against the whole rest of the text — quadratic: an answer of 8,000
unclosed fence lines took 4 s to escape, a long one hung the kernel. ``pairs`` gives the same matches
(``FENCED.finditer``'s spans, in order, not overlapping) in linear time; the unit tests compare them.
"""

from __future__ import annotations

import bisect
import re

FENCED = re.compile(r"^(?P<fence>`{3,}|(?:~T){3,})[^`\n]*\n[\s\S]*?^(?P=fence)`*$", re.MULTILINE)
_UNITS = re.compile(r"(?:~T)*")


def pairs(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every ``FENCED`` match in ``text``: the opener line's start, the closer's end."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    ticks = [_tick_closer(line) for line in lines]  # a line of backticks only: how many (else 0)
    longest_after = [0] * (len(lines) + 1)  # the most backticks of a closer line at or after each line
    for k in range(len(lines) - 1, -1, -1):
        longest_after[k] = max(longest_after[k + 1], ticks[k])
    tilde_closers: dict[int, list[int]] = {}  # units of ~T → the lines made of that many, then backticks
    for k, line in enumerate(lines):
        if line.startswith("~T~T~T"):
            units = _units(line)
            if not line[2 * units :].strip("`"):
                tilde_closers.setdefault(units, []).append(k)
    sizes = sorted(tilde_closers, reverse=True)  # longest fence first, as the expression backtracks
    found: list[tuple[int, int]] = []
    k = 0
    while k < len(lines) - 1:  # an opener needs its newline
        line, closer = lines[k], None
        if line.startswith("```"):
            fence = len(line) - len(line.lstrip("`"))
            if "`" not in line[fence:] and longest_after[k + 1] >= fence:
                closer = k + 1
                while ticks[closer] < fence:  # ends before the closer longest_after promised
                    closer += 1
        elif line.startswith("~T~T~T"):
            units = _units(line)
            if "`" not in line[2 * units :]:
                closer = _tilde_closer(tilde_closers, sizes, units, k)
        if closer is None:
            k += 1
            continue
        found.append((starts[k], starts[closer] + len(lines[closer])))
        k = closer + 1
    return found


def hide_dollars(text: str) -> str:
    """``$`` → ``~D`` inside each fence the pass pairs: ``FENCED.sub``, in linear time."""
    parts, done = [], 0
    for start, end in pairs(text):
        parts += [text[done:start], text[start:end].replace("$", "~D")]
        done = end
    return "".join(parts) + text[done:]


def _tick_closer(line: str) -> int:
    return len(line) if len(line) >= 3 and not line.strip("`") else 0


def _units(line: str) -> int:
    match = _UNITS.match(line)
    return len(match.group(0)) // 2 if match else 0


def _tilde_closer(closers: dict[int, list[int]], sizes: list[int], units: int, after: int) -> int | None:
    """The first closer after line ``after`` of the longest fence the opener can be (the expression
    backtracks from all of its ``units`` down to three); ``sizes``: the closers' sizes, longest first."""
    for size in sizes:
        if size > units:
            continue
        lines = closers[size]
        index = bisect.bisect_right(lines, after)
        if index < len(lines):
            return lines[index]
    return None
