"""The one google-genai client of the magics: Gemini when a key is found, else the local emulator.

Also the one place that knows the key. It is held in memory only, never put in a repr, a message or a
log, and every error text that leaves this module is scrubbed of it.

The emulator is started in the kernel on first use, unless ``$GEMINI_MAGICS_EMULATOR_URL`` names a running
one: the Jupyter server extension starts one for the whole server and exports its URL, so background runs
outlive the kernel that started them. On a shared emulator the kernel's own emulator settings
(``emulator_agent_seconds``, ``emulator_directives``) travel with every request as directives.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import blocks_compat
from .sse import lines_of, sse_events, typed

__all__ = ["EMULATOR_KEY", "Backend", "BackendError", "EventStream", "Target", "sse_events", "typed"]

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
EMULATOR_KEY = "emulator-no-key"
EMULATOR_URL_VARIABLE = "GEMINI_MAGICS_EMULATOR_URL"


class BackendError(Exception):
    """A failure the user can act on; ``str()`` is one line, scrubbed of the key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where requests go: ``kind`` is ``gemini``, ``emulator`` or ``url``."""

    kind: str
    base_url: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "emulator":
            return "offline emulator"
        if self.kind == "url":
            return f"endpoint {self.base_url}"
        return "Gemini"


class Backend:
    """Owns the SDK client, created on first use (importing google.genai costs about a second)."""

    def __init__(self, setting: str = "auto", emulator_agent_seconds: float = 20.0, retries: int = 4) -> None:
        self.setting = setting
        self.emulator_agent_seconds = emulator_agent_seconds
        self.retries = retries  # the SDK's own retries of 408/409/429/5xx (with backoff)
        self.emulator_directives = ""  # applied by the in-kernel emulator to every request, e.g. "rate=40"
        self.stream_timeout: float | None = 300.0  # a foreground stream silent this long has stalled
        self.resume_timeout = 2.0  # a resumed stream silent this long is checked with a get
        self._key: str | None = None  # set by ``%gemini key``; wins over the environment
        self._client: Any = None
        self._client_for: tuple[Any, ...] | None = None
        self.replay: Any = None  # a ``replay.Recorder`` when the notebook records or replays
        self._async: Any = None
        self._async_for: tuple[Any, ...] | None = None
        self._emulator: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Backend {self.setting!r}: {self.target().label}>"

    # -- key and target -------------------------------------------------------------------------------

    def set_key(self, key: str | None) -> None:
        self._key = (key or "").strip() or None

    def key(self) -> str | None:
        if self._key:
            return self._key
        for name in KEY_VARIABLES:
            value = os.environ.get(name, "").strip()
            if value:
                return value
        return None

    def target(self) -> Target:
        setting = (self.setting or "auto").strip()
        if setting == "auto":
            return Target("gemini") if self.key() else Target("emulator")
        if setting in ("gemini", "emulator"):
            return Target(setting)
        if re.match(r"^https?://", setting):
            return Target("url", setting.rstrip("/"))
        raise BackendError(f"unknown backend {setting!r}: use auto, gemini, emulator or an http(s) URL")

    def scrub(self, text: str) -> str:
        """``text`` with every known key replaced by ``***``."""
        values = (self._key, *(os.environ.get(n) for n in KEY_VARIABLES))
        # Stripped, as ``key()`` sends it: a variable read from a file often ends in a newline.
        secrets = {value.strip() for value in values if value and len(value.strip()) >= 4}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def scrub_errors(self, interaction: Any) -> Any:
        """``interaction`` (an SDK ``Interaction``, or its dict in a stream event) with the service's error
        messages scrubbed, in place: it is kept in ``Result.interaction`` and shown by ``--json``."""
        errors = (
            interaction.get("errors")
            if isinstance(interaction, dict)
            else getattr(interaction, "errors", None)
        )
        for error in errors if isinstance(errors, list) else ():
            if isinstance(error, dict):
                if isinstance(error.get("message"), str):
                    error["message"] = self.scrub(error["message"])
            elif isinstance(getattr(error, "message", None), str):
                error.message = self.scrub(error.message)
        return interaction

    def scrub_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A stream event with the service's error messages scrubbed, in place."""
        error = event.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            error["message"] = self.scrub(error["message"])
        if isinstance(event.get("interaction"), dict):
            self.scrub_errors(event["interaction"])
        return event

    # -- the client ----------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        target, key = self.target(), self.key()
        replay = self.replay if self.replay is not None and self.replay.active else None
        wanted = (target, key, id(replay), replay.mode if replay else "off")
        with self._lock:
            if self._client is None or self._client_for != wanted:
                self._client = self._make_client(target, key, replay)
                self._client_for = wanted
            return self._client

    def async_client(
        self, attempts: int = 1, request_hook: Callable[[Any], Awaitable[None]] | None = None
    ) -> Any:
        """A client for ``client.aio`` calls with the SDK's retries set to ``attempts`` (``--map`` retries
        itself, adaptively) and an optional httpx ``request_hook`` that sees each outgoing request
        (``mapping/wire.py``); cached like ``client``."""
        target, key = self.target(), self.key()
        replay = self.replay if self.replay is not None and self.replay.active else None
        wanted = (target, key, id(replay), replay.mode if replay else "off", attempts, request_hook)
        with self._lock:
            if self._async is None or self._async_for != wanted:
                self._async = self._make_client(target, key, replay, attempts, request_hook)
                self._async_for = wanted
            return self._async

    def _make_client(
        self,
        target: Target,
        key: str | None,
        replay: Any = None,
        attempts: int = 0,
        request_hook: Callable[[Any], Awaitable[None]] | None = None,
    ) -> Any:
        from google import genai
        from google.genai import types

        retry = types.HttpRetryOptions(attempts=attempts or max(1, self.retries + 1))
        hooks = {"event_hooks": {"request": [request_hook]}} if request_hook is not None else {}
        if replay is not None:
            return self._recording_client(target, key, replay, retry, hooks)
        if target.kind == "gemini":
            if not key:
                raise BackendError(
                    "no API key: set GEMINI_API_KEY, or run %gemini key, or use the emulator "
                    "(%config GeminiMagics.backend = 'emulator')"
                )
            http = types.HttpOptions(retry_options=retry, async_client_args=hooks or None)
            return genai.Client(api_key=key, http_options=http)
        base_url = target.base_url if target.kind == "url" else self._emulator_url()
        headers = self._shared_emulator_headers() if target.kind == "emulator" else None
        http = types.HttpOptions(
            base_url=base_url, retry_options=retry, headers=headers, async_client_args=hooks or None
        )
        return genai.Client(api_key=key or EMULATOR_KEY, http_options=http)

    def _recording_client(
        self, target: Target, key: str | None, replay: Any, retry: Any, hooks: dict[str, Any]
    ) -> Any:
        """A client whose requests go through the cassette; replaying, nothing is sent (no emulator is
        started, no key is needed)."""
        from google import genai
        from google.genai import types

        from .replay.transport import make_async_transport, make_transport

        sending = replay.mode != "replay"
        if sending and target.kind == "gemini" and not key:
            self._make_client(target, key)  # the one-line "no API key" error
        base_url, headers = None, None
        if target.kind == "url":
            base_url = target.base_url
        elif target.kind == "emulator" and sending:
            base_url, headers = self._emulator_url(), self._shared_emulator_headers()
        http = types.HttpOptions(
            base_url=base_url,
            headers=headers,
            retry_options=retry,
            client_args={"transport": make_transport(replay, sending)},
            async_client_args={"transport": make_async_transport(replay, sending), **hooks},
        )
        return genai.Client(api_key=key or EMULATOR_KEY, http_options=http)

    def label_for(self, interaction_id: str | None) -> str:
        """What answered: ``replayed (recorded … with …)`` for a replayed interaction, else the target."""
        if self.replay is not None and self.replay.active:
            replayed = self.replay.label(interaction_id)
            if replayed:
                return replayed
        return self.target().label

    @staticmethod
    def shared_emulator() -> str | None:
        """The URL of the emulator the Jupyter server shares with its kernels, if it exported one."""
        url = os.environ.get(EMULATOR_URL_VARIABLE, "").strip().rstrip("/")
        return url if re.match(r"^https?://", url) else None

    def _shared_emulator_headers(self) -> dict[str, str] | None:
        """This kernel's emulator settings as request directives, for a shared emulator (None: in-kernel)."""
        if self.shared_emulator() is None:
            return None
        from .emulator import directives

        try:
            directives.parse(self.emulator_directives)
        except ValueError as exc:
            raise BackendError(f"GeminiMagics.emulator_directives: {exc}") from None
        wanted = [f"duration={self.emulator_agent_seconds:g}", self.emulator_directives.strip()]
        return {directives.HEADER: ",".join(w for w in wanted if w)}

    def _emulator_url(self) -> str:
        shared = self.shared_emulator()
        if shared is not None:
            return shared
        if self._emulator is None:
            from .emulator import EmulatorServer, Settings, directives

            try:
                faults = directives.parse(self.emulator_directives)
            except ValueError as exc:
                raise BackendError(f"GeminiMagics.emulator_directives: {exc}") from None
            settings = Settings(agent_seconds=self.emulator_agent_seconds, faults=faults)
            self._emulator = EmulatorServer(settings)
            self._emulator.start()
        return self._emulator.base_url

    def close(self) -> None:
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        self._client = self._client_for = None
        self._async = self._async_for = None

    # -- calls ---------------------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> Any:
        """A non-streamed create: the SDK's ``Interaction``."""
        try:
            return self.scrub_errors(self.client.interactions.create(**params))
        except Exception as exc:
            raise self.translate(exc) from None

    def get(self, interaction_id: str) -> Any:
        try:
            return self.scrub_errors(self.client.interactions.get(interaction_id))
        except Exception as exc:
            raise self.translate(exc) from None

    def cancel(self, interaction_id: str) -> Any:
        try:
            return self.scrub_errors(self.client.interactions.cancel(interaction_id))
        except Exception as exc:
            raise self.translate(exc) from None

    def delete(self, interaction_id: str) -> None:
        """Delete a stored interaction on the service (``BackendError`` with ``status`` 404: already gone)."""
        try:
            self.client.interactions.delete(interaction_id)
        except Exception as exc:
            raise self.translate(exc) from None

    def stream(self, params: dict[str, Any]) -> EventStream:
        """A streamed create, continued across decode-limit hops and resumed when the connection drops
        (``continuation.HopStream``)."""
        from .continuation import HopStream

        try:
            sdk_stream = self._open_stream(params)
        except Exception as exc:
            raise self.translate(exc) from None
        hops = HopStream(params, sdk_stream, self._open_stream, self._open_resume, self._fetch, lines_of)
        hops.patience = self.stream_timeout or hops.patience
        return EventStream(hops, self)

    def _open_stream(self, params: dict[str, Any]) -> Any:
        return self.client.interactions.create(stream=True, timeout=self.stream_timeout, **params)

    def _open_resume(self, interaction_id: str, last_event_id: str | None) -> Any:
        timeout = min(self.resume_timeout, self.stream_timeout or self.resume_timeout)
        return self.client.interactions.get(
            interaction_id, stream=True, last_event_id=last_event_id, timeout=timeout
        )

    def _fetch(self, interaction_id: str) -> dict[str, Any]:
        whole = self.client.interactions.get(interaction_id)
        return blocks_compat.plain(whole) if hasattr(whole, "model_dump") else {}

    def follow(
        self, interaction_id: str, last_event_id: str | None = None, timeout: float | None = None
    ) -> EventStream:
        """The events of a (background) interaction, after ``last_event_id`` when resuming. ``timeout``
        bounds connecting and every read, so a stream that goes silent ends in a ``BackendError``."""
        try:
            sdk_stream = self.client.interactions.get(
                interaction_id, stream=True, last_event_id=last_event_id, timeout=timeout
            )
        except Exception as exc:
            raise self.translate(exc) from None
        return EventStream(sdk_stream, self)

    def translate(self, exc: BaseException) -> BackendError:
        """Any SDK or network failure → a one-line ``BackendError`` that says what to do."""
        if isinstance(exc, BackendError):
            return exc
        if type(exc).__name__ == "ContinuationInterruptedError" and exc.__cause__ is not None:
            exc = exc.__cause__  # the SDK's wrapper of the failure that stopped a continued stream
        status = getattr(exc, "status_code", None)
        if status is None and isinstance(getattr(exc, "code", None), int):  # google.genai.errors.APIError
            status = exc.code  # type: ignore[attr-defined]
        message = _service_message(exc)
        if message.startswith("[replay] "):  # the cassette had no answer (replay/recorder.py)
            return BackendError(self.scrub(message[len("[replay] ") :]))
        where = self.target().label
        if status is None:
            kind = type(exc).__name__
            if "Timeout" in kind:
                text = f"{where} did not answer in time ({kind}); run the cell again"
            elif "Connection" in kind or isinstance(exc, OSError):
                text = f"cannot reach {where}: {message or kind}; check the network and run the cell again"
            else:
                text = f"{where} failed: {kind}: {message}"
        elif status in (401, 403) or "API key" in message:
            text = (
                f"{where} refused the API key (HTTP {status}): {message} — set GEMINI_API_KEY or run "
                "%gemini key"
            )
        elif status == 404:
            text = f"not found (HTTP 404): {message} — check the model, agent or interaction ID"
        elif status == 429:
            text = f"rate limit or quota exceeded (HTTP 429): {message} — wait, then run the cell again"
        elif status >= 500:
            text = f"{where} is unavailable (HTTP {status}): {message} — try again shortly"
        else:
            text = (
                f"{where} refused the request (HTTP {status}): {message} — check the cell's flags and prompt"
            )
        return BackendError(self.scrub(" ".join(text.split())), status)


