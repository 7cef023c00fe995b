"""Tools of one ``%%gemini`` cell: built-in tools, file search, remote MCP servers, Python functions, and
structured output.

- ``prepare`` turns the cell's flags into a ``Toolbox``: the request's ``tools``, the notebook functions the
  model may call, and the ``response_format`` of ``--schema``.
- ``declare`` builds a function declaration with google-genai's own machinery (the one its automatic
  function calling uses: ``FunctionDeclaration.from_callable_with_api_option(..., use_json_schema=True)``,
  which gives JSON Schema for ``Literal``, ``Optional``, lists, enums and pydantic models) and reshapes it
  into the Interactions API's ``{"type": "function", "name", "description", "parameters"}``.
- ``run_loop`` runs a turn whose model may call those functions: when an interaction stops at
  ``requires_action``, every call of the step is answered (parallel calls too) with ``function_result``
  steps sent as the next interaction's input (``previous_interaction_id`` = the interaction that asked;
  with ``--no-store`` the whole conversation is re-sent instead), until an interaction completes. The
  chain's head becomes the last interaction, whose history holds the prompt, the calls, the results and
  the answer. A function that raises answers with ``is_error``; ``max_tool_steps`` rounds stop a runaway.
- ``finish`` parses structured output into ``Result.parsed`` and keeps MCP header values out of everything
  the user sees.

Calling a function with the model's arguments, and its result back as JSON, is ``tool_calls.py``'s.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import blocks as b
from . import blocks_compat, generation, mcp_config
from .tool_calls import describe, invoke, jsonable, to_wire, type_hints

if TYPE_CHECKING:
    from .backend import Backend
    from .render.live import LiveView
    from .turn import Result

DEFAULT_MAX_STEPS = 10
_CONTENT_TYPES = frozenset({"text", "image", "audio", "document", "video"})


class ToolError(ValueError):
    """A tool flag that cannot be used; one line for the user (values of secrets never appear)."""


@dataclass
class Toolbox:
    """What a cell's tool flags resolved to."""

    specs: list[dict[str, Any]] = field(default_factory=list)  # the request's ``tools``
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    schema_name: str | None = None
    response_format: dict[str, Any] | None = None
    parse: Callable[[str], Any] | None = None  # text → the --schema type
    secrets: list[str] = field(default_factory=list)  # MCP header values
    max_steps: int = DEFAULT_MAX_STEPS

    def __repr__(self) -> str:  # the specs may carry MCP headers
        kinds = [str(s.get("name") or s.get("type")) for s in self.specs]
        return f"<Toolbox tools={kinds} schema={self.schema_name!r}>"

    def apply(self, params: dict[str, Any]) -> None:
        """Put the tools and the response format into the create request."""
        if self.specs:
            params["tools"] = self.specs
        if self.response_format is not None:
            params["response_format"] = self.response_format

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- calling functions ---------------------------------------------------------------------------

    def answer(self, call: b.FunctionCallBlock) -> dict[str, Any]:
        """Call the function the model asked for; the ``function_result`` step (the block is updated too)."""
        function = self.functions.get(call.name)
        if function is None:
            known = ", ".join(sorted(self.functions)) or "none"
            value: Any = f"there is no function named {call.name!r} (available: {known})"
            failed = True
        else:
            try:
                value, failed = to_wire(invoke(function, call.arguments)), False
            except Exception as exc:
                value, failed = describe(exc), True
        call.result, call.is_error, call.answered = value, failed, True
        step = {"type": "function_result", "call_id": call.call_id, "name": call.name, "result": value}
        if failed:
            step["is_error"] = True
        return step


# -- flags → toolbox ---------------------------------------------------------------------------------------


def prepare(request: Any, namespace: Mapping[str, Any], max_steps: int = DEFAULT_MAX_STEPS) -> Toolbox | None:
    """The toolbox of a cell's flags, or ``None`` when it uses none; raises ``ToolError``."""
    box = Toolbox(max_steps=max_steps)
    for name in getattr(request, "tools", ()):
        box.specs.append({"type": name})
    stores = list(getattr(request, "file_search", ()))
    if stores:
        names = [s if "/" in s else f"fileSearchStores/{s}" for s in stores]
        box.specs.append({"type": "file_search", "file_search_store_names": names})
    box.specs += _mcp_servers(request, namespace, box.secrets)
    for name in getattr(request, "functions", ()):
        if name not in namespace:
            raise ToolError(f"--tool {name}: no such function in the notebook")
        function = namespace[name]
        if not callable(function) or isinstance(function, type):
            raise ToolError(f"--tool {name}: is a {type(function).__name__}, not a function")
        if name in box.functions:
            continue
        box.functions[name] = function
        box.specs.append(declare(name, function))
    schema_name = getattr(request, "schema", None)
    if schema_name:
        if schema_name not in namespace:
            raise ToolError(f"--schema {schema_name}: no such variable in the notebook")
        box.schema_name = schema_name
        schema, box.parse = structured(schema_name, namespace[schema_name])
        box.response_format = {"type": "text", "mime_type": "application/json", "schema": schema}
    if not box.specs and box.response_format is None:
        return None
    return box


