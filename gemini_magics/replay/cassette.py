"""The cassette file: one JSON object a line, next to the notebook (``analysis.gemini.jsonl``).

The first line says what the file is; every other line is one recorded exchange (``Entry``), in the
order the notebook first made them, each line's keys sorted: re-recording an unchanged notebook rewrites
an identical file, and a changed cell changes only its own lines in a diff. The file is replaced
atomically (write a sibling, then rename), so a crash mid-write leaves the previous cassette whole. A
damaged file is refused, never overwritten.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "gemini-magics cassette"
VERSION = 1
SUFFIX = ".gemini.jsonl"
KINDS = ("call", "state", "events")


class CassetteError(Exception):
    """A cassette that cannot be read or written; one line."""


_OPTIONAL = frozenset({"recorded", "model", "cell", "extra"})


@dataclass
class Entry:
    """One recorded exchange.

    ``kind``: ``call`` (a create, an upload, a cancel: the n-th time this request was made gets the n-th
    answer), ``state`` (a plain GET: the latest state recorded wins) or ``events`` (a GET of an
    interaction's event stream: the events seen, merged by event id).
    """

    key: str
    n: int
    kind: str
    seq: int
    request: dict[str, Any]
    response: dict[str, Any]
    recorded: str = ""
    model: str = ""
    cell: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def slot(self) -> tuple[str, int]:
        return self.key, self.n

    def line(self) -> str:
        # Only the optional fields are left out when empty: a required one (even a key "" read from a
        # hand-edited file) is written back, or the file would no longer read.
        data = {k: v for k, v in asdict(self).items() if v not in ("", {}) or k not in _OPTIONAL}
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def path_for(notebook: str | os.PathLike[str]) -> Path:
    """``analysis.ipynb`` → ``analysis.gemini.jsonl`` beside it."""
    path = Path(notebook)
    name = path.name[: -len(".ipynb")] if path.name.endswith(".ipynb") else path.name
    return path.with_name(name + SUFFIX)


class Cassette:
    """The entries of one cassette file, loaded once, saved after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[tuple[str, int], Entry] = {}
        self._lock = threading.RLock()
        self._loaded = False

    def __repr__(self) -> str:
        return f"<Cassette {self.path.name}: {len(self)} entries>"

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._entries = read(self.path) if self.path.is_file() else {}
            self._loaded = True

    def entries(self) -> list[Entry]:
        self.load()
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: (e.seq, e.key, e.n))

    def get(self, key: str, n: int = 0) -> Entry | None:
        self.load()
        with self._lock:
            return self._entries.get((key, n))

    def occurrences(self, key: str) -> int:
        self.load()
        with self._lock:
            return sum(1 for k, _ in self._entries if k == key)

    def put(self, entry: Entry) -> None:
        """Add or replace an entry (a re-recorded one keeps its place) and save the file."""
        self.load()
        with self._lock:
            old = self._entries.get(entry.slot)
            if old is not None:
                entry.seq = old.seq
            elif entry.seq < 0:
                entry.seq = 1 + max((e.seq for e in self._entries.values()), default=-1)
            self._entries[entry.slot] = entry
            self.save()

    def drop(self, slots: set[tuple[str, int]]) -> int:
        """Remove these entries; returns how many were removed."""
        self.load()
        with self._lock:
            gone = [s for s in slots if s in self._entries]
            for slot in gone:
                del self._entries[slot]
            if gone:
                self.save()
            return len(gone)

    def save(self) -> None:
        with self._lock:
            header = json.dumps({"format": FORMAT, "version": VERSION}, sort_keys=True)
            lines = [header, *(e.line() for e in self.entries())]
            text = "\n".join(lines) + "\n"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(prefix=".cassette-", dir=self.path.parent)
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(temporary, self.path)
            except OSError as exc:
                raise CassetteError(
                    f"cannot write the cassette {self.path.name}: {exc.strerror or type(exc).__name__}"
                ) from None


def read(path: Path) -> dict[tuple[str, int], Entry]:
    """The entries of a cassette file; ``CassetteError`` naming the line when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteError(f"cannot read the cassette {path.name}: {type(exc).__name__}") from None
    lines = text.splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CassetteError(f"{path.name} is not a gemini-magics cassette (its first line says otherwise)")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise CassetteError(f"{path.name} was written by a newer gemini-magics: upgrade to replay it")
    entries: dict[tuple[str, int], Entry] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            entry = _entry(json.loads(line))
        except (ValueError, TypeError, KeyError) as exc:
            reason = "cut short" if isinstance(exc, json.JSONDecodeError) else "not an entry"
            raise CassetteError(
                f"the cassette {path.name} is damaged at line {number} ({reason}): record it again, "
                "or restore it from version control"
            ) from None
        entries[entry.slot] = entry
    return entries


def _entry(data: Any) -> Entry:
    if not isinstance(data, dict):
        raise TypeError("not an object")
    entry = Entry(
        key=_typed(data["key"], str),
        n=_typed(data["n"], int),
        kind=_typed(data["kind"], str),
        seq=_typed(data["seq"], int),
        request=_typed(data["request"], dict),
        response=_typed(data["response"], dict),
        recorded=_typed(data.get("recorded", ""), str),
        model=_typed(data.get("model", ""), str),
        cell=_typed(data.get("cell", ""), str),
        extra=_typed(data.get("extra", {}), dict),
    )
    status = entry.response.get("status")
    if entry.kind not in KINDS or entry.n < 0 or not isinstance(status, int) or isinstance(status, bool):
        raise TypeError("not an entry")
    body = entry.response  # what _serve hands the SDK: a JSON object, a list of events or a text
    if not isinstance(body.get("json", {}), dict) or not isinstance(body.get("events", []), list):
        raise TypeError("not an entry")
    if not isinstance(body.get("text", ""), str):
        raise TypeError("not an entry")
    return entry


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}")
    return value
