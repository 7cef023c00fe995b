"""``%gemini cassette``: what the cassette holds (turns, models, dates, size), which cells missed in this
kernel; ``%gemini cassette prune`` drops the entries no request of this kernel used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cassette import Cassette, CassetteError
from .recorder import Recorder


class ReportError(Exception):
    """One line for the user."""


def command(recorder: Recorder | None, path: Path | None, rest: str) -> Any:
    from IPython.display import Markdown

    words = rest.split()
    if path is None:
        raise ReportError(
            "this kernel does not know its notebook's path: set GeminiMagics.cassette = 'NAME.gemini.jsonl'"
        )
    ours = recorder is not None and recorder.cassette.path == path
    cassette = recorder.cassette if ours and recorder is not None else Cassette(path)
    try:
        if words == ["prune"]:
            return Markdown(_prune(recorder if ours else None, cassette))
        if words:
            raise ReportError("usage: %gemini cassette [prune]")
        return Markdown(summary(cassette, recorder if ours else None))
    except CassetteError as exc:
        raise ReportError(str(exc)) from None


def summary(cassette: Cassette, recorder: Recorder | None) -> str:
    from ..render.static import code_span, escape

    name = code_span(cassette.path.name)
    if not cassette.exists():
        return f"No cassette yet: {name} is written when cells run with `GeminiMagics.replay = 'record'`."
    entries = cassette.entries()
    turns = [e for e in entries if e.kind == "call" and e.request.get("path", "").endswith("/interactions")]
    models = sorted({e.model for e in turns if e.model})
    dates = sorted({e.recorded for e in entries if e.recorded})
    size = cassette.path.stat().st_size
    when = dates[0] if len(dates) == 1 else (f"{dates[0]} – {dates[-1]}" if dates else "unknown dates")
    lines = [
        f"**Cassette** {name} · {len(turns)} turns in {len(entries)} entries · {_size(size)} · "
        f"recorded {when}",
        "",
        "Models: " + (", ".join(code_span(m) for m in models) if models else "none"),
    ]
    if recorder is not None:
        lines += [
            "",
            f"This kernel: mode {code_span(recorder.mode)}, {recorder.replayed} answers replayed, "
            f"{recorder.sent} requests sent, {len(recorder.used)} of {len(entries)} entries used.",
        ]
        if recorder.misses:
            lines += ["", "**Missed:**", ""]
            lines += [f"- {escape(m.cell)}: {escape(m.reason)}" for m in recorder.misses]
    return "\n".join(lines)


def _prune(recorder: Recorder | None, cassette: Cassette) -> str:
    if recorder is None or not recorder.used:
        raise ReportError(
            "nothing has used the cassette in this kernel yet: run the notebook with replay on "
            "(GeminiMagics.replay = 'replay' or 'auto'), then prune"
        )
    gone = recorder.prune()
    return f"Pruned {gone} unused entries; {len(cassette)} remain in `{cassette.path.name}`."


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} bytes"
