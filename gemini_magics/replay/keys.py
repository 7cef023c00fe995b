"""A request's identity in a cassette: the request with everything that changes from run to run taken out.

Interaction ids, continuation tokens, function call ids, file names and upload URLs are new on every run,
so they cannot be part of a key. Each such value the service sends back is given a stable *alias* made
of the key of the entry it came from (``@3f9c…0.id``); a later request that quotes the value is
normalised to the alias. A chain's position is therefore in the key (through ``previous_interaction_id``)
without any id being in it. File bytes and inline data enter by their SHA-256, MCP headers not at all,
local paths by their base name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

VOLATILE_FIELDS = frozenset({"id", "name", "uri", "continuation_token", "call_id", "file_uri"})
DROPPED_QUERY = frozenset({"last_event_id", "key", "alt"})
_DIGIT = re.compile(r"\d")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32]


def key_of(request: dict[str, Any]) -> str:
    """The hash of a normalised request (``normalise``): stable across runs, machines and Python versions."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def is_volatile(field: str, value: Any) -> bool:
    """A value the service makes up per run (``interactions/v1_…``, ``files/abc12``), not a word like a
    function's name."""
    return (
        field in VOLATILE_FIELDS and isinstance(value, str) and len(value) >= 6 and bool(_DIGIT.search(value))
    )


class Aliases:
    """Volatile values seen in responses → their stable names, longest first when substituted."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._names)

    def add(self, value: str, name: str) -> None:
        if value not in self._names:
            self._names[value] = name
            self._pattern = None

    def learn(self, payload: Any, prefix: str) -> None:
        """Name every volatile value of a response (a JSON body, or an event) after ``prefix``."""
        counts: dict[str, int] = {}
        for field, value in _walk(payload):
            if is_volatile(field, value) and value not in self._names:
                index = counts.get(field, 0)
                counts[field] = index + 1
                self.add(value, f"{prefix}.{field}{index or ''}")

    def apply(self, text: str) -> str:
        if not self._names or not text:
            return text
        if self._pattern is None:
            ordered = sorted(self._names, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(lambda m: self._names[m.group(0)], text)


def _walk(payload: Any, field: str = "") -> Any:
    if isinstance(payload, dict):
        for key, value in payload.items():
            yield from _walk(value, key)
    elif isinstance(payload, list):
        for value in payload:
            yield from _walk(value, field)
    else:
        yield field, payload


def normalise(method: str, url: str, body: bytes, aliases: Aliases) -> dict[str, Any]:
    """The run-independent form of one HTTP request: method, path, query and body."""
    parts = urlsplit(url)
    query = sorted((k, v) for k, v in parse_qsl(parts.query) if k not in DROPPED_QUERY)
    request: dict[str, Any] = {"method": method.upper(), "path": aliases.apply(parts.path)}
    if query:
        request["query"] = aliases.apply(urlencode(query))
    if body:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            request["body"] = digest(body)  # uploaded bytes: by content
        else:
            request["body"] = _clean(payload, aliases)
    return request


def _clean(value: Any, aliases: Aliases, field: str = "") -> Any:
    if isinstance(value, dict):
        if value.get("type") == "mcp_server":  # its headers carry the user's MCP credentials
            value = {k: v for k, v in value.items() if k != "headers"}
        return {k: _clean(v, aliases, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, aliases, field) for v in value]
    if isinstance(value, str):
        if field == "data" and len(value) > 64:
            return digest(value.encode("ascii", "replace"))
        if field == "display_name" and (os.sep in value or "/" in value):
            return os.path.basename(value.replace("\\", "/"))
        return aliases.apply(value)
    return value


# -- what differs -------------------------------------------------------------------------------------


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What a user changed between a recorded request and this one, in their words (prompt, model, …)."""
    if recorded.get("path") != now.get("path") or recorded.get("method") != now.get("method"):
        return ["the request"]
    if "/files" in str(now.get("path")):  # an upload's metadata (name, size, type) or its bytes
        return ["the uploaded file"]
    old, new = recorded.get("body"), now.get("body")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["the uploaded file"] if old != new else ["the query"]
    found: list[str] = []
    for field in ("model", "agent"):
        if old.get(field) != new.get(field):
            found.append(f"the {field} ({old.get(field) or 'none'} → {new.get(field) or 'none'})")
    parts_old, parts_new = _inputs(old.get("input")), _inputs(new.get("input"))
    if parts_old["text"] != parts_new["text"]:
        found.append(f"the prompt ({_short(parts_old['text'])} → {_short(parts_new['text'])})")
    if parts_old["files"] != parts_new["files"]:
        found.append("the files")
    if parts_old["results"] != parts_new["results"]:
        found.append("a tool result")
    if old.get("previous_interaction_id") != new.get("previous_interaction_id"):
        found.append("its position in the chain")
    if old.get("continuation_token") != new.get("continuation_token"):
        found.append("the continuation")
    skip = {"model", "agent", "input", "previous_interaction_id", "continuation_token"}
    flags = sorted(k for k in set(old) | set(new) if k not in skip and old.get(k) != new.get(k))
    if flags:
        found.append("the flags (" + ", ".join(flags) + ")")
    return found


def _inputs(value: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {"text": [], "files": [], "results": []}
    if isinstance(value, str):
        found["text"].append(value)
        return found
    for field, item in _walk_typed(value):
        if field == "text":
            found["text"].append(item)
        elif field in ("data", "uri", "file_uri"):
            found["files"].append(item)
        elif field == "result":
            found["results"].append(item)
    return found


def _walk_typed(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") == "function_result":
            yield "result", value.get("result")
            return
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                yield from _walk_typed(item)
            else:
                yield key, item
    elif isinstance(value, list):
        for item in value:
            yield from _walk_typed(item)


def _short(texts: list[Any]) -> str:
    text = " ".join(str(t) for t in texts)
    text = " ".join(text.split())
    return repr(text if len(text) <= 40 else text[:39] + "…")
