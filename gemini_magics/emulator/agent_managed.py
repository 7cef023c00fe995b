"""Managed agents (Antigravity, CodeMender, dynamic agents): a multi-step run in a sandboxed environment.

The cookbook's managed-agent notebook (real-samples/real_ids_and_statuses_cookbook.json) shows the steps
such a run produces: ``thought``, ``function_call`` and ``function_result`` (the agent's own tools, run on
the server), ``code_execution_call`` and ``code_execution_result``, then ``model_output``. The code really
runs, as the model's ``code_execution`` does; the tools answer from the request (its prompt, the
environment's sources, CodeMender's source files).
"""

from __future__ import annotations

import json
from typing import Any

from .agent_config import family_of
from .engine import Behaviour, Emit, Finish, Pause
from .model import thought
from .tooling import code_for, run_python
from .turn import Turn
from .usage import count_tokens, step_text


def managed_run(turn: Turn, seconds: float) -> Behaviour:
    return _managed(turn, seconds)


def _tool_for(turn: Turn, family: str) -> tuple[str, dict[str, Any], Any]:
    """The agent's first tool call (name, arguments) and what its environment answers."""
    config = turn.request.get("agent_config") or {}
    if family == "code-mender":
        request = config.get("fix_request") or config.get("find_request") or {}
        files = [str(f.get("name") or f.get("uri") or "file") for f in request.get("source_files") or []]
        files = files or ["main.py"]
        mode = "fix" if config.get("fix_request") else str(request.get("mode") or "scan")
        findings = [
            {"file": name, "line": 10 + 7 * i, "issue": "unvalidated input reaches a shell command"}
            for i, name in enumerate(files)
        ]
        return "scan_source_files", {"files": files, "mode": mode}, {"findings": findings}
    environment = turn.request.get("environment")
    sources = environment.get("sources") if isinstance(environment, dict) else None
    listing = [
        str(s.get("uri") or s.get("path") or s.get("type")) for s in sources or [] if isinstance(s, dict)
    ]
    return "list_directory", {"path": "/workspace"}, {"entries": listing or ["README.md", "notes.txt"]}


async def _managed(turn: Turn, seconds: float) -> Behaviour:  # type: ignore[misc]
    """The run; Antigravity's ``max_total_tokens`` stops it ``budget_exceeded`` once the steps so far
    (with the prompt) have used more, before the next step."""
    if turn.directives.get("fail"):
        yield Pause(seconds / 2)
        yield Finish("failed", {"code": "500", "message": turn.directives["fail"]})
        return
    config = turn.request.get("agent_config") or {}
    raw = config.get("max_total_tokens")  # the SDK sends this int64 as a JSON string
    limit = int(raw) if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()) else None
    spent = count_tokens(turn.prompt)
    async for item in _steps(turn, seconds, config):
        if isinstance(item, Emit):
            if limit is not None and spent > limit:
                yield Finish("budget_exceeded")
                return
            spent += count_tokens(step_text(item.step))
        yield item


async def _steps(turn: Turn, seconds: float, config: dict[str, Any]) -> Behaviour:  # type: ignore[misc]
    family = family_of(str(turn.request.get("agent")))
    pause = seconds / 4
    yield Pause(pause)
    yield thought(
        f"**Planning the task.** The user asks: “{turn.prompt[:120]}”. I will inspect the environment, "
        "run code to check the result, then report.",
        config.get("thinking_summaries") == "auto",  # dynamic agents' configs may ask for summaries
    )
    name, arguments, answer = _tool_for(turn, family)
    call_id = turn.new_id("call")
    call = {"type": "function_call", "id": call_id, "name": name, "arguments": arguments}
    yield Emit(
        call,
        start=dict(call, arguments={}),
        deltas=[{"type": "arguments_delta", "arguments": json.dumps(arguments)}],
    )
    yield Pause(pause)
    result = json.dumps(answer, ensure_ascii=False)
    answered = {"type": "function_result", "call_id": call_id, "name": name, "result": result}
    yield Emit(  # the agent ran its own tool: the result streams like the service's tool results
        answered,
        start={"call_id": call_id, "type": "function_result", "name": name},
        deltas=[{"type": "function_result", "name": name, "result": result}],
    )
    code = code_for(turn.prompt)
    code_id = turn.new_id("code")
    yield Emit(
        {"type": "code_execution_call", "id": code_id, "arguments": {"code": code, "language": "python"}}
    )
    output, failed = await run_python(code)
    yield Pause(pause)
    yield Emit({"type": "code_execution_result", "call_id": code_id, "result": output, "is_error": failed})
    shown = output.strip() or "(no output)"
    verdict = (
        "The check failed; see the output above." if failed else "Everything the task asked for is in place."
    )
    text = (
        f"Done. I used `{name}` in the environment and ran a check in Python, which printed:\n\n"
        f"```\n{shown}\n```\n\n{verdict}"
    )
    yield Pause(pause)
    yield Emit(
        {"type": "model_output", "content": [{"type": "text", "text": text}]},
        deltas=[{"type": "text", "text": text}],
    )
