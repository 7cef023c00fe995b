"""``%gemini`` line subcommands: help, key, chains, use, new, history, tasks, panel, wait, approve, show,
cancel, delete, models, stores, store, cassette, usage, export, fix — or a one-line prompt.

A first word that names a subcommand is that subcommand; ``%gemini -- text`` always sends ``text``, and
``%gemini -m MODEL -- text`` sends it with flags.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from .cell import CellError, CellRunner, Defaults
from .options import SUBCOMMANDS, help_text
from .render.static import code_span, escape


class Host(Protocol):
    """What the subcommands use of the magics (``magics.GeminiMagics``, which imports this module)."""

    shell: Any
    prices: dict[str, Any]
    budget: float | None

    def defaults(self) -> Defaults: ...

    def cassette_file(self) -> Any: ...

    def run_prompt(self, runner: CellRunner, line: str, cell: str, defaults: Defaults) -> Any: ...


def dispatch(magics: Host, runner: CellRunner, line: str) -> Any:
    words = line.strip().split(maxsplit=1)
    if not words:
        raise CellError("write a prompt after %gemini, or run %gemini help")
    first, rest = words[0], (words[1] if len(words) > 1 else "")
    defaults = magics.defaults()
    if first in SUBCOMMANDS:
        return globals()[f"_{first}"](magics, runner, rest)
    flags, prompt = "", line.strip()
    if first == "--":
        prompt = rest
    elif first.startswith("-"):
        flags, sep, prompt = line.partition(" -- ")
        if not sep:
            raise CellError("put the prompt after ' -- ' when using flags: %gemini -m MODEL -- your question")
    return magics.run_prompt(runner, flags, prompt, defaults)


def _help(magics: Host, runner: CellRunner, rest: str) -> None:
    print(help_text())


def _key(magics: Host, runner: CellRunner, rest: str) -> None:
    from getpass import getpass

    if rest.strip():
        raise CellError(
            "%gemini key takes no argument: it asks for the key with a hidden prompt, so the key "
            "never lands in the notebook"
        )
    key = getpass("Gemini API key (hidden; kept in this kernel's memory only): ")
    runner.backend.set_key(key)
    print("API key set for this kernel." if key.strip() else "API key cleared.")


def _chains(magics: Host, runner: CellRunner, rest: str) -> Any:
    from IPython.display import Markdown

    infos = runner.store.chains(runner.notebook)
    active = runner.store.active_name(runner.notebook)
    if not infos:
        return Markdown(f"No chains yet; the next `%%gemini` cell starts {code_span(active)}.")
    rows = ["| | chain | head | turns | updated |", "|---|---|---|---|---|"]
    for info in infos:
        mark = "▶" if info.name == active else ""
        updated = dt.datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
        rows.append(
            f"| {mark} | {escape(info.name)} | {escape(info.head or '—')} | {info.turns} | {updated} |"
        )
    return Markdown("\n".join(rows))


def _use(magics: Host, runner: CellRunner, rest: str) -> None:
    name = rest.strip()
    if not name or " " in name:
        raise CellError("usage: %gemini use NAME")
    chain = runner.store.set_active(runner.notebook, name)
    state = f"continuing at {chain.head}" if chain.head else "a new conversation"
    print(f"Using chain {name!r} ({state}).")


def _new(magics: Host, runner: CellRunner, rest: str) -> None:
    name = rest.strip() or runner.store.active_name(runner.notebook)
    runner.store.reset(runner.notebook, name)
    print(f"Chain {name!r}: the next prompt starts a new conversation (history kept).")


def _history(magics: Host, runner: CellRunner, rest: str) -> Any:
    from IPython.display import Markdown

    name = rest.strip() or runner.store.active_name(runner.notebook)
    runner.store.settle_orphans(runner.notebook)  # a kernel killed mid-call left its turn "in_progress"
    chain = runner.store.chain(runner.notebook, name)
    turns = chain.turns()
    if not turns:
        return Markdown(f"Chain {code_span(name)} has no turns yet.")
    head = chain.head
    rows = ["| # | interaction | model | status | tokens | prompt |", "|---|---|---|---|---|---|"]
    for number, turn in enumerate(turns, 1):
        marker = " ◀ head" if turn.interaction_id and turn.interaction_id == head else ""
        prompt = turn.prompt if len(turn.prompt) <= 60 else turn.prompt[:59] + "…"
        tokens = "" if turn.total_tokens is None else f"{turn.total_tokens:,}"
        rows.append(
            f"| {number} | {escape(turn.interaction_id or '—')}{marker} | {escape(turn.model)} | "
            f"{turn.status}{' · deleted' if turn.deleted else ''} | {tokens} | {escape(prompt)} |"
        )
    return Markdown(f"**Chain {code_span(name)}**\n\n" + "\n".join(rows))


# -- background runs (gemini_magics/research) ----------------------------------------------------------


def _tasks(magics: Host, runner: CellRunner, rest: str) -> Any:
    from IPython.display import display

    from .mapping.batch import tasks_markdown
    from .mapping.store import MapStore
    from .research import commands

    commands.tasks(runner, rest)
    store = MapStore(runner.store.path)
    try:
        text = tasks_markdown(store, runner.notebook)
    finally:
        store.close()
    if text:
        display({"text/markdown": text, "text/plain": text}, raw=True)


def _panel(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .research import commands

    return commands.panel(runner, rest)


def _wait(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .research import commands

    return commands.wait(runner, rest)


def _show(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .research import commands

    return commands.show(runner, rest)


def _cancel(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .research import commands

    return commands.cancel(runner, rest)


def _approve(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .research import commands

    return commands.approve(runner, rest, magics.shell.user_ns, magics.defaults())


# -- the service's stored interactions and its models (gemini_magics/manage.py) -------------------------


def _delete(magics: Host, runner: CellRunner, rest: str) -> None:
    from . import manage

    manage.delete(runner, rest, magics.shell.user_ns)


def _models(magics: Host, runner: CellRunner, rest: str) -> Any:
    from . import manage

    return manage.models(rest)


# -- file search stores (gemini_magics/stores.py) ---------------------------------------------------------


def _stores(magics: Host, runner: CellRunner, rest: str) -> Any:
    from . import stores

    return stores.stores(runner, rest)


def _store(magics: Host, runner: CellRunner, rest: str) -> Any:
    from . import stores

    return stores.store(runner, rest)


# -- the notebook's cassette (gemini_magics/replay/) -------------------------------------------------------


def _cassette(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .replay import report

    try:
        return report.command(runner.backend.replay, magics.cassette_file(), rest)
    except report.ReportError as exc:
        raise CellError(str(exc)) from None


# -- the notebook-aware assistant (gemini_magics/assistant/) -----------------------------------------------


def _fix(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .assistant import fix

    try:
        return fix.run(magics.shell, runner, rest, magics.defaults())
    except fix.FixError as exc:
        raise CellError(str(exc)) from None


# -- what the notebook spent, and its chains written out (gemini_magics/spend.py, export.py) -----------------


def _usage(magics: Host, runner: CellRunner, rest: str) -> Any:
    from .prices import PriceTable
    from .spend import SpendError, command

    try:
        return command(runner.store, runner.notebook, PriceTable(magics.prices), magics.budget, rest)
    except SpendError as exc:
        raise CellError(str(exc)) from None


def _export(magics: Host, runner: CellRunner, rest: str) -> Any:
    from . import export
    from .prices import PriceTable

    try:
        return export.command(runner.store, runner.notebook, rest, PriceTable(magics.prices))
    except export.ExportError as exc:
        raise CellError(str(exc)) from None
