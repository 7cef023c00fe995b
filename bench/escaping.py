"""What escaping an untrusted answer costs on hostile shapes, side by side in one run.

1. Unclosed fence lines (```x$ repeated): JupyterLab's fence expression as ported (``fences.FENCED.sub``,
   quadratic: every unclosed opener is tried against the rest of the text) beside the one-pass
   ``fences.hide_dollars`` that replaced it — same output, checked here.
2. ``safe_markdown`` (what every answer goes through) on 1 MB answers made of one repeated piece, the
   replies fuzzer's ``huge_text`` shapes: the slowest pieces are listed.

Run: ``.venv/bin/python bench/escaping.py``; figures are CPU seconds (``time.process_time``).
"""

from __future__ import annotations

import argparse
import time

from gemini_magics.render import escaping, fences

PIECES = ["~", "~~~\n", "}$", "```\n", "`", "$$", "$", "\\", "{", "[a](", "<a", "`$", "x\n\n", "\\begin{a}"]


def cpu(call: object, *args: object) -> tuple[float, object]:
    started = time.process_time()
    result = call(*args)  # type: ignore[operator]
    return time.process_time() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="characters of each answer in part 2")
    args = parser.parse_args()

    print("1. unclosed fence lines: the expression vs one pass")
    for lines in (2_000, 4_000, 8_000):
        text = "```x$\n" * lines
        slow, expected = cpu(fences.FENCED.sub, lambda m: m.group(0).replace("$", "~D"), text)
        fast, got = cpu(fences.hide_dollars, text)
        assert got == expected
        print(f"   {lines:>6,} lines: expression {slow:7.3f} s, one pass {fast:7.4f} s ({slow / fast:,.0f}x)")

    print(f"2. safe_markdown on {args.size:,}-character answers of one repeated piece (slowest first)")
    rows = []
    for piece in PIECES:
        seconds, _ = cpu(escaping.safe_markdown, piece * (args.size // len(piece)))
        rows.append((seconds, piece))
    for seconds, piece in sorted(rows, reverse=True):
        print(f"   {piece!r:14} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
