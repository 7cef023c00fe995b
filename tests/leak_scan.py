"""Looking for a secret in what a session leaves behind: the forms that betray it, and a running tally.

Shared by the key-hygiene tests (``tests/shell/test_secrets.py``, ``tests/notebooks/test_key_leaks.py``);
imported by name like ``emulator_testing`` (never ``from conftest import``).
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from reliability_figures import record


def leak_forms(secret: str) -> list[bytes]:
    """The byte strings that betray ``secret``: its first half (a whole key contains it once, a truncated
    one too), URL-quoted, and base64 (standard and URL-safe) at each of the three alignments it can have
    inside a longer base64 text (an image, a widget buffer)."""
    raw = secret.encode()
    forms = {raw[: len(raw) // 2], urllib.parse.quote(secret, safe="").encode()}
    for k in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * k + raw)
            forms.add(encoded[-(-8 * k // 6) : 8 * (k + len(raw)) // 6])
    return sorted(form for form in forms if not any(other in form for other in forms - {form}))


class Tally:
    """Places scanned for the key, what was found where, and the reliability figure ``name``."""

    def __init__(self, secret: str, name: str, what: str) -> None:
        self.forms, self.name, self.what = leak_forms(secret), name, what
        self.places = self.hits = self.scanned_bytes = self.checked = 0
        self.found: list[str] = []

    def scan(self, place: str, content: str | bytes) -> int:
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        hits = sum(data.count(form) for form in self.forms)
        self.places += 1
        self.scanned_bytes += len(data)
        self.hits += hits
        if hits:
            self.found.append(f"{place}: {hits}")
        return hits

    def record(self, **extra: Any) -> None:
        figures = {"places": self.places, "hits": self.hits, "scanned_bytes": self.scanned_bytes}
        record(self.name, {**figures, "what": self.what, "found": self.found, **extra})

    def check(self) -> None:
        """Record the figures (a leak too), then fail naming every place the key was found in since the
        last check (the figures add up over a module's tests; a failure belongs to one test)."""
        self.record()
        found, self.checked = self.found[self.checked :], len(self.found)
        assert not found, "the key leaked into: " + "; ".join(found)
