"""What one interaction gives the fake model to look at (``Turn``), and the words a prompt's topic skips.

The lowest module of the model's behaviours: ``model.py`` and every behaviour module it consults
(``content``, ``tooling``, ``controls``, ``media``, ``speech`` …) import ``Turn`` from here, so none of
them needs ``model.py`` back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .filestore import FileService


@dataclass
class Turn:
    """Everything a behaviour may look at for one interaction."""

    request: dict[str, Any]
    input_steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    directives: dict[str, str]
    prompt: str
    ids: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # what built-in tools found
    grounded: list[tuple[str, Any]] = field(default_factory=list)  # places/documents the answer cites
    files: FileService | None = None  # the emulator's files and file search stores (file_search)

    @property
    def generation_config(self) -> dict[str, Any]:
        return self.request.get("generation_config") or {}

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.request.get("tools") or []

    def new_id(self, prefix: str) -> str:
        """Call ids that are stable for the same request (reproducible notebooks) yet distinct."""
        digest = hashlib.sha256(f"{self.prompt}|{len(self.history)}|{len(self.ids)}".encode()).hexdigest()
        self.ids.append(digest)
        return f"{prefix}_{digest[:10]}"

    def seed(self) -> int:
        return int(hashlib.sha256(self.prompt.encode()).hexdigest()[:8], 16)


# The filler words a prompt's topic leaves out (``model.py``'s answers, ``content.py``'s JSON strings).
STOP_WORDS = {
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "me", "my", "please",
    "what", "how", "why", "tell", "give", "about", "with", "into", "from", "this", "that", "these", "those",
    "your", "you", "i", "it", "its", "as", "at", "by", "can", "could", "would", "should", "summarise",
    "summarize", "explain", "describe", "write", "two", "three", "four", "five", "bullet", "bullets",
    "point", "points", "short", "simple", "terms"
}  # fmt: skip
