"""Record and replay decisions for every HTTP request the SDK makes (``transport.py`` hands them here).

``record`` sends each request and writes the answer to the cassette; ``replay`` answers from the
cassette only — a request it does not hold is refused with one line saying which cell and what differs,
never sent; ``auto`` replays what it holds and records the rest. Requests are matched by their
normalised form (``keys.py``), so ids that change from run to run do not matter. Three kinds of entry
(``cassette.Entry``): a *call* (the n-th identical request gets the n-th recorded answer, the last one
when asked more often: a re-run cell replays), a *state* (a plain GET: the latest state recorded, so a
replayed research run is finished at once) and an *events* log (an interaction's event stream, merged by
event id; a resume after ``last_event_id`` gets the rest).

The tracker's threads and the cell share one recorder: its state is behind a lock.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import keys
from .cassette import Cassette, CassetteError, Entry

MODES = ("off", "record", "replay", "auto")
MISS_STATUS = "REPLAY_MISS"
MISS_PREFIX = "[replay] "
KEPT_HEADERS = (
    "content-type",
    "x-goog-upload-url",
    "x-goog-upload-status",
    "x-goog-upload-chunk-granularity",
)
TRANSIENT = (408, 429, 500, 502, 503, 504)


@dataclass
class Miss:
    cell: str
    reason: str


@dataclass
class Answer:
    """What the transport sends back: a whole recorded answer (``body``), or nothing (``None``: send it)."""

    status: int
    headers: dict[str, str]
    body: bytes


class Recorder:
    """One kernel's record/replay state over one cassette."""

    def __init__(self, cassette: Cassette, mode: str = "replay", scrub: Callable[[str], str] = str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown replay mode {mode!r}: use {', '.join(MODES)}")
        self.cassette = cassette
        self.mode = mode
        self.scrub = scrub
        self.cell = "a cell"  # named by the magics before each cell
        self.note = ""  # said once, on the next answer (why this kernel replays)
        self.aliases = keys.Aliases()
        self.misses: list[Miss] = []
        self.used: set[tuple[str, int]] = set()
        self.sent = 0  # requests that went to the service (record, auto)
        self.replayed = 0
        self._counts: dict[str, int] = {}
        self._served: dict[str, Entry] = {}  # interaction id → the entry it was replayed from
        self._fresh: set[tuple[str, int]] = set()  # entries written by this session
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Recorder {self.mode} {self.cassette.path.name}>"

    @property
    def active(self) -> bool:
        return self.mode != "off"

    # -- one request ---------------------------------------------------------------------------------

    def lookup(self, method: str, url: str, body: bytes) -> tuple[Answer | None, Pending | None]:
        """Either a replayed answer, or (to send) a ``Pending`` that records the live answer."""
        with self._lock:
            request = keys.normalise(method, url, body, self.aliases)
            kind = _kind(method, url)
            key = keys.key_of(request)
            n = 0
            if kind == "call":
                n = self._counts.get(key, 0)
                self._counts[key] = n + 1
            entry = None if self.mode == "record" else self._recorded(key, n, kind)
            if entry is not None:
                self.used.add(entry.slot)
                self.replayed += 1
                return self._serve(entry, url), None
            if self.mode == "replay":
                return self._miss(request, kind), None
            self.sent += 1
            return None, Pending(self, request, kind, key, n, _last_event_id(url))

    def _recorded(self, key: str, n: int, kind: str) -> Entry | None:
        entry = self.cassette.get(key, n)
        if entry is None and kind == "call" and n > 0:  # asked more often than recorded: the last answer
            for earlier in range(n - 1, -1, -1):
                entry = self.cassette.get(key, earlier)
                if entry is not None:
                    break
        return entry

    def _serve(self, entry: Entry, url: str) -> Answer:
        response = entry.response
        prefix = _prefix(entry.key, entry.n)
        headers = dict(response.get("headers") or {})
        self._learn_headers(headers, prefix)
        if "events" in response:
            events = [e for e in response["events"] if isinstance(e, dict)]
            after = _last_event_id(url)
            if after is not None:
                ids = [e.get("id") for e in events]
                events = events[ids.index(after) + 1 :] if after in ids else events
            for event in events:
                self.aliases.learn(event.get("data"), prefix)
                self._note_served(event.get("data"), entry)
            headers.setdefault("content-type", "text/event-stream")
            return Answer(response["status"], headers, sse_bytes(events))
        if "json" in response:
            self.aliases.learn(response["json"], prefix)
            self._note_served(response["json"], entry)
            body = json.dumps(response["json"], ensure_ascii=False).encode("utf-8")
            headers.setdefault("content-type", "application/json; charset=UTF-8")
            return Answer(response["status"], headers, body)
        return Answer(response["status"], headers, str(response.get("text", "")).encode("utf-8"))

    def _note_served(self, payload: Any, entry: Entry) -> None:
        if not isinstance(payload, dict):
            return
        interaction = payload.get("interaction") if isinstance(payload.get("interaction"), dict) else payload
        found = interaction.get("id")
        if isinstance(found, str) and found and (interaction.get("status") or "interaction" in payload):
            self._served.setdefault(found, entry)

    def _miss(self, request: dict[str, Any], kind: str) -> Answer:
        reason = self.explain(request, kind)
        self.misses.append(Miss(self.cell, reason))
        message = f"{MISS_PREFIX}{self.cell}: {reason}"
        body = {"error": {"code": 400, "message": message, "status": MISS_STATUS}}
        return Answer(400, {"content-type": "application/json"}, json.dumps(body).encode("utf-8"))

    def explain(self, request: dict[str, Any], kind: str) -> str:
        """One line: the cassette has no answer for this request, and what differs from the nearest one."""
        name = self.cassette.path.name
        nearest: list[str] | None = None
        for entry in self.cassette.entries():
            if entry.kind != kind or entry.request.get("path") != request.get("path"):
                continue
            found = keys.differences(entry.request, request)
            if nearest is None or len(found) < len(nearest):
                nearest = found
        again = "record it with GeminiMagics.replay = 'auto' (or 'record')"
        if not nearest:
            what = " ".join(str(request.get(k, "")) for k in ("method", "path")).strip()
            return f"not in the cassette {name} — it holds no request like this one ({what}); {again}"
        if len(nearest) > 1 and "its position in the chain" in nearest:
            return (
                f"not in the cassette {name} — nothing was recorded at this point of the conversation "
                f"(a cell added, moved or changed above?); {again}"
            )
        return f"not in the cassette {name} — {' and '.join(nearest)} changed since the recording; {again}"

    def _learn_headers(self, headers: dict[str, str], prefix: str) -> None:
        url = headers.get("x-goog-upload-url")
        if url:
            for _, value in parse_qsl(urlsplit(url).query):
                if len(value) >= 6:
                    self.aliases.add(value, f"{prefix}.upload")

    # -- what it served --------------------------------------------------------------------------------

    def replayed_entry(self, interaction_id: str | None) -> Entry | None:
        """The entry an interaction was replayed from (``None``: it came from the service)."""
        with self._lock:
            return self._served.get(interaction_id or "")

    def label(self, interaction_id: str | None) -> str | None:
        """``replayed (recorded 2026-12-05 with gemini-3-flash-preview)`` for a replayed interaction."""
        entry = self.replayed_entry(interaction_id)
        if entry is None:
            return None
        return f"replayed (recorded {entry.recorded or 'earlier'} with {entry.model or 'an unknown model'})"

    def prune(self) -> int:
        """Drop the entries no request of this session used; returns how many went."""
        with self._lock:
            unused = {e.slot for e in self.cassette.entries() if e.slot not in self.used}
            return self.cassette.drop(unused)

    # -- recording -----------------------------------------------------------------------------------

    def _store(
        self, pending: Pending, status: int, headers: dict[str, str], response: dict[str, Any]
    ) -> None:
        prefix = _prefix(pending.key, pending.n)
        with self._lock:
            if status in TRANSIENT:  # retried by the SDK: its slot goes to the next attempt
                if self._counts.get(pending.key) == pending.n + 1:
                    self._counts[pending.key] = pending.n
                return
            self._learn_headers(headers, prefix)
            kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
            response = {"status": status, "headers": kept, **response}
            if pending.kind == "events":
                response = self._merged(pending, response)
            entry = Entry(
                key=pending.key,
                n=pending.n,
                kind=pending.kind,
                seq=-1,
                request=pending.request,
                response=json.loads(self.scrub(json.dumps(response, ensure_ascii=False))),
                recorded=datetime.date.today().isoformat(),
                model=_model(pending.request, response),
                cell=self.cell,
            )
            try:
                self.cassette.put(entry)
            except CassetteError as exc:  # the answer still reaches the cell; the note says what is lost
                self.note = f"not recorded: {exc}"
                return
            self.used.add(entry.slot)
            self._fresh.add(entry.slot)

    def _merged(self, pending: Pending, response: dict[str, Any]) -> dict[str, Any]:
        old = self.cassette.get(pending.key, 0) if (pending.key, 0) in self._fresh else None
        events = list(old.response.get("events", [])) if old is not None else []
        seen = {e.get("id") for e in events if e.get("id")}
        for event in response.get("events", []):
            if not event.get("id") or event["id"] not in seen:
                events.append(event)
        return {**response, "events": events}


class Pending:
    """A request sent to the service whose answer is being read: ``frame`` learns a stream's aliases as
    its events pass (a continuation hop quotes the token before the stream is closed); ``done`` stores it."""

    def __init__(
        self, recorder: Recorder, request: dict[str, Any], kind: str, key: str, n: int, after: str | None
    ) -> None:
        self.recorder, self.request, self.kind, self.key, self.n = recorder, request, kind, key, n
        self.after = after
        self.events: list[dict[str, Any]] = []

    def frame(self, event: dict[str, Any]) -> None:
        with self.recorder._lock:
            self.recorder.aliases.learn(event.get("data"), _prefix(self.key, self.n))
        self.events.append(event)

    def done(self, status: int, headers: dict[str, str], body: bytes, streamed: bool) -> None:
        if streamed:
            response: dict[str, Any] = {"events": self.events}
        else:
            try:
                response = {"json": json.loads(body)} if body else {"text": ""}
            except ValueError:
                response = {"text": body.decode("utf-8", "replace")}
            if "json" in response:
                with self.recorder._lock:
                    self.recorder.aliases.learn(response["json"], _prefix(self.key, self.n))
        self.recorder._store(self, status, headers, response)

    def failed(self) -> None:
        """The connection broke before an answer: nothing to record, the slot is free again."""
        self.recorder._store(self, 503, {}, {})


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    lines = []
    for event in events:
        for name in ("event", "id"):
            if event.get(name):
                lines.append(f"{name}: {event[name]}")
        data = event.get("data")
        lines.append("data: " + (data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)))
        lines.append("")
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_frame(text: str) -> dict[str, Any] | None:
    """One SSE frame (its lines) → ``{"event", "id", "data"}``, data decoded from JSON where it is JSON."""
    frame: dict[str, Any] = {}
    data: list[str] = []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("event", "id") and value:
            frame[name] = value
    if not data:
        return None
    payload = "\n".join(data)
    try:
        frame["data"] = json.loads(payload)
    except ValueError:
        frame["data"] = payload
    return frame


def _kind(method: str, url: str) -> str:
    if method.upper() != "GET":
        return "call"
    query = dict(parse_qsl(urlsplit(url).query))
    return "events" if query.get("stream") in ("true", "True", "1") else "state"


def _last_event_id(url: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query)).get("last_event_id") or None


def _prefix(key: str, n: int) -> str:
    return f"@{key[:12]}.{n}"


def _model(request: dict[str, Any], response: dict[str, Any]) -> str:
    body = request.get("body") if isinstance(request.get("body"), dict) else {}
    found = body.get("model") or body.get("agent")
    if not found:
        payload = response.get("json")
        if isinstance(payload, dict):
            found = payload.get("model") or payload.get("agent")
        for event in response.get("events", [])[:3]:
            data = event.get("data") if isinstance(event, dict) else None
            info = data.get("interaction") if isinstance(data, dict) else None
            if isinstance(info, dict):
                found = found or info.get("model") or info.get("agent")
    return str(found or "")
