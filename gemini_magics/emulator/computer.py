"""Client-executed tools of the fake model: Computer Use actions and a client-side tool search.

Both answer with ``function_call`` steps and ``requires_action``, like user functions: the client runs the
action (or searches its own tool catalogue) and sends a ``function_result`` back.

* ``computer_use``: the model drives a browser one predefined action a turn (``open_web_browser``, then
  ``navigate`` to a URL in the prompt, or ``search`` and ``type_text_at`` the query), skipping
  ``excluded_predefined_functions``; once its plan is done it answers with text.
* ``tool_search`` with ``execution: "client"``: the model calls the search function (its declared
  ``name``) with a query; the function definitions the client returns are then called as needed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import controls, tooling

if TYPE_CHECKING:
    from .turn import Turn

# The predefined Computer Use functions (the reference implementation's list) and their arguments.
PREDEFINED = (
    "open_web_browser",
    "wait_5_seconds",
    "go_back",
    "go_forward",
    "search",
    "navigate",
    "click_at",
    "hover_at",
    "type_text_at",
    "key_combination",
    "scroll_document",
    "scroll_at",
    "drag_and_drop",
)
_URL = re.compile(r"https?://[^\s)>\]\"']+")


def computer_tool(turn: Turn) -> dict[str, Any] | None:
    return next((t for t in turn.tools if isinstance(t, dict) and t.get("type") == "computer_use"), None)


def plan(turn: Turn, tool: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The actions the model takes for the conversation's task, in order, without the excluded ones."""
    task = _task(turn)
    excluded = set(tool.get("excluded_predefined_functions") or [])
    url = _URL.search(task)
    quoted = re.search(r"[\"'‘“]([^\"'’”]+)[\"'’”]", task)
    text = quoted.group(1) if quoted else (url.group(0) if url else " ".join(task.split()[:8]))
    steps: list[tuple[str, dict[str, Any]]] = [("open_web_browser", {})]
    if url and "navigate" not in excluded:
        steps.append(("navigate", {"url": url.group(0)}))
    else:
        steps.append(("search", {}))
        steps.append(
            (
                "type_text_at",
                {"x": 500, "y": 390, "text": text, "press_enter": True, "clear_before_typing": True},
            )
        )
    if re.search(r"\bscroll", task, re.IGNORECASE):
        steps.append(("scroll_document", {"direction": "down"}))
    if re.search(r"\bclick", task, re.IGNORECASE):
        steps.append(("click_at", {"x": 500, "y": 500}))
    return [(name, args) for name, args in steps if name not in excluded]


def _task(turn: Turn) -> str:
    """The user's task: the latest prompt that said something (a tool-result turn has no prompt)."""
    if turn.prompt:
        return turn.prompt
    for step in reversed(turn.history + turn.input_steps):
        if step.get("type") == "user_input":
            text = " ".join(b.get("text", "") for b in step.get("content") or [] if b.get("type") == "text")
            if text.strip():
                return re.sub(r"\[emulator:[^\]]*\]", "", text).strip()
    return ""


def _done(turn: Turn) -> int:
    """How many Computer Use actions the conversation has already asked for."""
    return sum(
        1
        for step in turn.history + turn.input_steps
        if step.get("type") == "function_call" and step.get("name") in PREDEFINED
    )


def computer_use_calls(turn: Turn) -> list[dict[str, Any]]:
    """The next Computer Use action as a ``function_call`` (none once the task is done)."""
    tool = computer_tool(turn)
    if tool is None:
        return []
    actions = plan(turn, tool)
    allowed = controls.permitted(turn, [name for name, _ in actions])
    remaining = [(name, args) for name, args in actions[_done(turn) :] if name in allowed]
    if not remaining:
        return []
    name, arguments = remaining[0]
    return [{"type": "function_call", "id": turn.new_id("call"), "name": name, "arguments": arguments}]


# -- client-side tool search ----------------------------------------------------------------------------


def client_search_tool(turn: Turn) -> dict[str, Any] | None:
    return next(
        (
            t
            for t in turn.tools
            if isinstance(t, dict) and t.get("type") == "tool_search" and t.get("execution") == "client"
        ),
        None,
    )


def client_search_calls(turn: Turn) -> list[dict[str, Any]]:
    """A call of the client's tool-search function with the prompt as its query."""
    tool = client_search_tool(turn)
    if tool is None or not turn.prompt:
        return []
    name = tool.get("name") or "tool_search"
    if not controls.permitted(turn, [name]):
        return []
    arguments = tooling.arguments_for(
        tool.get("parameters") or {"properties": {"query": {"type": "string"}}}, ""
    )
    key = next(iter(arguments), "query")
    arguments[key] = turn.prompt
    return [{"type": "function_call", "id": turn.new_id("call"), "name": name, "arguments": arguments}]


def found_functions(turn: Turn, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function definitions a client tool search returned (``function_result`` of the search function)."""
    tool = client_search_tool(turn)
    if tool is None:
        return []
    name = tool.get("name") or "tool_search"
    return [
        item
        for r in results
        if r.get("name") == name and isinstance(r.get("result"), list)
        for item in r["result"]
        if isinstance(item, dict) and item.get("type") == "function" and item.get("name")
    ]


def calls_of_found(turn: Turn, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls of the functions a client tool search found, as the task asks for them."""
    task = _task(turn)
    found = found_functions(turn, results)
    names = controls.permitted(turn, [f["name"] for f in found if controls.asks_for(f["name"], task)])
    chosen = controls.settle(
        turn,
        [f for f in found if f["name"] in controls.permitted(turn, [f["name"]])],
        [f for f in found if f["name"] in names],
    )
    return [
        {
            "type": "function_call",
            "id": turn.new_id("call"),
            "name": f["name"],
            "arguments": tooling.arguments_for(f.get("parameters") or {}, task),
        }
        for f in chosen
    ]


def client_calls(turn: Turn, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What client-executed tools ask for when no user function is called this turn."""
    if results:
        return calls_of_found(turn, results) or computer_use_calls(turn)
    return client_search_calls(turn) or computer_use_calls(turn)


__all__ = ["PREDEFINED", "client_calls", "computer_use_calls"]
