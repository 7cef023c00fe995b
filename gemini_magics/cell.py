"""One ``%%gemini`` cell from start to end: parse → interpolate → chain → request → turn → render → record.

The ``Magics`` class only hands the line, the body and its settings to ``CellRunner.run``. Every user
mistake and every service failure ends as a ``CellError`` with one line to show; the chain head moves
only when the interaction completed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import catalog, filestores, generation, media, options, speech, tools
from .assistant.context import gather as gather_context
from .backend import Backend, BackendError
from .chain import Chain, ChainStore
from .chain import Turn as ChainTurn
from .interpolate import InterpolationError, interpolate
from .turn import Result, absorb_interaction, input_blocks, run


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
    max_tool_steps: int = tools.DEFAULT_MAX_STEPS
    inline_limit: int = media.DEFAULT_INLINE_LIMIT
    files_api: str = "auto"
    # generation controls made notebook-wide (generation.py puts them into the request)
    seed: int | None = None
    top_p: float | None = None
    aspect_ratio: str = ""
    image_size: str = ""
    service_tier: str = ""
    map_concurrency: int = 8  # --map: requests at once, and the dollars above which it asks for --yes
    map_confirm_over: float = 1.0
    budget: float | None = None  # USD this notebook may spend (spend.py), and the price overrides (prices.py)
    prices: dict[str, Any] = field(default_factory=dict)
    context: str = "none"  # what every cell tells the model about the notebook (assistant/context.py)
    context_chars: int = 20_000


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
        if request.map_source:
            return self.map(request, body, namespace, defaults)
        try:
            parts = interpolate(body, namespace, max_chars=defaults.max_chars)
        except InterpolationError as exc:
            raise CellError(str(exc)) from None
        return self.send(request, parts, namespace, defaults)

    def send(
        self, request: options.CellRequest, parts: list[Any], namespace: dict[str, Any], defaults: Defaults
    ) -> Result:
        self._within_budget(defaults)
        notes: list[str] = []
        replay = self.backend.replay
        if replay is not None and replay.active and replay.note:  # why this kernel replays, said once
            notes.append(replay.note)
            replay.note = ""
        params = self._params(request, defaults, notes)
        try:
            toolbox = tools.prepare(request, namespace, defaults.max_tool_steps)
            attached = media.collect(request.images, request.files, namespace)
        except (tools.ToolError, media.MediaError) as exc:
            raise CellError(str(exc)) from None
        if toolbox is not None:
            toolbox.apply(params)
        try:
            filestores.resolve(params.get("tools"), request.file_search, self.backend)  # display names
            params["input"] = input_blocks(parts)
            if attached:  # files first, then the prompt
                prompt = params["input"]
                text = [{"type": "text", "text": prompt}] if isinstance(prompt, str) else prompt
                files = media.blocks(attached, self.backend, defaults.inline_limit, defaults.files_api)
                params["input"] = files + text
            kind = request.context or defaults.context  # --context, or the setting: the notebook, bounded
            sent = gather_context(kind, namespace, defaults.context_chars, self.backend.scrub)
            if sent is not None:
                params["input"] = sent.attach(params["input"])
        except BackendError as exc:
            raise CellError(str(exc)) from None
        chain = self._chain(request)
        parent = branch_point(request.branch_from, namespace) or (
            chain.head if request.store and not request.new else None
        )
        if parent and request.store:
            params["previous_interaction_id"] = parent
        if params.get("agent"):  # Deep Research planning: a plan, its edit, its approval
            from .research.planning import PlanningError, prepare
            from .research.tasks import tasks_of

            try:
                prepare(tasks_of(self).plans, request, params, parent, chain.name)
            except PlanningError as exc:
                raise CellError(str(exc)) from None
        stream = defaults.stream if request.stream is None else request.stream
        show_thoughts = defaults.thoughts if request.thoughts is None else request.thoughts
        prompt_text = params["input"] if isinstance(params["input"], str) else body_text(parts)
        turn_id = None
        if request.store:
            from .export import repeatable_flags

            turn_id = chain.record(
                ChainTurn(
                    prompt=prompt_text,
                    model=_who(params),
                    parent_id=parent,
                    background=bool(params.get("background")),
                    flags=repeatable_flags(request),  # what %gemini export can write in the cell again
                )
            )
        on = chain.name if request.store else None
        result = self._run(params, stream and not params.get("background"), show_thoughts, toolbox, on)
        # Re-send the transcript only for the chain's own head: a --from target the service does not know
        # is not this chain's context, so its 404 is the answer.
        # The head, or an interaction it continues (expired earlier, or removed by %gemini delete).
        failed = result.error and result.status == "failed" and parent
        lost = _lost(result, [parent, *chain.path_ids()]) if failed and parent else None
        if lost and not request.branch_from:
            result = self._rebuild(chain, params, parent, show_thoughts, stream, turn_id, toolbox)
            notes.append(
                f"the service no longer knows interaction {lost}; the conversation was "
                "re-sent from this notebook's transcript"
            )
            turn_id = None  # _rebuild records its own turn
        result.notes[:0] = notes
        if sent is not None:
            result.footnotes.append(sent.summary())
        result.show_thoughts, result.show_json = show_thoughts, request.show_json
        if request.save and result.ok:
            _save_images(result, request.save)
        if turn_id is not None:
            self._settle(chain, turn_id, result, branch=bool(request.branch_from), fresh=request.new)
        elif not request.store and result.usage:  # no turn keeps it: spend.py does
            from .spend import record_stateless

            record_stateless(self.store.path, self.notebook, result.model or "?", result.usage)
        if params.get("background") and result.id and result.status in ("in_progress", "queued"):
            if request.new and turn_id is not None:
                chain.begin(turn_id)  # accepted: the chain starts afresh with this run
            result = self._follow(result, request, show_thoughts, params)  # a live handle, or the end
        if request.code and isinstance(result, Result):  # --code: its Python in a new cell below
            from .assistant.code import deliver

            deliver(result, request.code)
        if request.variable:
            namespace[request.variable] = result
        return result

    def map(
        self, request: options.CellRequest, body: str, namespace: dict[str, Any], defaults: Defaults
    ) -> Any:
        """``--map DATA``: the body once per row (``mapping/``); VAR gets the DataFrame (or the handle)."""
        from .mapping import MapError, MapSettings, run_map
        from .prices import PriceTable
        from .render import static, view

        self._within_budget(defaults)
        notes: list[str] = []
        params = self._params(request, defaults, notes)
        params.pop("background", None)  # --background runs the job in the background, not each row
        parse = None
        try:
            toolbox = tools.prepare(request, namespace, defaults.max_tool_steps)
            attached = media.collect(request.images, request.files, namespace)
            if toolbox is not None:
                toolbox.apply(params)
                parse = toolbox.parse
            if attached:
                params["input"] = media.blocks(attached, self.backend, defaults.inline_limit, "off")
            badge = view.badge(self.backend.target().label)
            settings = MapSettings(
                defaults.map_concurrency, defaults.map_confirm_over, self.live, badge, static.escape
            )
            settings.prices = PriceTable(defaults.prices)
            job = (self.backend, self.store.path, self.notebook)
            value = run_map(*job, request, body, namespace, params, parse, settings)
        except (tools.ToolError, media.MediaError, BackendError, MapError) as exc:
            raise CellError(str(exc)) from None
        if request.variable:
            namespace[request.variable] = getattr(value, "frame", value)
        return value

    # -- pieces --------------------------------------------------------------------------------------

    def _chain(self, request: options.CellRequest) -> Chain:
        name = request.chain or self.store.active_name(self.notebook)
        # --new resets the chain only once its turn completed (``_settle``), so a failed cell keeps it.
        return self.store.chain(self.notebook, name)

    def _params(self, request: options.CellRequest, defaults: Defaults, notes: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if request.agent or request.research:
            params["agent"] = request.agent or defaults.agent
            params["background"] = True
            plan = request.plan or None  # collaborative planning: asked for, else decided by planning.py
            config = catalog.agent_config(params["agent"], plan=plan, visualize=request.visualize)
            if config is not None:  # each agent family takes only its own config
                params["agent_config"] = config
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
        generation.apply(params, request, defaults)  # seed, top_p, stop, tool_choice, images, tier
        speech.apply(params, request, notes)  # --voice, --audio-format; speech models are not asked to think
        return params

    def _run(
        self,
        params: dict[str, Any],
        stream: bool,
        show_thoughts: bool,
        toolbox: tools.Toolbox | None = None,
        chain: str | None = None,  # the chain it is sent on, for the output's provenance
    ) -> Result:
        if params.get("background"):
            result = self._run_background(params)
            result.chain = chain
            return result
        calls_functions = toolbox is not None and bool(toolbox.functions)
        live = None
        if (stream or calls_functions) and self.live:  # function calls and results show as they happen
            from .render.live import LiveView
            from .render.view import provenance

            started = {**provenance(None, _who(params), self.backend.target().label, chain), "live": True}
            live = LiveView(f"{_who(params)} is answering", show_thoughts, metadata={"gemini": started})
            live.start()
        try:
            if toolbox is not None and calls_functions:
                result = tools.run_loop(self.backend, params, stream, live, toolbox)
            else:
                result = run(self.backend, params, stream, live.update if live else None)
        except BaseException:
            if live is not None:
                live.finish()
            raise
        result.chain = chain
        if live is not None:
            live.finish(result)
        return tools.finish(result, toolbox)

    def _within_budget(self, defaults: Defaults) -> None:
        """Refuse the cell once the notebook's estimated spend reached ``GeminiMagics.budget``."""
        if defaults.budget is None:
            return
        from .prices import PriceTable
        from .spend import SpendError, check_budget

        try:
            check_budget(self.store, self.notebook, defaults.budget, PriceTable(defaults.prices))
        except SpendError as exc:
            raise CellError(str(exc)) from None

    def _run_background(self, params: dict[str, Any]) -> Result:
        """Create a background interaction; it returns at once, ``_follow`` hands it to a tracker."""
        started = time.monotonic()
        label = self.backend.target().label
        try:
            interaction = self.backend.create(params)
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
        result = Result(None, "in_progress", _who(params), backend=label)
        absorb_interaction(result, interaction)
        if result.error:  # the service's own error text may quote the key
            result.error = self.backend.scrub(result.error)
        result.elapsed = time.monotonic() - started
        result.backend = self.backend.label_for(result.id)
        return result

    def _follow(
        self, result: Result, request: options.CellRequest, show_thoughts: bool, params: dict[str, Any]
    ) -> Any:
        """A running background interaction (its id is already in the chain store): a research tracker
        follows it; the cell gets its live handle, or with ``--wait`` the final result."""
        from .research.tasks import tasks_of

        return tasks_of(self).started(result, wait=request.wait, show_thoughts=show_thoughts, params=params)

    def _rebuild(
        self,
        chain: Chain,
        params: dict[str, Any],
        lost: str,
        show_thoughts: bool,
        stream: bool,
        turn_id: int | None,
        toolbox: tools.Toolbox | None = None,
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
        result = self._run(rebuilt, stream, show_thoughts, toolbox, chain.name)
        self._settle(chain, new_id, result)
        return result

    @staticmethod
    def _settle(
        chain: Chain, turn_id: int, result: Result, branch: bool = False, fresh: bool = False
    ) -> None:
        fields = result.turn_fields()
        if result.status in ("completed", "idle") and result.id:  # idle: a finished turn (statuses.py)
            advanced = chain.complete(turn_id, fresh=fresh, **fields)
            if not advanced and branch:
                result.notes.append(
                    "a branch: the chain's head stays where it was; continue this branch with "
                    f"--from {result.id}"
                )
            elif not advanced:
                result.notes.append(
                    "another kernel continued this chain meanwhile: this answer is kept in %gemini history "
                    "but the conversation continues from the other kernel's turn"
                )
        else:
            status = (
                result.status
                if result.status
                in ("failed", "cancelled", "interrupted", "requires_action", "in_progress", "budget_exceeded")
                else "failed"
            )
            chain.update(turn_id, status=status, **fields)


def branch_point(value: str | None, namespace: dict[str, Any]) -> str | None:
    """``--from`` takes an interaction id, or the name of a variable holding a result (or an id string)."""
    if value and value.isidentifier() and value in namespace:
        found = getattr(namespace[value], "id", namespace[value])
        if isinstance(found, str) and found:
            return found
    return value


def _save_images(result: Result, directory: str) -> None:
    """``--save DIR``: the answer's images and audio as ``DIR/<interaction id>-<n>.png``/``.wav``, said in
    a note."""
    if not result.image_bytes and not result.audio_bytes:
        result.notes.append("--save: the answer has no images or audio")
        return
    try:
        paths = result.save(directory)
    except OSError as exc:
        result.notes.append(f"--save: cannot write to {directory} ({exc.strerror or type(exc).__name__})")
        return
    result.notes.append("saved " + ", ".join(str(p) for p in paths))


def _who(params: dict[str, Any]) -> str:
    return str(params.get("model") or params.get("agent") or "?")


def _lost(result: Result, ids: list[str]) -> str | None:
    """The interaction of the chain (its head, or one the head continues) that the service answered 404
    for: it expired or was deleted. None for any other failure."""
    error = result.error or ""
    return next((i for i in ids if i and "404" in error and i in error), None)


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
