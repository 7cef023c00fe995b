"""``%%gemini`` and ``%gemini``: thin glue between IPython and the cell runner.

Settings are traitlets inherited from ``settings.MagicsSettings`` (``%config GeminiMagics.model = ...`` or
IPython config files). Everything that can be tested without a shell lives in ``cell.py`` and
``commands.py``; failures become ``UsageError``s, so the user reads one line and the cell still fails for
nbval and papermill.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import observe

from . import options
from .settings import MagicsSettings


@magics_class
class GeminiMagics(MagicsSettings, Magics):
    """Talk to Gemini's Interactions API from cells; consecutive cells continue one conversation."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._runner: Any = None
        self._fallback_session = f"kernel-{uuid.uuid4().hex[:12]}"

    # -- the magic -------------------------------------------------------------------------------------

    @no_var_expand
    @line_cell_magic
    def gemini(self, line: str, cell: str | None = None) -> Any:
        """Send a prompt to Gemini. Run ``%gemini help`` for every flag and subcommand."""
        from .cell import CellError
        from .commands import dispatch

        runner = self.runner()
        try:
            self.prepare_replay(runner, line if cell is None else cell)
            if cell is None:
                return dispatch(self, runner, line)
            return self.run_prompt(runner, line, cell, self.defaults())
        except CellError as exc:
            raise UsageError(str(exc)) from None

    def prepare_replay(self, runner: Any, text: str) -> None:
        """This cell's record/replay mode (``replay.prepare``): a key may have been set since."""
        from . import replay
        from .cell import CellError

        try:
            replay.prepare(runner.backend, self.replay, self.cassette_file(), self.backend, text)
        except (ValueError, replay.CassetteError) as exc:
            raise CellError(str(exc)) from None

    def cassette_file(self) -> Any:
        """The cassette this notebook records to or replays from (``None``: the path is unknown)."""
        from . import replay

        return replay.cassette_path(self.cassette, self.notebook_path())

    def notebook_path(self) -> str | None:
        """The notebook's file as the Jupyter server tells the kernel (``None`` under nbclient/papermill)."""
        path = self.shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        return str(path) if path else None

    def run_prompt(self, runner: Any, line: str, cell: str, defaults: Any) -> Any:
        """Run a prompt with its flags; a failed result is shown and becomes a one-line ``CellError``."""
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
    """``%%gemini?`` shows every flag and subcommand. IPython's inspector asks an object's ``getdoc()``
    before its ``__doc__``, so the help is formatted when someone asks, not at ``%load_ext`` (formatting
    the argparse help is most of what loading would otherwise cost)."""
    GeminiMagics.gemini.getdoc = full_usage


def full_usage() -> str:
    """The magic's whole help: what ``%%gemini?`` and ``%gemini?`` print."""
    return "Send a prompt to Gemini; consecutive cells continue one conversation.\n\n" + options.help_text()


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
