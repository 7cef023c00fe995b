"""``--context cells|vars|all``: tell the model what the notebook holds, within a fixed budget.

What goes (a text part before the prompt, headed ``Notebook context``):

- ``cells``: the cells run before this one, newest first — each one's source as the user typed it (the
  history manager's raw input; ``In`` without a shell), its ``Out`` value as text and, for a cell that
  failed, its exception's line (IPython 9's ``history_manager.exceptions``). Images are left out, a
  DataFrame is its bounded table (``frames.py``), an answer of ``%%gemini`` is named, not repeated.
  Printed output is not kept by IPython and is not sent.
- ``vars``: the user's variables (``values.user_variables``), newest definitions first, one bounded entry
  each (``values.describe``).

The budget is ``context_chars`` characters for the whole part: variables take at most half of it with
``all``, cells the rest; each cell's source and output have their own caps, the newest cells come first
and older ones are dropped whole (the part says how many). A 500-cell notebook with a 10-million-row
DataFrame costs the same as a small one. Every piece is scrubbed of the API key (the backend's ``scrub``)
and of anything shaped like a Google API key before it is measured, so a key printed by a cell or held in
a variable never reaches the request.

The part is the user's message, not the system instruction, so a follow-up cell can still refer to it;
the chain's recorded prompt (``%gemini history``, a rebuilt transcript) keeps only what the user wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import frames
from ..media import is_pil
from ..render.static import fence
from ..turn import Result
from . import values

KINDS = ("none", "cells", "vars", "all")
DEFAULT_CHARS = 20_000
HEADING = "Notebook context"
SOURCE_CHARS = 4_000  # most characters of one cell's source
OUTPUT_CHARS = 1_500  # ... and of its output
KEY_SHAPED = re.compile(r"AIza[0-9A-Za-z_\-]{35}")  # a Google API key, whoever's it is


@dataclass
class Context:
    """The context part of one request, and what it holds (for the footer)."""

    text: str
    kind: str
    cells: int = 0
    cells_total: int = 0
    variables: int = 0
    variables_total: int = 0

    def summary(self) -> str:
        """``context: 6 cells, 4 variables, ~3.1k tokens`` (``6 of 500 cells`` when older ones were cut)."""
        said = []
        if self.kind in ("cells", "all"):
            total = f" of {self.cells_total:,}" if self.cells < self.cells_total else ""
            said.append(f"{self.cells:,}{total} cell{'s' if self.cells_total != 1 else ''}")
        if self.kind in ("vars", "all"):
            total = f" of {self.variables_total:,}" if self.variables < self.variables_total else ""
            said.append(f"{self.variables:,}{total} variable{'s' if self.variables_total != 1 else ''}")
        tokens = len(self.text) / 4  # the usual estimate; the service counts the real ones
        said.append(f"~{tokens / 1000:.1f}k tokens" if tokens >= 1000 else f"~{max(1, round(tokens))} tokens")
        return "context: " + ", ".join(said)

    def attach(self, given: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's ``input`` with this context first (the prompt stays the last text part)."""
        rest = [{"type": "text", "text": given}] if isinstance(given, str) else list(given)
        return [{"type": "text", "text": self.text}, *rest]


