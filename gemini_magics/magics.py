"""``%%gemini`` and ``%gemini``: thin glue between IPython and the cell runner.

Settings are traitlets (``%config GeminiMagics.model = ...`` or IPython config files). Everything that
can be tested without a shell lives in ``cell.py`` and ``commands.py``; failures become ``UsageError``s,
so the user reads one line and the cell still fails for nbval and papermill.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode, observe

from . import catalog, options

_THINKING = ("", *options.THINKING_LEVELS)


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
    emulator_agent_seconds = Float(20.0, help="How long the emulator's research agent runs.").tag(config=True)

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
            if cell is None:
                return dispatch(self, runner, line)
            return self._cell(
                runner,
                line,
                cell,
                Defaults(self.model, self.agent, self.stream, self.thinking, self.thoughts),
            )
        except CellError as exc:
            raise UsageError(str(exc)) from None

    def _cell(self, runner: Any, line: str, cell: str, defaults: Any) -> Any:
        from .cell import CellError

        result = runner.run(line, cell, self.shell.user_ns, defaults)
        if not result.ok:
            from IPython.display import display

            if result.blocks or result.status != "failed":
                display(result)
            reason = result.error or f"the interaction ended {result.status}"
            kept = " — what arrived is shown above" if result.blocks else ""
            raise CellError(f"{result.status}: {reason}{kept}; the conversation was not advanced")
        return result

    # -- state -----------------------------------------------------------------------------------------

    def runner(self) -> Any:
        if self._runner is None:
            from .backend import Backend
            from .cell import CellRunner
            from .chain import ChainStore, default_store_path

            path = Path(self.chain_db) if self.chain_db else default_store_path()
            backend = Backend(self.backend, self.emulator_agent_seconds, self.retries)
            from .render.view import in_kernel

            self._runner = CellRunner(backend, ChainStore(path), self.notebook_key(), live=in_kernel())
        return self._runner

    def notebook_key(self) -> str:
        """The notebook's path as the Jupyter server tells the kernel, else this kernel's session."""
        if self.notebook:
            return self.notebook
        path = self.shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        if path:
            return f"notebook:{path}"
        kernel = getattr(self.shell, "kernel", None)
        session = getattr(getattr(kernel, "session", None), "session", None)
        return f"session:{session or self._fallback_session}"

    @observe("backend", "emulator_agent_seconds", "retries", "chain_db", "notebook")
    def _reset_runner(self, change: Any) -> None:
        runner = getattr(self, "_runner", None)  # config may set traits before __init__ finished
        if runner is not None:
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
