"""Appending a dated section to bench/RESULTS.md: what every benchmark script does with its figures."""

from __future__ import annotations

import datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def append_section(title: str, lines: list[str]) -> None:
    """``## TITLE (YYYY-MM-DD)`` and its lines, after a blank line, at the end of RESULTS.md."""
    heading = f"## {title} ({datetime.date.today().isoformat()})"
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n".join(["", heading, "", *lines]) + "\n")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
