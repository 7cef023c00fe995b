"""One ``%%gemini`` cell from start to end: parse → interpolate → chain → request → turn → render → record.

The ``Magics`` class only hands the line, the body and its settings to ``CellRunner.run``. Every user
mistake and every service failure ends as a ``CellError`` with one line to show; the chain head moves
only when the interaction completed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import catalog, options
from .backend import Backend, BackendError
from .chain import Chain, ChainStore
from .chain import Turn as ChainTurn
from .interpolate import InterpolationError, interpolate
from .turn import Result, input_blocks, run


class CellError(Exception):
    """A one-line message for the user; the cell fails."""


@dataclass
class Defaults:
    """The configurable defaults a cell falls back on (the magics' traitlets)."""

    model: str = catalog.DEFAULT_MODEL
    agent: str = catalog.DEFAULT_AGENT
    stream: bool = True
    thinking: str = ""
    thoughts: bool = True
    max_chars: int = 200_000


class CellRunner:
    def __init__(self, backend: Backend, store: ChainStore, notebook: str, live: bool = False) -> None:
        self.backend = backend
        self.store = store
        self.notebook = notebook
        self.live = live  # show a live view while streaming (a front end is there to see it)

    # -- the cell ------------------------------------------------------------------------------------

    def run(self, line: str, body: str, namespace: dict[str, Any], defaults: Defaults) -> Result:
        try:
            request = options.parse(line)
        except options.OptionsError as exc:
            raise CellError(str(exc)) from None
        if not body.strip():
            raise CellError("the cell is empty: write the prompt below %%gemini")
        try:
            parts = interpolate(body, namespace, max_chars=defaults.max_chars)
        except InterpolationError as exc:
            raise CellError(str(exc)) from None
        return self.send(request, parts, namespace, defaults)

    def send(
        self, request: options.CellRequest, parts: list[Any], namespace: dict[str, Any], defaults: Defaults
    ) -> Result:
        notes: list[str] = []
        params = self._params(request, defaults, notes)
        try:
            params["input"] = input_blocks(parts)
        except BackendError as exc:
            raise CellError(str(exc)) from None
        chain = self._chain(request)
        parent = request.branch_from or (chain.head if request.store else None)
        if parent and request.store:
            params["previous_interaction_id"] = parent
        stream = defaults.stream if request.stream is None else request.stream
        show_thoughts = defaults.thoughts if request.thoughts is None else request.thoughts
        prompt_text = params["input"] if isinstance(params["input"], str) else body_text(parts)
        turn_id = None
        if request.store:
            turn_id = chain.record(
                ChainTurn(
                    prompt=prompt_text,
                    model=_who(params),
                    parent_id=parent,
                    background=bool(params.get("background")),
                )
            )
        result = self._run(params, stream and not params.get("background"), show_thoughts)
        if result.error and result.status == "failed" and parent and _lost(result, parent):
            result = self._rebuild(chain, params, parent, show_thoughts, stream, turn_id)
            notes.append(
                f"the service no longer knows interaction {parent}; the conversation was "
                "re-sent from this notebook's transcript"
            )
            turn_id = None  # _rebuild records its own turn
        result.notes[:0] = notes
        result.show_thoughts, result.show_json = show_thoughts, request.show_json
        if turn_id is not None:
            self._settle(chain, turn_id, result)
        if request.variable:
            namespace[request.variable] = result
        return result

    # -- pieces --------------------------------------------------------------------------------------

    def _chain(self, request: options.CellRequest) -> Chain:
        name = request.chain or self.store.active_name(self.notebook)
        chain = self.store.chain(self.notebook, name)
        if request.new:
            chain.reset()
        return chain

    def _params(self, request: options.CellRequest, defaults: Defaults, notes: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if request.agent:
            params["agent"] = request.agent
            params["background"] = True
            params["agent_config"] = {"type": "deep-research", "thinking_summaries": "auto"}
        else:
            resolved = catalog.resolve_model(request.model or defaults.model)
            if resolved.note:
                notes.append(resolved.note)
            params["model"] = resolved.model
            config: dict[str, Any] = {}
            if request.temperature is not None:
                config["temperature"] = request.temperature
            if request.max_tokens is not None:
                config["max_output_tokens"] = request.max_tokens
            thinking = request.thinking or defaults.thinking
            if thinking:
                config["thinking_level"] = thinking
            if defaults.thoughts if request.thoughts is None else request.thoughts:
                config["thinking_summaries"] = "auto"
            if config:
                params["generation_config"] = config
            if request.background:
                params["background"] = True
        if request.system:
            params["system_instruction"] = request.system
        if not request.store:
            params["store"] = False
        return params

    def _run(self, params: dict[str, Any], stream: bool, show_thoughts: bool) -> Result:
        if params.get("background"):
            return self._run_background(params)
        live = None
        if stream and self.live:
            from .render.live import LiveView

            live = LiveView(f"{_who(params)} is answering", show_thoughts)
            live.start()
        try:
            return run(self.backend, params, stream, live.update if live else None)
        finally:
            if live is not None:
                live.finish()

    def _run_background(self, params: dict[str, Any], poll: float = 1.0) -> Result:
        """Start a background interaction and wait for it, polling (the research widget comes later)."""
        started = time.monotonic()
        label = self.backend.target().label
        try:
            interaction = self.backend.create(params)
            while str(interaction.status) in ("in_progress", "queued"):
                time.sleep(poll)
                interaction = self.backend.get(interaction.id)
        except BackendError as exc:
            return Result(
                None,
                "failed",
                _who(params),
                backend=label,
                error=str(exc),
                elapsed=time.monotonic() - started,
            )
        except KeyboardInterrupt:
            return Result(
                None, "interrupted", _who(params), backend=label, elapsed=time.monotonic() - started
            )
        from .turn import _absorb

        result = Result(None, "in_progress", _who(params), backend=label)
        _absorb(result, interaction)
        result.elapsed = time.monotonic() - started
        return result

    def _rebuild(
        self,
        chain: Chain,
        params: dict[str, Any],
        lost: str,
        show_thoughts: bool,
        stream: bool,
        turn_id: int | None,
    ) -> Result:
        """Continue a chain whose head expired by re-sending the local transcript as input."""
        if turn_id is not None:
            chain.update(turn_id, status="failed", answer="")
        history = []
        for role, text in chain.transcript():
            kind = "user_input" if role == "user" else "model_output"
            history.append({"type": kind, "content": [{"type": "text", "text": text}]})
        current = params["input"]
        content = [{"type": "text", "text": current}] if isinstance(current, str) else current
        rebuilt = {k: v for k, v in params.items() if k != "previous_interaction_id"}
        rebuilt["input"] = [*history, {"type": "user_input", "content": content}]
        new_id = chain.record(ChainTurn(prompt=body_text(content), model=_who(params), rebuilt_from=lost))
        result = self._run(rebuilt, stream, show_thoughts)
        self._settle(chain, new_id, result)
        return result

    @staticmethod
    def _settle(chain: Chain, turn_id: int, result: Result) -> None:
        usage = result.usage or {}
        fields = {
            "answer": result.text,
            "interaction_id": result.id,
            "input_tokens": usage.get("total_input_tokens"),
            "output_tokens": usage.get("total_output_tokens"),
            "thought_tokens": usage.get("total_thought_tokens"),
            "total_tokens": usage.get("total_tokens"),
        }
        if result.status == "completed" and result.id:
            if not chain.complete(turn_id, **fields):
                result.notes.append(
                    "another kernel continued this chain meanwhile: this answer is kept in %gemini history "
                    "but the conversation continues from the other kernel's turn"
                )
        else:
            status = (
                result.status
                if result.status in ("failed", "cancelled", "interrupted", "requires_action", "in_progress")
                else "failed"
            )
            chain.update(turn_id, status=status, **fields)


def _who(params: dict[str, Any]) -> str:
    return str(params.get("model") or params.get("agent") or "?")


def _lost(result: Result, parent: str) -> bool:
    """The service answered 404 for the chain's head: it expired or was deleted."""
    return bool(result.error) and "404" in (result.error or "") and parent in (result.error or "")


def body_text(parts: list[Any]) -> str:
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            texts.append("[image]")
    return "".join(texts)