def _mcp_servers(request: Any, namespace: Mapping[str, Any], secrets: list[str]) -> list[dict[str, Any]]:
    servers: dict[str, dict[str, Any]] = {}
    for spec in getattr(request, "mcp", ()):
        name, _, url = spec.partition("=")
        try:  # a URL or a variable holding one; --mcp-allowed limits its tools
            servers[name] = mcp_config.server_spec(name, url, request, namespace)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
    for spec in getattr(request, "mcp_headers", ()):
        name, sep, variable = spec.partition("=")
        if not sep:
            if len(servers) != 1:
                raise ToolError("--mcp-headers VAR needs exactly one --mcp; with several, write NAME=VAR")
            name, variable = next(iter(servers)), spec
        if name not in servers:
            raise ToolError(f"--mcp-headers {spec}: no --mcp server named {name!r}")
        if variable not in namespace:
            raise ToolError(f"--mcp-headers {spec}: no variable {variable!r} in the notebook")
        headers = namespace[variable]
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ToolError(f"--mcp-headers {spec}: {variable} must be a dict of header names to strings")
        servers[name]["headers"] = dict(headers)
        secrets += [v for v in headers.values() if len(v) >= 4]
    return list(servers.values())


# -- function declarations -----------------------------------------------------------------------------


def declare(name: str, function: Callable[..., Any]) -> dict[str, Any]:
    """The Interactions API declaration of ``function`` (declared under ``name``); raises ``ToolError``."""
    from google.genai import types

    try:
        proxy = _described(name, function)
        declaration = types.FunctionDeclaration.from_callable_with_api_option(
            callable=proxy, api_option="GEMINI_API", use_json_schema=True
        )
    except Exception as exc:
        reason = " ".join(str(exc).split()).split(".")[0]
        raise ToolError(
            f"--tool {name}: cannot describe its parameters ({reason}); use JSON-friendly type hints "
            "(str, int, float, bool, list, dict, Literal, Optional, enums, pydantic models)"
        ) from None
    data = declaration.model_dump(mode="json", exclude_none=True)
    spec: dict[str, Any] = {"type": "function", "name": name}
    if data.get("description"):
        spec["description"] = data["description"]
    spec["parameters"] = data.get("parameters_json_schema") or {"type": "object", "properties": {}}
    return spec


