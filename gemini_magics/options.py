"""The ``%%gemini`` flag grammar: a magic line → a typed ``CellRequest``, with the service's rules checked.

Parsing never talks to the network. Bad flags raise ``OptionsError`` with a one-line message (the magic
turns it into a ``UsageError``), so a typo never reaches the service and never shows a traceback.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

THINKING_LEVELS = ("minimal", "low", "medium", "high", "xhigh")


class OptionsError(ValueError):
    """A magic line that cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True)
class CellRequest:
    """What one ``%%gemini`` cell asks for; ``None`` means "use the configured default"."""

    variable: str | None = None
    model: str | None = None
    agent: str | None = None
    system: str | None = None
    thinking: str | None = None
    thoughts: bool | None = None
    stream: bool | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    new: bool = False
    chain: str | None = None
    branch_from: str | None = None
    store: bool = True
    background: bool = False
    show_json: bool = False
    extras: dict[str, object] = field(default_factory=dict)


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as ``OptionsError`` instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionsError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise OptionsError(message or "invalid arguments")


def _parser() -> _Parser:
    p = _Parser(
        prog="%%gemini",
        add_help=False,
        allow_abbrev=False,
        description="Send the cell to Gemini; consecutive cells continue one conversation.",
    )
    p.add_argument("variable", nargs="?", help="store the result object in this variable too")
    p.add_argument("-m", "--model", help="model ID, e.g. gemini-3.1-pro-preview")
    p.add_argument(
        "-a", "--agent", help="agent ID, e.g. deep-research-pro-preview-12-2025 (runs in background)"
    )
    p.add_argument("-s", "--system", help="system instruction for this turn")
    p.add_argument("--thinking", choices=THINKING_LEVELS, help="thinking level")
    p.add_argument(
        "--thoughts", dest="thoughts", action="store_true", default=None, help="show thought summaries"
    )
    p.add_argument("--no-thoughts", dest="thoughts", action="store_false", help="hide thought summaries")
    p.add_argument("--stream", dest="stream", action="store_true", default=None, help="stream the answer")
    p.add_argument("--no-stream", dest="stream", action="store_false", help="wait for the whole answer")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature, 0.0–2.0")
    p.add_argument("--max-tokens", type=int, help="maximum output tokens")
    p.add_argument("-n", "--new", action="store_true", help="start a fresh chain")
    p.add_argument("-c", "--chain", help="continue (or start) the named chain")
    p.add_argument("--from", dest="branch_from", metavar="ID", help="branch from an earlier interaction")
    p.add_argument(
        "--no-store", dest="store", action="store_false", help="stateless turn: not stored, not continued"
    )
    p.add_argument("-b", "--background", action="store_true", help="run in the background")
    p.add_argument("--json", dest="show_json", action="store_true", help="show the raw interaction JSON")
    return p


PARSER = _parser()

EXAMPLES = """Examples:
  %%gemini                         continue this notebook's conversation
  %%gemini answer -m gemini-3.1-pro-preview --thinking high
  %%gemini --new --system "Answer in French"
  %%gemini --chain ideas           a second, parallel conversation
  %%gemini --from v1_AbC…          branch from an earlier interaction
  %%gemini --no-store --no-stream  stateless, whole answer at once
  %%gemini --agent deep-research-pro-preview-12-2025
  %gemini What is 2 + 2?           a one-line prompt
"""


SUBCOMMANDS = {
    "help": "every flag and subcommand",
    "key": "enter an API key (hidden input, kept in memory only)",
    "chains": "this notebook's chains",
    "use": "use NAME: continue the named chain in the following cells",
    "new": "start a fresh conversation on the current chain",
    "history": "the current chain's turns with ids, models, statuses and tokens",
}


def help_text() -> str:
    rows = "\n".join(f"  %gemini {name:<8} {text}" for name, text in SUBCOMMANDS.items())
    forced = "  %gemini -- TEXT  send TEXT even if it starts with a subcommand"
    return f"{usage()}\nSubcommands:\n{rows}\n{forced}\n"


def usage() -> str:
    """Every flag with its help and examples, for ``%%gemini?`` and ``%gemini help``."""
    return PARSER.format_help() + "\n" + EXAMPLES


def parse(line: str) -> CellRequest:
    """Parse a magic line; raise ``OptionsError`` for anything the service would refuse anyway."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise OptionsError(f"cannot parse the magic line: {exc}") from None
    ns = PARSER.parse_args(words)
    if ns.variable is not None and not ns.variable.isidentifier():
        raise OptionsError(f"{ns.variable!r} is not a valid variable name")
    if ns.temperature is not None and not 0.0 <= ns.temperature <= 2.0:
        raise OptionsError("--temperature must be between 0.0 and 2.0")
    if ns.max_tokens is not None and ns.max_tokens <= 0:
        raise OptionsError("--max-tokens must be a positive number")
    if ns.model and ns.agent:
        raise OptionsError("use either --model or --agent, not both")
    if not ns.store:
        for flag, used in (
            ("--chain", ns.chain),
            ("--from", ns.branch_from),
            ("--background", ns.background),
            ("--agent", ns.agent),
        ):
            if used:
                raise OptionsError(
                    f"--no-store cannot be combined with {flag}: interactions that are not "
                    "stored cannot be continued or run in the background"
                )
    if ns.new and ns.branch_from:
        raise OptionsError("--new starts a fresh chain; --from branches from an interaction: pick one")
    fields = vars(ns)
    return CellRequest(**fields)
