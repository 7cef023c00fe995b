"""A map row's request, sent without the SDK's per-request marshalling once the SDK has vouched for its shape.

google-genai 3.6.1 validates and then serialises every ``interactions.create`` body through two pydantic
models it builds afresh for each call (``_gaos/utils/serializers.py``: ``unmarshal`` and ``marshal_json``),
about 10 ms of CPU a request, the largest share of a map row's kernel CPU (``bench/map_profile.py``). A map
job sends thousands of bodies of one shape that differ only in their strings, so paying it once per shape is
enough:

- the first row of each body *shape* (keys, list lengths and value types; strings may differ) goes through
  ``interactions.create`` as any request does; an httpx request hook (``keep_request``, installed through
  ``HttpOptions.async_client_args``) keeps the exact request the SDK put on the wire (URL, headers, timeout);
- when the SDK's body equals the row's parameters as plain JSON, the shape is vouched for, and later rows of
  that shape are sent by the SDK's own HTTP client (its connection pool, timeouts and transport, so replay
  cassettes record them as usual) with the SDK's URL and headers and their own JSON body;
- anything else — a body the SDK changed, parameters that are not plain JSON, an auth header other than a
  static API key — stays on the SDK path for every row.

Failures read as the SDK's would: ``WireError`` carries ``status_code``, the parsed ``body`` and the
``response`` (Retry-After), which ``Backend.translate`` and the map's explainer already understand.
"""

from __future__ import annotations

import contextvars
import importlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

INTERACTIONS_PATH = "/interactions"
_DROP_HEADERS = frozenset({"content-length", "host", "transfer-encoding"})


class WireError(Exception):
    """An HTTP error answer to a row sent on the fast path, shaped like the SDK's ``APIStatusError``."""

    def __init__(self, status_code: int, body: Any, response: Any) -> None:
        message = _message(body) or f"HTTP {status_code}"
        super().__init__(message)
        self.status_code, self.body, self.response = status_code, body, response


class WireTimeoutError(TimeoutError):
    """The service did not answer in time (a name ``Backend.translate`` reads as a timeout)."""


@dataclass
class _Slot:
    """Where the request hook leaves the SDK's request for the task that is sending it."""

    request: Any = None


_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("gemini_magics_wire_slot", default=None)


async def keep_request(request: Any) -> None:
    """httpx request hook (``Backend.async_client(request_hook=...)``): hands the SDK's outgoing request to
    the ``FastPath.open`` that awaits it; other requests pass untouched."""
    slot = _SLOT.get()
    if slot is not None and slot.request is None:
        slot.request = request


def shape(value: Any) -> Any:
    """The structure of a JSON-like value: what must match for the SDK's check of one body to hold for
    another (strings, numbers and booleans stand for any value of their type)."""
    if isinstance(value, dict):
        return ("{", tuple((k, shape(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))))
    if isinstance(value, list | tuple):
        return ("[", tuple(shape(v) for v in value))
    return type(value).__name__


@dataclass
class FastPath:
    """Sends rows' ``interactions.create(stream=True)`` requests; see the module docstring."""

    interactions: Any
    _template: Any = None
    _vouched: set[Any] = field(default_factory=set)
    _refused: set[Any] = field(default_factory=set)
    http: Any = None

    def __post_init__(self) -> None:
        config = getattr(self.interactions, "sdk_configuration", None)
        http = getattr(config, "async_client", None)
        self.http = http if hasattr(http, "send") else None

    @property
    def active(self) -> bool:
        """Whether any shape has been vouched for (rows are being sent without the SDK's marshalling)."""
        return bool(self._vouched)

    async def open(self, params: dict[str, Any]) -> AsyncIterator[str]:
        """The SSE lines of the row's streamed answer."""
        body = {**params, "stream": True}
        key = shape(body)
        if self._template is not None and key in self._vouched:
            async for line in self._direct(body):
                yield line
            return
        slot = _Slot()
        token = _SLOT.set(slot)
        try:
            stream = await self.interactions.create(stream=True, **params)
        finally:
            _SLOT.reset(token)
        if key not in self._refused:
            self._vouch(key, body, slot.request)
        response = getattr(stream, "response", None)
        if response is None or not hasattr(response, "aiter_lines"):  # an SDK that changed its stream class
            async for event in stream:
                yield "data: " + json.dumps(event.model_dump(mode="json", exclude_none=True))
                yield ""
            return
        try:
            async for line in response.aiter_lines():
                yield line
        finally:
            await response.aclose()

    def _vouch(self, key: Any, body: dict[str, Any], request: Any) -> None:
        try:
            sent = json.loads(request.content) if request is not None else None
            same = _canonical(sent) == _canonical(body)  # strict: 5 and 5.0 differ on the wire
        except (TypeError, ValueError):
            same = False
        static_key = request is not None and "x-goog-api-key" in request.headers
        if (
            self.http is None
            or not same
            or not static_key
            or not request.url.path.endswith(INTERACTIONS_PATH)
        ):
            self._refused.add(key)
            return
        self._template = request
        self._vouched.add(key)

    async def _direct(self, body: dict[str, Any]) -> AsyncIterator[str]:
        template = self._template
        httpx = importlib.import_module(type(template).__module__.split(".")[0])  # httpx2, as the SDK uses
        headers = [(k, v) for k, v in template.headers.multi_items() if k.lower() not in _DROP_HEADERS]
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        request = type(template)(
            "POST", template.url, headers=headers, content=content, extensions=dict(template.extensions)
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise WireTimeoutError(str(exc) or "timed out") from None
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from None
        try:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                try:
                    parsed: Any = json.loads(text)
                except ValueError:
                    parsed = text
                raise WireError(response.status_code, parsed, response)
            async for line in response.aiter_lines():
                yield line
        finally:
            await response.aclose()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _message(body: Any) -> str:
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return body.strip()[:300] if isinstance(body, str) else ""
