"""Serve notebook functions as an MCP server from the kernel: ``server = serve("glossary", lookup_word)``,
then ``%%gemini --mcp glossary=server`` gives the model those tools through the ``mcp_server`` tool.

The server speaks MCP's streamable HTTP (the ``mcp`` package's ``MCPServer``, stateless, JSON replies) under
uvicorn in a daemon thread, on a free port of the loopback interface. Only what runs on this machine can
reach it: the offline emulator (which runs in the kernel and really calls the server, as the service would)
or a local proxy. Gemini calls MCP servers from Google's side, so for Gemini give ``--mcp`` a public URL.

Nothing is imported until ``serve`` is called (the ``mcp`` package and uvicorn take a moment). The object's
repr and Markdown name the server and its tools but not the port, which changes from run to run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from .render.static import code_span, escape


class LocalMcpServer:
    """An MCP server running in this kernel; ``url`` is its endpoint, ``stop()`` ends it."""

    def __init__(self, name: str, tools: list[str], url: str, server: Any, thread: threading.Thread) -> None:
        self.name, self.tools, self.url = name, tools, url
        self._server, self._thread = server, thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"<MCP server {self.name!r} in this kernel, {state}: {', '.join(self.tools) or 'no tools'}>"

    def _repr_markdown_(self) -> str:
        tools = ", ".join(code_span(t) for t in self.tools) or "no tools"
        state = "serves" if self.running else "stopped serving"
        return (
            f"MCP server **{escape(self.name)}** {state} {tools} from this kernel (streamable HTTP on a "
            f"loopback port): `%%gemini --mcp {escape(self.name)}=VARIABLE` gives them to the model."
        )


def serve(name: str, *functions: Callable[..., Any], timeout: float = 10.0) -> LocalMcpServer:
    """Serve ``functions`` (their names, docstrings and type hints describe the tools) as the MCP server
    ``name``; or pass an ``mcp`` ``MCPServer`` you built as ``functions[0]`` to serve it as it is."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    if len(functions) == 1 and isinstance(functions[0], MCPServer):
        server, tools = functions[0], []
    else:
        server, tools = MCPServer(name, log_level="WARNING"), []
        for function in functions:
            if not callable(function):
                raise TypeError(f"serve({name!r}, …): {function!r} is not a function")
            server.tool()(function)
            tools.append(function.__name__)
    app = server.streamable_http_app(stateless_http=True, json_response=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, name=f"mcp-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not runner.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not runner.started:
        runner.should_exit = True
        raise RuntimeError(f"the MCP server {name!r} did not start within {timeout:.0f} s")
    return LocalMcpServer(name, tools, f"http://127.0.0.1:{port}/mcp", runner, thread)
