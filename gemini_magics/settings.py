"""The magics' settings: every ``GeminiMagics`` traitlet (``%config GeminiMagics.model = ...`` or IPython
config files), and the ``Defaults`` a cell falls back on, built from them.

``GeminiMagics`` inherits these, so each stays configurable under its name; this module imports nothing of the
package above ``options``, ``catalog`` and ``prices`` at load (``%load_ext`` stays cheap).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from traitlets import Bool, CaselessStrEnum, Dict, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from . import catalog, options
from .prices import PriceError, parse_overrides

if TYPE_CHECKING:
    from .cell import Defaults

_THINKING = ("", *options.THINKING_LEVELS)
AGENT_SECONDS_VARIABLE = "GEMINI_MAGICS_AGENT_SECONDS"


class MagicsSettings(Configurable):
    """The configurable settings of ``GeminiMagics`` (its base: ``%config GeminiMagics.X`` sets them)."""

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

    def defaults(self) -> Defaults:
        """What a cell falls back on: these settings, as the cell runner's ``Defaults``."""
        from .cell import Defaults

        return Defaults(
            self.model,
            self.agent,
            self.stream,
            self.thinking,
            self.thoughts,
            **self.tool_settings(),
            **self.generation_settings(),
        )

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
