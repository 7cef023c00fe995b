"""Record once, replay anywhere: a notebook's exchanges with Gemini in a cassette file beside it.

This package owns the cassette (``cassette.py``: the file, atomic and diff-friendly), the identity of a
request across runs (``keys.py``), the record/replay decision per request (``recorder.py``) and the httpx
transport the SDK's client sends through (``transport.py``). Nothing above the backend knows a cassette
is there: a replayed answer is parsed, rendered and chained exactly as a live one; only its label says
"replayed". ``policy`` below decides the mode for a kernel, ``prepare`` puts it in place for each cell.

It imports nothing from the rest of the package (but render's escaping, for the ``%gemini cassette``
report), and nothing of google.genai or httpx until used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cassette import SUFFIX, Cassette, CassetteError, path_for
from .recorder import MISS_PREFIX, MODES, Recorder

__all__ = [
    "MISS_PREFIX",
    "MODES",
    "SUFFIX",
    "Cassette",
    "CassetteError",
    "Policy",
    "Recorder",
    "cassette_path",
    "policy",
    "prepare",
]

MODE_VARIABLE = "GEMINI_MAGICS_REPLAY"
CASSETTE_VARIABLE = "GEMINI_MAGICS_CASSETTE"


def cassette_path(setting: str, notebook_path: str | None) -> Path | None:
    """The cassette: the setting, else ``$GEMINI_MAGICS_CASSETTE``, else beside the notebook."""
    chosen = setting or os.environ.get(CASSETTE_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if notebook_path and notebook_path.endswith(".ipynb"):
        return path_for(notebook_path)
    return None


@dataclass(frozen=True)
class Policy:
    mode: str
    note: str = ""


def policy(setting: str, path: Path | None, has_key: bool, backend_setting: str) -> Policy:
    """The mode a kernel runs in: the setting (or ``$GEMINI_MAGICS_REPLAY``); ``off`` turns into
    ``replay`` when the notebook has a cassette, no key is set and the backend is the default ``auto`` —
    a shared notebook with its cassette re-runs for anyone."""
    mode = (setting or os.environ.get(MODE_VARIABLE, "") or "off").strip().lower()
    if mode not in MODES:
        raise ValueError(f"GeminiMagics.replay must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off" and path is not None and path.is_file() and not has_key and backend_setting == "auto":
        note = (
            f"no API key is set, so answers are replayed from the notebook's cassette {path.name} "
            "(set GEMINI_API_KEY to ask Gemini)"
        )
        return Policy("replay", note)
    return Policy(mode)


def prepare(backend: Any, setting: str, path: Path | None, backend_setting: str, text: str) -> None:
    """Put this cell's mode in place on ``backend`` (its ``replay`` recorder, made or reused) and name the
    cell by its first words (execution counts are not kept by every runner: nbval's stay at 1).
    ``ValueError`` or ``CassetteError`` with one line when the mode cannot be honoured."""
    chosen = policy(setting, path, backend.key() is not None, backend_setting)
    recorder = backend.replay
    if chosen.mode == "off":
        if recorder is not None:
            recorder.mode = "off"
        return
    if path is None:
        raise ValueError(
            f"replay = {chosen.mode!r} needs a cassette, and this kernel does not know its notebook's path: "
            "set GeminiMagics.cassette = 'NAME.gemini.jsonl' (or $GEMINI_MAGICS_CASSETTE)"
        )
    if recorder is None or recorder.cassette.path != path:
        cassette = Cassette(path)
        cassette.load()
        recorder = Recorder(cassette, chosen.mode, backend.scrub)
        recorder.note = chosen.note
        backend.replay = recorder
    recorder.mode = chosen.mode
    first = " ".join(text.strip().split("\n", 1)[0].split())
    recorder.cell = "the cell " + repr(first if len(first) <= 40 else first[:39] + "…")
