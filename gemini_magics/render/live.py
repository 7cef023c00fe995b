"""The live view of a streaming answer: Markdown in a display handle, updated at most ~30 times a second.

Updates are coalesced by time, so a fast stream costs the front end a bounded number of renders however
many events arrive; the final flush shows everything. Each render re-escapes the whole answer so far, so a
long answer spaces its renders out further: rendering takes at most ~1/RENDER_SHARE of the stream's time.
When the turn ends the live output is emptied and the final view (the cell's result) takes its place.

The live output is first displayed empty and is emptied again at the end: nbval ignores
``update_display_data`` (it keeps an output as first displayed) while nbclient, nbconvert and JupyterLab
apply every update (they keep the last one), so both kinds of tool store the same empty output. Its metadata
says what it was the live view of (``{"gemini": {…, "live": true}}``), and at the end which interaction.
"""

from __future__ import annotations

import time
from typing import Any

from .. import blocks as b
from . import grounding, static  # noqa: F401 (grounding adds its views to static.VIEWS)

MAX_UPDATES_PER_SECOND = 30
RENDER_SHARE = 10  # after a render that took t seconds, the next waits at least RENDER_SHARE * t
EMPTY: dict[str, str] = {"text/plain": ""}  # the live output as first displayed and as finally left


class LiveView:
    def __init__(
        self,
        title: str,
        show_thoughts: bool = True,
        clock: Any = time.monotonic,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.title = title
        self.show_thoughts = show_thoughts
        self.metadata = metadata or {}  # the output's provenance (render/view.py)
        self._clock = clock
        self._handle: Any = None
        self._last = 0.0
        self._gap = 1.0 / MAX_UPDATES_PER_SECOND
        self._pending: list[b.Block] | None = None
        self.updates = 0  # how many times the front end was asked to render

    def start(self) -> None:
        from IPython.display import display

        # First displayed as finish() leaves it: see the docstring.
        self._handle = display(EMPTY, raw=True, display_id=True, metadata=self.metadata)
        self._handle.update(self._bundle(f"*{static.escape(self.title)}…*"), raw=True, metadata=self.metadata)

    def update(self, blocks: list[b.Block]) -> None:
        """Called for every event that changed the blocks; renders only if enough time has passed."""
        now = self._clock()
        if now - self._last < self._gap:
            self._pending = blocks
            return
        self._render(blocks, now)

    def flush(self) -> None:
        if self._pending is not None:
            self._render(self._pending, self._clock())

    def finish(self, result: Any = None) -> None:
        """Empty the live output: the final view replaces it. With the ``result``, its metadata names the
        answer it was the live view of."""
        if result is not None:
            from .view import metadata

            self.metadata = {"gemini": {**metadata(result)["gemini"], "live": True}}
        if self._handle is not None:
            self._handle.update(EMPTY, raw=True, metadata=self.metadata)

    def _render(self, blocks: list[b.Block], now: float) -> None:
        self._pending = None
        self._last = now
        self.updates += 1
        if self._handle is not None:
            text = static.to_markdown(blocks, self.show_thoughts, f"*{static.escape(self.title)}…*")
            self._handle.update(self._bundle(text), raw=True, metadata=self.metadata)
        spent = self._clock() - now
        self._gap = max(1.0 / MAX_UPDATES_PER_SECOND, RENDER_SHARE * spent)

    @staticmethod
    def _bundle(text: str) -> dict[str, Any]:
        return {"text/markdown": text, "text/plain": text}
