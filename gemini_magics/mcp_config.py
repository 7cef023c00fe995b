"""What ``--mcp NAME=URL|VAR`` and ``--mcp-allowed NAME=tool1,tool2`` become: an ``mcp_server`` tool.

- ``--mcp NAME=URL`` names the server's streamable-HTTP endpoint; ``--mcp NAME=VAR`` takes it from a notebook
  variable (a URL string, or an object with a ``url`` attribute, such as ``gemini_magics.mcp_local.serve``'s
  server), since the magic line is not interpolated and a port chosen at run time cannot be written in it.
- ``--mcp-allowed NAME=a,b`` becomes ``allowed_tools: [{"mode": "auto", "tools": ["a", "b"]}]``: the model
  may call only those of the server's tools, and decides itself whether to (google-genai's ``AllowedTools``;
  the shape docs/emulator.md shows for remote MCP servers). Repeating the flag for one server adds tools.

Errors are ``ValueError``s with one line that names flags and variables, never header values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def allowed(specs: tuple[str, ...] | list[str], servers: set[str]) -> dict[str, list[str]]:
    """``NAME=a,b`` specs → tool names by server; ``ValueError`` for a malformed one or an unknown server."""
    found: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, listed = spec.partition("=")
        tools = [t.strip() for t in listed.split(",") if t.strip()]
        if not sep or not name.strip() or not tools:
            raise ValueError(f"--mcp-allowed {spec}: write NAME=tool1,tool2 (the tools the model may call)")
        if name not in servers:
            raise ValueError(f"--mcp-allowed {spec}: no --mcp server named {name!r}")
        found.setdefault(name, [])
        found[name] += [t for t in tools if t not in found[name]]
    return found


def url_of(name: str, value: str, namespace: Mapping[str, Any]) -> str:
    """The server's URL: ``value`` itself, or the URL a notebook variable named ``value`` holds."""
    if value.lower().startswith(("https://", "http://")):
        return value
    if value not in namespace:
        raise ValueError(f"--mcp {name}={value}: no variable {value!r} in the notebook (or write a URL)")
    found = namespace[value]
    url = found if isinstance(found, str) else getattr(found, "url", None)
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"--mcp {name}={value}: {value} holds no http(s) URL (a str, or an object's .url)")
    return url


def server_spec(name: str, value: str, request: Any, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The ``mcp_server`` tool of one ``--mcp NAME=value`` of ``request`` (headers are added by ``tools``)."""
    spec: dict[str, Any] = {"type": "mcp_server", "name": name, "url": url_of(name, value, namespace)}
    servers = {s.partition("=")[0] for s in getattr(request, "mcp", ())}
    tools = allowed(getattr(request, "mcp_allowed", ()), servers).get(name)
    if tools:
        spec["allowed_tools"] = [{"mode": "auto", "tools": tools}]
    return spec
