"""``%%gemini`` and ``%gemini``: thin glue between IPython and the cell runner.

Settings are traitlets (``%config GeminiMagics.model = ...`` or IPython config files). Everything that
can be tested without a shell lives in ``cell.py`` and ``commands.py``; failures become ``UsageError``s,
so the user reads one line and the cell still fails for nbval and papermill.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, CaselessStrEnum, Dict, Float, Int, TraitError, Unicode, default, observe, validate

from . import catalog, options
from .prices import PriceError, parse_overrides

_THINKING = ("", *options.THINKING_LEVELS)
AGENT_SECONDS_VARIABLE = "GEMINI_MAGICS_AGENT_SECONDS"


@magics_class
class GeminiMagics(Magics):
    """Talk to Gemini's Interactions API from cells; consecutive cells continue one conversation."""

    model = Unicode(catalog.DEFAULT_MODEL, help="Model for cells without -m.").tag(config=True)
    agent = Unicode(catalog.DEFAULT_AGENT, help="Agent for --research.").tag(config=True)
    stream = Bool(True, help="Stream answers as they arrive.").tag(config=True)
    thinking = CaselessStrEnum(_THINKING, default_value="", help="Thinking level ('' = the model's).").tag(
        config=True
    )
    thoughts = Bool(True, help="Ask for and show thought summaries.").tag(config=True)
    chain_db = Unicode("", help="SQLite file for chains ('' = under the Jupyter data dir).").tag(config=True)
    backend = Unicode(
        "auto", help="auto (Gemini with a key, else the emulator), gemini, emulator, or a base URL."
    ).tag(config=True)
    notebook = Unicode(
        "", help="Key of this notebook's chains ('' = the notebook path or kernel session)."
    ).tag(config=True)
    retries = Int(4, help="How often the SDK retries 408/409/429/5xx answers (0 = never).").tag(config=True)
    stream_timeout = Float(
        300.0, help="Seconds a streamed answer may stay silent before the cell gives up (0 = wait for ever)."
    ).tag(config=True)
    emulator_agent_seconds = Float(
        20.0, help="Seconds the emulator's research agent runs (default: $GEMINI_MAGICS_AGENT_SECONDS or 20)."
    ).tag(config=True)
    emulator_directives = Unicode(
        "", help="Directives for every request to the in-kernel emulator, e.g. 'rate=40' (paced streaming)."
    ).tag(config=True)

    max_tool_steps = Int(
        10, help="Rounds of function calls (--tool) one cell answers before it stops a runaway loop."
    ).tag(config=True)
    inline_limit = Int(
        20_000_000, help="Bytes of --image/--file data sent inline; beyond it Gemini gets them by Files API"
    ).tag(config=True)
    files_api = CaselessStrEnum(
        ("auto", "on", "off"),
        default_value="auto",
        help="Files API for large files: auto (Gemini only), on (also a URL backend), off (always inline).",
    ).tag(config=True)
    research_stall = Float(
        60.0, help="Seconds a background run's stream may stay silent before its tracker polls instead."
    ).tag(config=True)
    research_poll_max = Float(
        10.0, help="Longest wait between two polls of a background run, in seconds (the backoff's cap)."
    ).tag(config=True)
    # Generation controls made notebook-wide (a cell's --seed, --top-p, … win): generation.py.
    seed = Int(None, allow_none=True, min=-(2**31), max=2**31 - 1, help="Sampling seed (None = none).").tag(
        config=True
    )
    top_p = Float(None, allow_none=True, min=0.0, max=1.0, help="Nucleus sampling 0–1 (None = model's).").tag(
        config=True
    )
    aspect_ratio = CaselessStrEnum(
        ("", *options.ASPECT_RATIOS), default_value="", help="Aspect ratio of image models' images."
    ).tag(config=True)
    image_size = CaselessStrEnum(
        ("", *options.IMAGE_SIZES), default_value="", help="Size of image models' images: 512, 1K, 2K, 4K."
    ).tag(config=True)
    replay = Unicode(
        "", help="Cassette mode: off, record, replay or auto ('' = $GEMINI_MAGICS_REPLAY, else off)."
    ).tag(config=True)
    cassette = Unicode(
        "",
        help="Cassette file ('' = $GEMINI_MAGICS_CASSETTE, else NOTEBOOK.gemini.jsonl beside the notebook).",
    ).tag(config=True)
    map_concurrency = Int(
        8, min=1, max=256, help="--map: requests at once (a cell's --concurrency wins)."
    ).tag(config=True)
    map_confirm_over = Float(
        1.0, min=0.0, help="--map: above this estimated cost in USD a job needs --yes."
    ).tag(config=True)
    service_tier = CaselessStrEnum(
        ("", *options.SERVICE_TIERS), default_value="", help="flex, standard or priority ('' = service's)."
    ).tag(config=True)
    # What cells tell the model about the notebook (a cell's --context wins): assistant/context.py.
    context = CaselessStrEnum(
        options.CONTEXTS, default_value="none", help="Notebook context of every cell: cells, vars, all, none"
    ).tag(config=True)
    context_chars = Int(
        20_000, min=500, help="Most characters of notebook context one cell (or %gemini fix) sends."
    ).tag(config=True)
    # What answers cost and how much this notebook may spend: prices.py, spend.py (%gemini usage).
    budget = Float(None, allow_none=True, min=0.0, help="USD this notebook may spend (None = no limit).").tag(
        config=True
    )
    prices = Dict(
        help="Price overrides, USD per 1M tokens: {'model': [input, output]} or [input, output, cached]."
    ).tag(config=True)

    @validate("prices")
    def _check_prices(self, proposal: Any) -> dict[str, Any]:
        try:
            parse_overrides(proposal["value"])
        except PriceError as exc:
            raise TraitError(str(exc)) from None
        return dict(proposal["value"])

    @default("emulator_agent_seconds")
    def _agent_seconds_from_environment(self) -> float:
        """``$GEMINI_MAGICS_AGENT_SECONDS`` shortens the emulator's agent for test runs (nbval), not cells."""
        try:
            return max(0.0, float(os.environ.get(AGENT_SECONDS_VARIABLE, "") or 20.0))
        except ValueError:
            return 20.0

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._runner: Any = None
        self._fallback_session = f"kernel-{uuid.uuid4().hex[:12]}"

    # -- the magic -------------------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def gemini(self, line: str, cell: str | None = None) -> Any:
        """Send a prompt to Gemini. Run ``%gemini help`` for every flag and subcommand."""
        from .cell import CellError, Defaults
        from .commands import dispatch

        runner = self.runner()
        try:
            self.prepare_replay(runner, line if cell is None else cell)
            if cell is None:
                return dispatch(self, runner, line)
            return self._cell(
                runner,
                line,
                cell,
                Defaults(
                    self.model,
                    self.agent,
                    self.stream,
                    self.thinking,
                    self.thoughts,
                    **self.tool_settings(),
                    **self.generation_settings(),
                ),
            )
        except CellError as exc:
            raise UsageError(str(exc)) from None

    def prepare_replay(self, runner: Any, text: str) -> None:
        """Decide this cell's record/replay mode (a key may have been set since) and name the cell by its
        first words (execution counts are not kept by every runner: nbval's stay at 1)."""
        from . import replay
        from .cell import CellError

        path = self.cassette_file()
        try:
            policy = replay.policy(self.replay, path, runner.backend.key() is not None, self.backend)
        except ValueError as exc:
            raise CellError(str(exc)) from None
        recorder = runner.backend.replay
        if policy.mode == "off":
            if recorder is not None:
                recorder.mode = "off"
            return
        if path is None:
            raise CellError(
                f"replay = {policy.mode!r} needs a cassette, and this kernel does not know its notebook's "
                "path: "
                "set GeminiMagics.cassette = 'NAME.gemini.jsonl' (or $GEMINI_MAGICS_CASSETTE)"
            )
        if recorder is None or recorder.cassette.path != path:
            cassette = replay.Cassette(path)
            try:
                cassette.load()
            except replay.CassetteError as exc:
                raise CellError(str(exc)) from None
            recorder = replay.Recorder(cassette, policy.mode, runner.backend.scrub)
            recorder.note = policy.note
            runner.backend.replay = recorder
        recorder.mode = policy.mode
        first = " ".join(text.strip().split("\n", 1)[0].split())
        recorder.cell = "the cell " + repr(first if len(first) <= 40 else first[:39] + "…")

    def cassette_file(self) -> Any:
        """The cassette this notebook records to or replays from (``None``: the path is unknown)."""
        from . import replay

        return replay.cassette_path(self.cassette, self.notebook_path())

    def notebook_path(self) -> str | None:
        """The notebook's file as the Jupyter server tells the kernel (``None`` under nbclient/papermill)."""
        path = self.shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        return str(path) if path else None

    def tool_settings(self) -> dict[str, Any]:
        """The settings of tools and files, for ``Defaults``."""
        return {
            "max_tool_steps": self.max_tool_steps,
            "inline_limit": self.inline_limit,
            "files_api": self.files_api,
        }

    def generation_settings(self) -> dict[str, Any]:
        """The notebook-wide generation controls (and the budget and prices), for ``Defaults``."""
        names = ("seed", "top_p", "aspect_ratio", "image_size", "service_tier", "map_concurrency")
        names += ("map_confirm_over", "budget", "prices")
        names += ("context", "context_chars")  # notebook context (assistant/context.py)
        return {name: getattr(self, name) for name in names}

    def _cell(self, runner: Any, line: str, cell: str, defaults: Any) -> Any:
        from .cell import CellError

        result = runner.run(line, cell, self.shell.user_ns, defaults)
        if not getattr(result, "ok", True):  # a --map job's handle has no status yet
            from IPython.display import display

            from . import statuses

            if result.blocks or result.status != "failed":
                display(result)
            if result.status == "interrupted":
                reason = "stopped with Ctrl-C"
            else:
                reason = " ".join((result.error or statuses.reason(result.status)).split())
            kept = "; what arrived is shown above" if result.blocks else ""
            # Backend messages already say what to do; the model's own failures and cuts do not.
            advice = "" if " — " in reason or "run the cell again" in reason else " — run the cell again"
            advice = f" — {statuses.advice(result.status)}" if statuses.advice(result.status) else advice
            raise CellError(f"{result.status}: {reason}{kept}; the conversation was not advanced{advice}")
        return result

    # -- state -----------------------------------------------------------------------------------------

    def runner(self) -> Any:
        if self._runner is None:
            from .backend import Backend
            from .cell import CellRunner
            from .chain import ChainStore, default_store_path

            path = Path(self.chain_db) if self.chain_db else default_store_path()
            backend = Backend(self.backend, self.emulator_agent_seconds, self.retries)
            backend.emulator_directives = self.emulator_directives
            backend.stream_timeout = self.stream_timeout or None
            backend.set_key(getattr(self, "_entered_key", None))
            from .render.view import in_kernel

            self._runner = CellRunner(backend, ChainStore(path), self.notebook_key(), live=in_kernel())
            self._runner.tracking = self.tracking()
        return self._runner

    def tracking(self) -> Any:
        """How background runs are followed (``research_*`` settings) → the tracker's ``Timing``."""
        from .research.tracker import Timing

        cap = max(0.05, self.research_poll_max)
        return Timing(stall=max(0.05, self.research_stall), poll_first=min(1.0, cap), poll_cap=cap)

    @observe("research_stall", "research_poll_max")
    def _new_tracking(self, change: Any) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.tracking = self.tracking()  # for runs started from now on

    def notebook_key(self) -> str:
        """The notebook's path as the Jupyter server tells the kernel, else this kernel's session."""
        if self.notebook:
            return self.notebook
        path = self.notebook_path()
        if path:
            return f"notebook:{path}"
        kernel = getattr(self.shell, "kernel", None)
        session = getattr(getattr(kernel, "session", None), "session", None)
        return f"session:{session or self._fallback_session}"

    @observe(
        "backend",
        "emulator_agent_seconds",
        "emulator_directives",
        "retries",
        "stream_timeout",
        "chain_db",
        "notebook",
    )
    def _reset_runner(self, change: Any) -> None:
        runner = getattr(self, "_runner", None)  # config may set traits before __init__ finished
        if runner is not None:
            self._entered_key = runner.backend._key  # a key from %gemini key outlives %config changes
            tasks = getattr(runner, "research_tasks", None)
            if tasks is not None:
                tasks.close()  # stop following (the runs go on; %gemini tasks re-attaches)
            runner.backend.close()
            runner.store.close()
        self._runner = None

    def close(self) -> None:
        self._reset_runner(None)


def attach_usage() -> None:
    """``%%gemini?`` shows the magic's docstring: make it list every flag and subcommand."""
    GeminiMagics.gemini.__doc__ = (
        "Send a prompt to Gemini; consecutive cells continue one conversation.\n\n" + options.help_text()
    )


_QUESTION_LINE = re.compile(r"^([ \t]*(?:[\w.]+[ \t]*=[ \t]*)?)%gemini[ \t]+(\S.*\?)[ \t]*\r?\n?$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """An input transformer: IPython reads a line ending in ``word?`` as a help request, so
    ``%gemini What is Python?`` would show help on ``Python``. Such lines (also ``x = %gemini …?``) become
    the magic call first."""
    if lines and lines[0].startswith("%%"):
        return lines  # a cell magic's body is its own text
    out = []
    for line in lines:
        match = _QUESTION_LINE.match(line)
        if match:
            line = f"{match[1]}get_ipython().run_line_magic('gemini', {match[2]!r})\n"
        out.append(line)
    return out