def _service_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    details = getattr(exc, "details", None)  # google.genai.errors.APIError: the service's error JSON
    error = details.get("error") if isinstance(details, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(exc)


class EventStream:
    """The events of a streamed create as plain dicts, read straight from the SDK's HTTP response.

    google-genai 3.6.1 decodes every event through ``serializers.unmarshal``, which builds a new pydantic
    model class per event (about a millisecond each), and its SSE reader deep-copies each frame. The
    magics only need the JSON, so this reads the same response's lines (SSE: ``data:`` lines, a blank
    line ends an event, ``[DONE]`` ends the stream). ``typed()`` turns an event into the SDK's own model
    with a cached adapter when a caller wants one. ``tests/unit/test_event_stream.py`` notices when
    upstream changes either side of that bargain.
    """

    def __init__(self, source: Any, backend: Backend) -> None:
        self._source = source  # one SDK stream, or a ``HopStream`` of several
        self._backend = backend

    @property
    def hops(self) -> int:
        """HTTP streams this answer took (continuation hops and reconnects); 1 for a plain stream."""
        return getattr(self._source, "hops", 1)

    @property
    def resumes(self) -> int:
        """Dropped connections resumed exactly (``get`` after the last event)."""
        return getattr(self._source, "resumes", 0)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from .continuation import HopStream

        events = self._source if isinstance(self._source, HopStream) else lines_of(self._source)
        try:
            for event in events:
                yield self._backend.scrub_event(event)
        except GeneratorExit:
            raise
        except Exception as exc:
            raise self._backend.translate(exc) from None
        finally:
            self.close()

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
