"""Remote MCP servers in the fake model: the ``mcp_server`` tool really connects, lists and calls.

A request that declares ``{"type": "mcp_server", "name", "url", "headers", "allowed_tools"}`` makes the
emulator do what the service does: open an MCP session over streamable HTTP (with the given headers), list
the server's tools, keep those ``allowed_tools`` permits, call the ones the prompt asks for (the fake model
picks tools by the words of their names, as it picks functions) and report each call and result as
``mcp_server_tool_call`` / ``mcp_server_tool_result`` steps; the answer then quotes the results.

A server that cannot be reached, refuses the handshake or cannot list its tools makes the request fail:
``check_servers`` (run at create) raises ``McpServerError``, which the routes answer with HTTP 400. Header
values are secrets: they are scrubbed from every message and result this module produces.

The ``mcp`` package is imported only when a request declares an ``mcp_server`` tool (and off the event
loop's thread), so importing the emulator does not pay for it. Each stage of a session (handshake, listing,
each call) is bounded by ``MCP_TIME_LIMIT``; a call that overruns it becomes an error result.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import controls
from .engine import Emit, Finish

if TYPE_CHECKING:
    from .turn import Turn

MCP_TIME_LIMIT = 15.0  # seconds the handshake, the listing or one call may take (read when used)

# Fills a tool's arguments from its input schema and the prompt: ``tooling.arguments_for``, passed in by
# ``tooling`` (which imports this module, so this module cannot import it back).
ArgumentFiller = Callable[[dict[str, Any], str], dict[str, Any]]


class McpServerError(Exception):
    """A declared MCP server that cannot be used; the message names it and never holds header values."""


@dataclass
class _Server:
    """One declared ``mcp_server`` tool."""

    name: str
    url: str
    headers: dict[str, str]
    allowed: list[dict[str, Any]] | None

    @property
    def secrets(self) -> list[str]:
        """Header values and their long words (a bearer token alone), longest first, to scrub from text."""
        found = set()
        for value in self.headers.values():
            value = str(value)
            if len(value) >= 3:
                found.add(value)
            found.update(word for word in value.split() if len(word) >= 8)
        return sorted(found, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def scrub_value(self, value: Any) -> Any:
        """``scrub`` on every string (keys included) inside a JSON value."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_value(v) for k, v in value.items()}
        return value

    def failure(self, reason: str) -> McpServerError:
        return McpServerError(self.scrub(f"Failed to use MCP server '{self.name}' at {self.url}: {reason}"))


def declared_servers(tools: Any) -> list[_Server]:
    """The ``mcp_server`` tools of a request, checked for what a session needs (a name and an http(s) URL)."""
    if not isinstance(tools, list):
        return []
    servers = []
    for spec in tools:
        if not isinstance(spec, dict) or spec.get("type") != "mcp_server":
            continue
        name = str(spec.get("name") or "mcp_server")
        url = spec.get("url")
        headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
        server = _Server(name, str(url or ""), {str(k): str(v) for k, v in headers.items()}, None)
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise server.failure("the url must be an http(s) URL of its streamable HTTP endpoint.")
        allowed = spec.get("allowed_tools")
        server.allowed = [a for a in allowed if isinstance(a, dict)] if isinstance(allowed, list) else None
        servers.append(server)
    return servers


async def check_servers(tools: Any) -> None:
    """Connect to every declared server and list its tools, as the service does before the model runs."""
    for server in declared_servers(tools):
        async with _Session(server) as client:
            await _list_tools(server, client)


def permitted(server: _Server, names: list[str]) -> list[str]:
    """The tool names ``allowed_tools`` lets the model call (all of them when it is absent)."""
    if server.allowed is None:
        return names
    allowed: set[str] = set()
    for entry in server.allowed:
        if entry.get("mode") == "none":
            continue
        listed = entry.get("tools")
        allowed.update(listed if isinstance(listed, list) else names)
    return [n for n in names if n in allowed]


def choose(
    server: _Server, turn: Turn, tools: list[dict[str, Any]], fill: ArgumentFiller
) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each permitted tool the prompt asks for, arguments filled from the prompt.

    The server's ``allowed_tools`` and the request's ``tool_choice`` both restrict the tools; ``any`` in
    either makes the model call the first permitted tool when the prompt names none.
    """
    names = controls.permitted(turn, permitted(server, [t["name"] for t in tools]))
    chosen = [n for n in names if controls.asks_for(n, turn.prompt)]
    forced = controls.choice(turn)[0] == "any" or any(e.get("mode") == "any" for e in server.allowed or [])
    if not chosen and names and forced:
        chosen = names[:1]
    schemas = {t["name"]: t.get("inputSchema") or {} for t in tools}
    return [(n, fill(schemas[n], turn.prompt)) for n in chosen]


# -- the session -------------------------------------------------------------------------------------------


class _Session:
    """An MCP client session to ``server``; connection and handshake failures become ``McpServerError``."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.client: Any = None
        self.http: Any = None
        self.refused: int | None = None  # an HTTP error status the server answered with

    async def _status(self, response: Any) -> None:
        if response.status_code >= 400:
            self.refused = response.status_code

    async def __aenter__(self) -> Any:
        try:
            client_module = await asyncio.to_thread(importlib.import_module, "mcp.client.client")
            transport = importlib.import_module("mcp.client.streamable_http")
            httpx2 = importlib.import_module("httpx2")
        except ImportError:
            raise self.server.failure("the emulator needs the 'mcp' package (pip install mcp).") from None
        timeout = httpx2.Timeout(MCP_TIME_LIMIT)
        hooks = {"response": [self._status]}
        self.http = httpx2.AsyncClient(headers=self.server.headers, timeout=timeout, event_hooks=hooks)
        stream = transport.streamable_http_client(self.server.url, http_client=self.http)
        self.client = client_module.Client(stream, read_timeout_seconds=MCP_TIME_LIMIT)
        try:
            async with asyncio.timeout(MCP_TIME_LIMIT):
                await self.client.__aenter__()
        except BaseException as exc:
            await self.http.aclose()
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            reason = f"HTTP {self.refused} from the server" if self.refused else _reason(exc)
            raise self.server.failure(f"the MCP handshake failed ({reason}).") from None
        return self.client

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self.client.__aexit__(None, None, None)
        except Exception:  # closing a session that already failed: nothing left to report
            pass
        finally:
            await self.http.aclose()