def _described(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in with ``function``'s parameters, resolved hints and docstring, declared as ``name``.

    Hints are resolved against the function's own module (string annotations work); a parameter without
    a hint takes its default's JSON type, or any value. ``*args``/``**kwargs`` are not declared.
    """
    signature = inspect.signature(function)
    hints = type_hints(function)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        hint = hints.get(parameter.name, parameter.annotation)
        if hint is parameter.empty or isinstance(hint, str):
            default = parameter.default
            simple = (bool, int, float, str, list, dict)
            hint = type(default) if default is not parameter.empty and type(default) in simple else Any
        parameters.append(parameter.replace(annotation=hint, kind=parameter.KEYWORD_ONLY))

    def proxy(**kwargs: Any) -> Any:  # pragma: no cover - never called, only described
        return function(**kwargs)

    proxy.__signature__ = signature.replace(parameters=parameters, return_annotation=signature.empty)  # type: ignore[attr-defined]
    proxy.__annotations__ = {p.name: p.annotation for p in parameters}
    proxy.__name__ = proxy.__qualname__ = name
    proxy.__doc__ = inspect.getdoc(function) or ""
    return proxy


# -- structured output -------------------------------------------------------------------------------------


def structured(name: str, target: Any) -> tuple[dict[str, Any], Callable[[str], Any]]:
    """The JSON schema of ``--schema`` and a parser of the answer: a pydantic model (or any type pydantic
    can describe, e.g. ``list[Item]``) gives instances; a JSON-schema dict gives plain data."""
    if isinstance(target, Mapping):
        return jsonable(dict(target)), json.loads
    import pydantic

    try:
        adapter = pydantic.TypeAdapter(target)
        schema = adapter.json_schema()
    except Exception:
        raise ToolError(
            f"--schema {name}: a {type(target).__name__} is not a schema; use a pydantic model class, "
            "a type such as list[Model], or a JSON-schema dict"
        ) from None
    return schema, adapter.validate_json


def parse_structured(result: Result, toolbox: Toolbox) -> None:
    """Fill ``result.parsed``; an answer that does not fit fails the turn with the raw text in the message."""
    if toolbox.parse is None or not result.ok:
        return
    text = result.text.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        result.parsed = toolbox.parse(text)
    except ValueError as exc:  # json.JSONDecodeError and pydantic.ValidationError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            found = errors()
            first = found[0] if found else {}
            where = ".".join(map(str, first.get("loc", ()))) or "value"
            if first.get("type") == "json_invalid":
                reason = f"not valid JSON ({first.get('msg')})"
            else:
                reason = f"{len(found)} validation error(s), first at {where}: {first.get('msg', exc)}"
        else:
            reason = f"not valid JSON ({exc})"
        raw = " ".join(result.text.split())
        raw = raw if len(raw) <= 300 else raw[:299] + "…"
        result.status = "failed"
        result.error = f"the answer does not fit --schema {toolbox.schema_name}: {reason}; raw text: {raw}"


def finish(result: Result, toolbox: Toolbox | None) -> Result:
    """After the turn: structured output parsed; MCP header values out of errors, notes and the SDK object."""
    if toolbox is None:
        return result
    parse_structured(result, toolbox)
    if toolbox.secrets:
        if result.error:
            result.error = toolbox.scrub(result.error)
        result.notes = [toolbox.scrub(note) for note in result.notes]
        for tool in getattr(result.interaction, "tools", None) or []:
            if getattr(tool, "headers", None):
                tool.headers = dict.fromkeys(tool.headers, "***")
    return result


# -- the loop ----------------------------------------------------------------------------------------------


def run_loop(
    backend: Backend, params: dict[str, Any], stream: bool, live: LiveView | None, toolbox: Toolbox
) -> Result:
    """Run a turn, answering function calls until an interaction completes (or ``max_steps`` rounds)."""
    from .turn import run

    earlier: list[b.Block] = []  # the blocks of the turn's finished interactions

    def render(blocks: list[b.Block], now: bool = False) -> None:
        if live is not None:
            live.update(blocks)
            if now:
                live.flush()

    def show(current: list[b.Block]) -> None:  # progress of the interaction being streamed
        render(earlier + current)

    result = run(backend, params, stream, show)
    current = params
    rounds = 0
    while result.status == "requires_action" and not result.error:
        calls = [c for c in result.function_calls if not c.answered and not c.server]
        if not calls:
            break
        if rounds >= toolbox.max_steps:
            names = ", ".join(sorted({c.name for c in calls}))
            result.status = "failed"
            result.error = (
                f"stopped after {rounds} rounds of function calls (the model still wants {names}) — raise "
                "%config GeminiMagics.max_tool_steps or change the prompt"
            )
            break
        rounds += 1
        render(result.blocks, now=True)  # the calls with their arguments, before they run
        steps = []
        try:
            for call in calls:
                steps.append(toolbox.answer(call))
                render(result.blocks, now=True)
        except KeyboardInterrupt:
            result.status = "interrupted"
            break
        earlier = list(result.blocks)
        current = _follow_up(current, result, calls, steps)
        following = run(backend, current, stream, show)
        _merge(result, following)
    return result


def _follow_up(
    params: dict[str, Any], result: Result, calls: list[b.FunctionCallBlock], steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """The next create after ``params``: the results after the interaction that asked (``result``, the
    last interaction of the turn so far), or, not stored, the whole conversation again."""
    following = {k: v for k, v in params.items() if k not in ("input", "previous_interaction_id")}
    generation.relax(following)  # --tool-choice any/NAME forces the first call only
    if params.get("store") is False:
        asked = [blocks_compat.plain(s) for s in getattr(result.interaction, "steps", None) or []]
        asked = [s for s in asked if s.get("type") != "user_input"] or [
            {"type": "function_call", "id": c.call_id, "name": c.name, "arguments": c.arguments}
            for c in calls
        ]
        following["input"] = _as_steps(params["input"]) + asked + steps
    else:
        following["input"] = steps
        following["previous_interaction_id"] = result.id
    return following


def _as_steps(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    items = list(value)
    if all(isinstance(i, dict) and i.get("type") in _CONTENT_TYPES for i in items):
        return [{"type": "user_input", "content": items}]
    return items


def _merge(result: Result, following: Result) -> None:
    """Fold the next interaction of the same turn into ``result`` (blocks, usage, ids, status)."""
    result.blocks = result.blocks + following.blocks
    result.id = following.id or result.id
    result.status, result.error = following.status, following.error
    result.interaction = following.interaction if following.interaction is not None else result.interaction
    result.elapsed += following.elapsed
    for key, value in following.usage.items():
        if isinstance(value, int | float) and isinstance(result.usage.get(key, 0), int | float):
            result.usage[key] = result.usage.get(key, 0) + value
