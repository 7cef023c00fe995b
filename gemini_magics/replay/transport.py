"""The httpx transport under the SDK's client that records and replays (``Recorder`` decides).

Recording happens below the SDK, at the HTTP layer, so everything the SDK does — creates, streams,
continuation hops, resumes, uploads, polls — is recorded the same way, and a replayed answer goes through
exactly the parsing and rendering a live one does. A live answer is passed on as it arrives (a stream
stays a stream) while a copy is taken; the service is asked for uncompressed bodies so the copy is text.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Iterator
from typing import Any

from .recorder import Pending, Recorder, parse_frame


def httpx_module() -> Any:
    """The httpx the SDK uses by default (``httpx2`` when installed), so it detects our transport."""
    try:
        import httpx2

        return httpx2
    except ImportError:  # pragma: no cover - depends on the environment
        import httpx

        return httpx


def make_transport(recorder: Recorder, send: bool) -> Any:
    """A transport for ``HttpOptions(client_args={"transport": ...})``; ``send`` False: never connects."""
    httpx = httpx_module()

    class ReplayTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            self.recorder = recorder
            self.inner = httpx.HTTPTransport() if send else None

        def handle_request(self, request: Any) -> Any:
            body = request.read()
            answer, pending = self.recorder.lookup(request.method, str(request.url), body)
            if answer is not None:
                return httpx.Response(
                    answer.status, headers=answer.headers, content=answer.body, request=request
                )
            if self.inner is None:  # replay only: lookup answered every request
                raise httpx.ConnectError("replay: the service is not asked", request=request)
            assert pending is not None
            request.headers["accept-encoding"] = "identity"
            try:
                response = self.inner.handle_request(request)
            except Exception:
                pending.failed()
                raise
            headers = {k.lower(): v for k, v in response.headers.items()}
            streamed = "text/event-stream" in headers.get("content-type", "")
            copy = Copy(response.stream, pending, response.status_code, headers, streamed)
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=httpx_stream(httpx, copy),
                request=request,
                extensions=response.extensions,
            )

        def close(self) -> None:
            if self.inner is not None:
                self.inner.close()

    return ReplayTransport()


def httpx_stream(httpx: Any, copy: Copy) -> Any:
    class Stream(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            return iter(copy)

        def close(self) -> None:
            copy.close()

    return Stream()


class Copy:
    """Passes a live body on chunk by chunk and keeps a copy; at the end (or on close) it is recorded."""

    def __init__(
        self, raw: Any, pending: Pending, status: int, headers: dict[str, str], streamed: bool
    ) -> None:
        self.raw, self.pending, self.status, self.headers, self.streamed = (
            raw,
            pending,
            status,
            headers,
            streamed,
        )
        encoding = headers.get("content-encoding", "").lower()
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
        if encoding == "deflate":
            self._inflate = zlib.decompressobj()
        self._plain = encoding in ("", "identity") or self._inflate is not None
        self._body = bytearray()
        self._text = ""
        self._complete = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.raw:
            self._take(chunk)
            yield chunk
        self._complete = True

    def _take(self, chunk: bytes) -> None:
        if not self._plain:
            return
        data = self._inflate.decompress(chunk) if self._inflate is not None else chunk
        if not self.streamed:
            self._body += data
            return
        self._text += data.decode("utf-8", "replace").replace("\r\n", "\n")
        while "\n\n" in self._text:
            frame, self._text = self._text.split("\n\n", 1)
            event = parse_frame(frame)
            if event is not None:
                self.pending.frame(event)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self.raw, "close", None) if self.raw is not None else None
            if close is not None:
                close()
        finally:
            if not self._plain:
                self.pending.failed()  # an encoding we cannot read back: not recorded
            elif self.streamed:
                if self._text.strip() and (event := parse_frame(self._text)) is not None:
                    self.pending.frame(event)
                self.pending.done(self.status, self.headers, b"", streamed=True)
            elif self._complete:
                self.pending.done(self.status, self.headers, bytes(self._body), streamed=False)
            else:
                self.pending.failed()  # cut before the body was whole


def make_async_transport(recorder: Recorder, send: bool) -> Any:
    """The same for the SDK's async client (``client.aio``: ``--map`` rows)."""
    httpx = httpx_module()

    class AsyncReplayTransport(httpx.AsyncBaseTransport):
        """A pooled connection belongs to the event loop that opened it, and every ``--map`` job runs a loop
        of its own: one pool per loop, as the SDK keeps (a job reusing the last job's connection failed
        with "Event loop is closed")."""

        def __init__(self) -> None:
            self.recorder = recorder
            self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
            self._lock = threading.Lock()

        def _pool(self) -> Any:
            loop = asyncio.get_running_loop()
            with self._lock:
                for gone in [old for old in self._pools if old.is_closed()]:
                    del self._pools[gone]  # cannot be closed any more: the GC releases its sockets
                if loop not in self._pools:
                    self._pools[loop] = httpx.AsyncHTTPTransport()
                return self._pools[loop]

        async def handle_async_request(self, request: Any) -> Any:
            body = await request.aread()
            answer, pending = self.recorder.lookup(request.method, str(request.url), body)
            if answer is not None:
                return httpx.Response(
                    answer.status, headers=answer.headers, content=answer.body, request=request
                )
            if not send:
                raise httpx.ConnectError("replay: the service is not asked", request=request)
            assert pending is not None
            request.headers["accept-encoding"] = "identity"
            try:
                response = await self._pool().handle_async_request(request)
            except Exception:
                pending.failed()
                raise
            headers = {k.lower(): v for k, v in response.headers.items()}
            streamed = "text/event-stream" in headers.get("content-type", "")
            copy = Copy(None, pending, response.status_code, headers, streamed)
            raw = response.stream

            class Stream(httpx.AsyncByteStream):
                async def __aiter__(self) -> Any:
                    async for chunk in raw:
                        copy._take(chunk)
                        yield chunk
                    copy._complete = True

                async def aclose(self) -> None:
                    try:
                        await raw.aclose()
                    finally:
                        copy.close()

            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=Stream(),
                request=request,
                extensions=response.extensions,
            )

        async def aclose(self) -> None:
            with self._lock:
                pool = self._pools.pop(asyncio.get_running_loop(), None)
            if pool is not None:  # other loops' pools are theirs to close (or already gone with them)
                await pool.aclose()

    return AsyncReplayTransport()