async def _list_tools(server: _Server, client: Any) -> list[dict[str, Any]]:
    try:
        async with asyncio.timeout(MCP_TIME_LIMIT):
            listing = await client.list_tools()
    except Exception as exc:
        raise server.failure(f"listing its tools failed ({_reason(exc)}).") from None
    return [tool.model_dump(by_alias=True, exclude_none=True) for tool in listing.tools]


def _reason(exc: BaseException) -> str:
    """A short reason from an exception (the innermost ones of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"no answer within {MCP_TIME_LIMIT:g} seconds"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# -- steps -------------------------------------------------------------------------------------------------


def result_content(server: _Server, result: Any) -> str | list[dict[str, Any]] | dict[str, Any]:
    """An MCP ``CallToolResult`` as the step's ``result``: text, rich content (with images), or an object."""
    blocks = []
    for item in result.content or []:
        kind = getattr(item, "type", None)
        if kind == "text":
            blocks.append({"type": "text", "text": server.scrub(item.text)})
        elif kind == "image":
            blocks.append({"type": "image", "data": item.data, "mime_type": item.mime_type})
        else:  # audio, resource links, embedded resources: described as JSON text
            dumped = json.dumps(item.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
            blocks.append({"type": "text", "text": server.scrub(dumped)})
    if not blocks and result.structured_content is not None:
        return server.scrub_value(result.structured_content)
    if all(b["type"] == "text" for b in blocks):
        return "\n".join(b["text"] for b in blocks)
    return blocks


def _call_emit(server: _Server, call_id: str, name: str, arguments: dict[str, Any]) -> Emit:
    step = {"type": "mcp_server_tool_call", "id": call_id, "name": name, "server_name": server.name}
    start = {"id": call_id, "signature": "", "type": step["type"], "name": name, "server_name": server.name}
    delta = {"type": step["type"], "name": name, "server_name": server.name, "arguments": arguments}
    return Emit({**step, "arguments": arguments}, deltas=[delta], start={**start, "arguments": {}})


def _result_emit(server: _Server, call_id: str, name: str, result: Any, is_error: bool) -> Emit:
    kind = "mcp_server_tool_result"
    head = {"type": kind, "name": name, "server_name": server.name}
    error = {"is_error": True} if is_error else {}
    start = {"call_id": call_id, "signature": "", **head}
    return Emit(
        {**head, "call_id": call_id, "result": result, **error},
        deltas=[{**head, "result": result, **error}],
        start=start,
    )


def _note(server: _Server, name: str, result: Any, is_error: bool) -> str:
    shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)[:2000]
    tool = f"`{server.name}: {name}`"
    if is_error:
        return f"The MCP tool {tool} failed: {shown}"
    return f"The MCP tool {tool} returned:\n\n> " + "\n> ".join(shown.splitlines() or [""])


async def _work(
    server: _Server, turn: Turn, fill: ArgumentFiller, out: asyncio.Queue[tuple[Any, ...]]
) -> None:
    """One server's session: list, then each chosen call and its result, reported through ``out``."""
    try:
        async with _Session(server) as client:
            tools = await _list_tools(server, client)
            for name, arguments in choose(server, turn, tools, fill):
                await out.put(("call", name, arguments))
                try:
                    async with asyncio.timeout(MCP_TIME_LIMIT):
                        result = await client.call_tool(name, arguments)
                except Exception as exc:  # a protocol error: reported like a tool error, as a failed result
                    await out.put(("result", name, f"The call failed: {server.scrub(_reason(exc))}", True))
                    continue
                await out.put(("result", name, result_content(server, result), bool(result.is_error)))
    except McpServerError as exc:
        await out.put(("failed", str(exc)))
    except Exception as exc:
        await out.put(("failed", str(server.failure(_reason(exc)))))
    await out.put(("done",))


async def run_mcp_servers(turn: Turn, fill: ArgumentFiller) -> AsyncIterator[Emit | Finish]:
    """The declared MCP servers' calls and results, in the order the service runs them.

    A server that fails here (it passed ``check_servers`` at create) ends the interaction as ``failed``.
    """
    try:
        servers = declared_servers(turn.tools)
    except McpServerError as exc:
        yield Finish("failed", {"code": "invalid_request", "message": str(exc)})
        return
    for server in servers:
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        worker = asyncio.create_task(_work(server, turn, fill, queue))
        call_ids: dict[str, str] = {}
        try:
            while (item := await queue.get())[0] != "done":
                if item[0] == "call":
                    call_ids[item[1]] = call_id = turn.new_id("mcp")
                    yield _call_emit(server, call_id, item[1], item[2])
                elif item[0] == "result":
                    _, name, result, is_error = item
                    turn.notes.append(("mcp", _note(server, name, result, is_error)))
                    yield _result_emit(server, call_ids[name], name, result, is_error)
                else:
                    yield Finish("failed", {"code": "invalid_request", "message": item[1]})
                    return
        finally:
            if not worker.done():
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
