"""pytest plugin: ``pytest --nbval`` runs notebooks with their cassettes.

nbval starts each notebook's kernel without telling it which notebook it runs, so the kernel could not
find ``NAME.gemini.jsonl``. While nbval starts a notebook's kernel this plugin sets
``$GEMINI_MAGICS_CASSETTE`` to that notebook's cassette (unless the user set it), so
``GEMINI_MAGICS_REPLAY=replay pytest --nbval`` — or no key at all — replays each notebook from its own.

A replayed output differs from the recorded one in exactly one place: the line saying where the answer
came from (``replayed …``, ``offline emulator``, the note that no key was set). For notebooks with a
cassette the plugin adds those lines to nbval's sanitize patterns, as a user would for timestamps.
Nothing here runs outside nbval, and it imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CASSETTE_VARIABLE = "GEMINI_MAGICS_CASSETTE"
PROVENANCE = {
    r"`replayed` — recorded [^\n]*?; no request was sent\n\n": "",
    r"`offline emulator` — simulated answer; set GEMINI_API_KEY to use Gemini\n\n": "",
    r"\*Note: no API key is set, so answers are replayed from the notebook's cassette [^\n]*\*\n\n": "",
    r"\[replayed \(recorded [^\n]*\)\]\n": "",
    r"\[offline emulator\]\n": "",
    r"no API key is set, so answers are replayed from the notebook's cassette [^\n]*\n": "",
    r" · replayed \(recorded [^)<]*\)": "",
    r" · offline emulator": "",
}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    notebook = item.parent
    path = getattr(notebook, "path", None)
    if type(notebook).__name__ != "IPyNbFile" or path is None or getattr(notebook, "kernel", None):
        yield  # not nbval, or its kernel already runs
        return
    from .replay.cassette import path_for

    chosen = os.environ.get(CASSETTE_VARIABLE)
    cassette = path_for(str(path)) if not chosen else None
    if cassette is not None:
        os.environ[CASSETTE_VARIABLE] = str(cassette)  # the kernel nbval starts now inherits it
    try:
        yield
    finally:
        if cassette is not None:
            os.environ.pop(CASSETTE_VARIABLE, None)
    if (cassette or chosen) and (cassette is None or cassette.is_file()):
        _sanitize(notebook)


def _sanitize(notebook: Any) -> None:
    patterns = getattr(notebook, "sanitize_patterns", None)
    if isinstance(patterns, dict):
        for regex, replacement in PROVENANCE.items():
            patterns.setdefault(regex, replacement)
