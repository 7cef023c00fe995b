"""A real MCP server for tests: FastMCP-style tools over streamable HTTP, served by uvicorn in a thread.

The emulator's ``mcp_server`` tool connects to it for real, so the tests can see what the service would
have done: which tools were called, with which arguments, and which headers reached the server.

Tools:
- ``lookup_word(word)``: a definition from a small glossary (unknown words get a stock answer);
- ``add_numbers(a, b)``: the sum, as text;
- ``explode(reason)``: always raises, so the result is an MCP tool error (``isError``);
- ``private_notes(topic)``: needs ``Authorization: Bearer <token>``; without it the tool fails;
- ``draw_square(colour)``: a caption and a PNG (rich content);
- ``echo_auth()``: echoes the ``Authorization`` header (a careless server: the emulator must scrub it);
- ``wait_seconds(seconds)``: answers late (for the emulator's time limit).

``require_auth=True`` makes the whole endpoint answer 401 without the right ``Authorization`` header, so
the MCP handshake itself fails.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from PIL import Image as PILImage
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

GLOSSARY = {
    "emulator": "a program that imitates another system so that clients cannot tell them apart",
    "protocol": "the rules two programs follow to talk to each other",
}


@dataclass
class Call:
    """One tools/call the server received."""

    tool: str
    arguments: dict[str, Any]
    authorization: str | None


@dataclass
class McpTestServer:
    """An MCP server on a free loopback port; ``url`` is its streamable HTTP endpoint."""

    token: str = "test-token"
    require_auth: bool = False
    calls: list[Call] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mcp"

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"

    def _record(self, tool: str, arguments: dict[str, Any], ctx: Context) -> None:
        headers = ctx.headers or {}
        self.calls.append(Call(tool, arguments, headers.get("authorization")))

    def _app(self) -> ASGIApp:
        mcp = MCPServer("kb", log_level="WARNING")

        @mcp.tool(description="Look a word up in the glossary.")
        def lookup_word(word: str, ctx: Context) -> str:
            self._record("lookup_word", {"word": word}, ctx)
            return f"{word}: {GLOSSARY.get(word.lower(), 'not in the glossary')}"

        @mcp.tool(description="Add two integers.")
        def add_numbers(a: int, b: int, ctx: Context) -> str:
            self._record("add_numbers", {"a": a, "b": b}, ctx)
            return f"{a} + {b} = {a + b}"

        @mcp.tool(description="Always fails.")
        def explode(reason: str, ctx: Context) -> str:
            self._record("explode", {"reason": reason}, ctx)
            raise ToolError(f"the tool exploded: {reason}")

        @mcp.tool(description="Private notes on a topic; needs the Authorization header.")
        def private_notes(topic: str, ctx: Context) -> str:
            self._record("private_notes", {"topic": topic}, ctx)
            if (ctx.headers or {}).get("authorization") != self.authorization:
                raise ToolError("missing or wrong Authorization header")
            return f"Notes on {topic}: the secret plan is to ship on Friday."

        @mcp.tool(description="Echo the Authorization header the server received (a careless server).")
        def echo_auth(ctx: Context) -> str:
            self._record("echo_auth", {}, ctx)
            return f"You sent Authorization: {(ctx.headers or {}).get('authorization')}"

        @mcp.tool(description="Draw a small square: a caption and a PNG.", structured_output=False)
        def draw_square(colour: str, ctx: Context) -> list[Any]:
            self._record("draw_square", {"colour": colour}, ctx)
            png = io.BytesIO()
            PILImage.new("RGB", (8, 8), colour).save(png, format="PNG")
            return [f"A {colour} square", Image(data=png.getvalue(), format="png")]

        @mcp.tool(description="Wait, then answer.")
        async def wait_seconds(seconds: float, ctx: Context) -> str:
            self._record("wait_seconds", {"seconds": seconds}, ctx)
            await asyncio.sleep(seconds)
            return f"waited {seconds} s"

        app = mcp.streamable_http_app(stateless_http=True, json_response=True)
        return _Gate(app, self) if self.require_auth else app

    def start(self, timeout: float = 10.0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mcp-test-server", daemon=True
        )
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            waited.wait(0.01)
        if not self._server.started:
            raise RuntimeError(f"the MCP test server did not start on {self.url}")
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> McpTestServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Gate:
    """ASGI middleware: 401 for HTTP requests without the server's ``Authorization`` header."""

    def __init__(self, app: ASGIApp, server: McpTestServer) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and Request(scope).headers.get("authorization") != self.server.authorization
        ):
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def free_port() -> int:
    """A loopback port nothing listens on (for an unreachable server's URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