def gather(
    kind: str | None,
    namespace: Mapping[str, Any],
    limit: int,
    scrub: Callable[[str], str],
    shell: Any = None,
) -> Context | None:
    """The context ``kind`` asks for, at most ``limit`` characters; ``None`` for ``none`` (or no kind)."""
    kind = (kind or "none").lower()
    if kind not in KINDS:
        raise ValueError(f"--context {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "none":
        return None
    shell = shell if shell is not None else shell_of(namespace)

    def clean(text: str) -> str:
        return KEY_SHAPED.sub("***", scrub(text))

    head = f"{HEADING} — what the user's Jupyter notebook holds (newest first; cut to {limit:,} characters):"
    budget = limit - len(head) - 2
    found = Context("", kind)
    sections = [head]
    if kind in ("vars", "all"):
        share = budget // 2 if kind == "all" else budget
        text = _variables(namespace, shell, share, clean, found)
        sections.append(text)
        budget -= len(text) + 2
    if kind in ("cells", "all"):
        sections.append(_cells(namespace, shell, budget, clean, found))
    found.text = "\n\n".join(sections)[:limit]
    return found


def shell_of(namespace: Mapping[str, Any]) -> Any:
    """The running IPython shell whose namespace this is, else ``None``."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "user_ns", None) is namespace else None


def _variables(
    namespace: Mapping[str, Any], shell: Any, budget: int, clean: Callable[[str], str], found: Context
) -> str:
    names = values.user_variables(namespace, getattr(shell, "user_ns_hidden", None))
    title = f"## Variables ({len(names):,})"
    room = budget - len(title) - 40  # and the "left out" line
    entries, left = values.describe_all(((name, namespace[name]) for name in names), room, each=1_500)
    lines = [clean(entry) for entry in entries]  # the key becomes "***": never longer
    found.variables, found.variables_total = len(lines), len(names)
    if left:
        lines.append(f"(… {left:,} more variables left out)")
    return "\n".join([title, *(lines or ["(none)"])])


def _cells(
    namespace: Mapping[str, Any], shell: Any, budget: int, clean: Callable[[str], str], found: Context
) -> str:
    history = cell_history(namespace, shell)
    title = f"## Cells run before this one ({len(history):,}, newest first)"
    entries: list[str] = []
    used = len(title) + 40
    for number, source, output, error in reversed(history):
        room = budget - used
        entry = _cell_entry(number, clean(source), clean(output_text(output)), clean(error), room)
        if entry is None:
            break
        entries.append(entry)
        used += len(entry) + 2
    found.cells, found.cells_total = len(entries), len(history)
    if len(entries) < len(history):
        entries.append(f"(… {len(history) - len(entries):,} older cells left out)")
    return "\n\n".join([title, *(entries or ["(none)"])])


def _cell_entry(number: int, source: str, output: str, error: str, room: int) -> str | None:
    """One cell as Markdown within ``room`` characters (its source and output cut to fit), or ``None``."""
    source, output = values.clip(source, SOURCE_CHARS), values.clip(output, OUTPUT_CHARS)
    error = values.clip(" ".join(error.split()), 300)
    for _ in range(3):
        entry = f"### In [{number}]\n{fence(source, 'python')}"
        if output:
            entry += f"\nOut [{number}]:\n{fence(output, 'text')}"
        if error:
            entry += f"\nError [{number}]: {error}"
        if len(entry) <= room:
            return entry
        spare = room - (len(entry) - len(source) - len(output))
        if spare < 80:
            return None
        output = values.clip(output, min(len(output), spare // 3))
        source = values.clip(source, spare - len(output))
    return None


def cell_history(namespace: Mapping[str, Any], shell: Any) -> list[tuple[int, str, Any, str]]:
    """``(number, source, Out value or None, "Error: message" or "")`` of every cell run before the
    current one, oldest first (IPython 9 keeps each failed cell's exception in the history manager)."""
    manager = getattr(shell, "history_manager", None)
    errors: Mapping[int, Any] = {}
    if manager is not None:
        sources, outputs = manager.input_hist_raw, manager.output_hist
        errors = getattr(manager, "exceptions", None) or {}
    else:
        sources, outputs = namespace.get("In") or [], namespace.get("Out") or {}
    running = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    end = getattr(running, "execution_count", None)  # the cell that runs now is not "before"
    end = len(sources) if not isinstance(end, int) else min(end, len(sources))
    found = []
    for n in range(1, end):
        if str(sources[n]).strip():
            error = errors.get(n) if isinstance(errors.get(n), dict) else {}
            said = f"{error.get('ename', '')}: {error.get('evalue', '')}" if error.get("ename") else ""
            found.append((n, str(sources[n]), outputs.get(n), said))
    return found


def output_text(value: Any) -> str:
    """A cell's ``Out`` value as text: images left out, tables bounded, answers named."""
    if value is None:
        return ""
    if _is_image(value):
        return "[an image, left out]"
    if isinstance(value, Result):
        return "[an answer from Gemini, not repeated here]"
    if isinstance(value, str):
        return value
    if frames.is_frame(value):
        return frames.markdown(value, rows=10, columns=12)
    entry = values.describe("x", value, OUTPUT_CHARS + 20, rows=10)
    return entry.removeprefix("- `x`: ")


def _is_image(value: Any) -> bool:
    """PNG/JPEG bytes, a PIL image, a matplotlib figure, IPython's ``Image`` or ``SVG``."""
    if isinstance(value, bytes | bytearray):
        return bytes(value[:4]) == b"\x89PNG" or bytes(value[:3]) == b"\xff\xd8\xff"
    probes = ("_repr_png_", "_repr_jpeg_", "_repr_svg_", "savefig")
    try:
        return is_pil(value) or any(callable(getattr(value, p, None)) for p in probes)
    except Exception:
        return False
