"""The ``%%gemini`` flag grammar: a magic line → a typed ``CellRequest``, with the service's rules checked.

Parsing never talks to the network. Bad flags raise ``OptionsError`` with a one-line message (the magic
turns it into a ``UsageError``), so a typo never reaches the service and never shows a traceback.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex
from dataclasses import dataclass, field

from . import assistant_flags, map_flags, mcp_config, speech

THINKING_LEVELS = ("minimal", "low", "medium", "high", "xhigh")
BUILTIN_TOOLS = ("google_search", "code_execution", "url_context", "google_maps")
# Generation controls, as google-genai 3.6.1's interaction types list them (tests/unit/test_controls.py pins
# them to the installed SDK): generation_config.tool_choice modes, image_config values, service tiers.
TOOL_CHOICES = ("auto", "any", "none", "validated")
ASPECT_RATIOS = (
    *("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"),
    *("1:8", "8:1", "1:4", "4:1"),
)
IMAGE_SIZES = ("512", "1K", "2K", "4K")
SERVICE_TIERS = ("flex", "standard", "priority")
CONTEXTS = assistant_flags.CONTEXTS


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
    research: bool = False  # --research: the configured default agent
    wait: bool = False  # block until a background interaction ends
    plan: bool = False  # --plan: Deep Research proposes a plan first (collaborative planning)
    visualize: bool = False  # --visualize: Deep Research draws charts in its report
    approve: bool = False  # not a flag: %gemini approve sends the approval of a plan
    show_json: bool = False
    tools: tuple[str, ...] = ()  # built-in tools
    file_search: tuple[str, ...] = ()
    mcp: tuple[str, ...] = ()  # NAME=URL
    mcp_headers: tuple[str, ...] = ()  # NAME=VAR, or VAR with one --mcp
    mcp_allowed: tuple[str, ...] = ()  # NAME=tool1,tool2
    functions: tuple[str, ...] = ()  # --tool NAME
    schema: str | None = None
    images: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    save: str | None = None
    seed: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()  # generation_config.stop_sequences
    tool_choice: str | None = None  # a mode of TOOL_CHOICES, or the one function NAME to call
    aspect_ratio: str | None = None
    image_size: str | None = None
    service_tier: str | None = None
    voices: tuple[str, ...] = ()  # --voice: "Name", or "Speaker=Name" for each speaker
    audio_format: str | None = None  # --audio-format: wav, l16, mp3, ogg_opus, alaw, mulaw
    map_source: str | None = None  # --map DATA and its flags (map_flags.py)
    into: str | None = None
    concurrency: int | None = None
    limit: int | None = None
    sample: int | None = None
    fresh: bool = False
    yes: bool = False
    store_rows: bool = False
    batch: bool = False
    code: str | None = None  # --code [all]: the answer's Python block(s) in a new cell below (assistant/)
    context: str | None = None  # --context cells|vars|all|none: what the model is told about the notebook
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
    p.add_argument(
        "--from",
        dest="branch_from",
        metavar="ID",
        help="branch from an earlier interaction: its id, or a variable holding a result",
    )
    p.add_argument(
        "--no-store", dest="store", action="store_false", help="stateless turn: not stored, not continued"
    )
    p.add_argument("-b", "--background", action="store_true", help="run in the background")
    p.add_argument(
        "--research", action="store_true", help="run the default research agent (GeminiMagics.agent)"
    )
    p.add_argument(
        "--wait", action="store_true", help="block until a background run ends (scripts, papermill, nbval)"
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="Deep Research: propose a research plan first (%%gemini approve runs it)",
    )
    p.add_argument("--visualize", action="store_true", help="Deep Research: charts in the report")
    p.add_argument("--json", dest="show_json", action="store_true", help="show the raw interaction JSON")
    p.add_argument(
        "--tools",
        action="append",
        metavar="LIST",
        help=f"built-in tools, comma-separated: {', '.join(BUILTIN_TOOLS)}",
    )
    p.add_argument("--file-search", action="append", metavar="STORE", help="search this file search store")
    p.add_argument(
        "--mcp", action="append", metavar="NAME=URL", help="a remote MCP server (URL, or a variable with it)"
    )
    p.add_argument(
        "--mcp-headers",
        action="append",
        metavar="[NAME=]VAR",
        help="HTTP headers for an MCP server: a dict variable",
    )
    p.add_argument(
        "--mcp-allowed",
        action="append",
        metavar="NAME=TOOLS",
        help="the only tools of an MCP server the model may call, comma-separated",
    )
    p.add_argument(
        "--tool",
        dest="functions",
        action="append",
        metavar="NAME",
        help="let the model call this notebook function",
    )
    p.add_argument(
        "--schema", metavar="NAME", help="structured output: a pydantic model or JSON-schema dict variable"
    )
    p.add_argument(
        "--image",
        dest="images",
        action="append",
        metavar="X",
        help="an image: path, URL or variable (bytes, PIL)",
    )
    p.add_argument(
        "--file",
        dest="files",
        action="append",
        metavar="X",
        help="a file (PDF, text, audio...): path, URL or variable",
    )
    p.add_argument(
        "--save",
        metavar="DIR",
        help="write generated images and audio to DIR as <interaction id>-<n>.png, .wav",
    )
    p.add_argument("--seed", type=int, metavar="N", help="sampling seed: the same seed, the same wording")
    p.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling, 0.0–1.0")
    p.add_argument("--stop", action="append", metavar="TEXT", help="end the answer before TEXT (repeatable)")
    p.add_argument(
        "--tool-choice",
        metavar="MODE",
        help="auto, any (call a function first), none, validated, or the NAME of the function to call first",
    )
    p.add_argument("--aspect-ratio", metavar="W:H", help=f"generated images: {', '.join(ASPECT_RATIOS)}")
    p.add_argument("--image-size", metavar="SIZE", help=f"generated images: {', '.join(IMAGE_SIZES)}")
    p.add_argument(
        "--service-tier", metavar="TIER", help=f"{', '.join(SERVICE_TIERS)}: price and latency of this cell"
    )
    p.add_argument(
        "--voice",
        dest="voices",
        action="append",
        metavar="[SPEAKER=]NAME",
        help="TTS voice, e.g. Kore or Puck; SPEAKER=NAME for each speaker of a dialogue (repeatable)",
    )
    p.add_argument(
        "--audio-format",
        metavar="FORMAT",
        help=f"answer as audio: {', '.join(speech.AUDIO_FORMATS)} (TTS models answer l16 by default)",
    )
    assistant_flags.add_arguments(p)  # --code, --context
    map_flags.add_arguments(p)
    return p


@functools.cache
def parser() -> argparse.ArgumentParser:
    """The cell flags' parser, built on first use (milliseconds that ``%load_ext`` need not pay)."""
    return _parser()


EXAMPLES = """Examples:
  %%gemini                         continue this notebook's conversation
  %%gemini answer -m gemini-3.1-pro-preview --thinking high
  %%gemini --new --system "Answer in French"
  %%gemini --chain ideas           a second, parallel conversation
  %%gemini --from v1_AbC…          branch from an earlier interaction
  %%gemini --no-store --no-stream  stateless, whole answer at once
  %%gemini --agent deep-research-pro-preview-12-2025
  %%gemini --research              the default agent; a live progress widget, the kernel stays free
  %%gemini --research --wait       block until the report is there (scripts, papermill, nbval)
  %%gemini --research --plan       a research plan first; a --research cell edits it, %gemini approve runs it
  %%gemini --research --visualize  a report with charts
  %%gemini --tools google_search,url_context
  %%gemini --file-search manuals   after %gemini store manuals docs/*.md
  %%gemini --mcp kb=https://example.com/mcp --mcp-allowed kb=lookup_word
  %%gemini --tool get_weather --tool convert    call notebook functions
  %%gemini person --schema Person  person.parsed is a Person
  %%gemini --image cat.png --file report.pdf
  %%gemini -m gemini-3.1-flash-image-preview --save out/
  %%gemini -m gemini-3.1-flash-image-preview --aspect-ratio 16:9 --image-size 2K
  %%gemini -m gemini-3.1-flash-tts-preview --voice Puck     speech, with a player
  %%gemini --seed 7 --top-p 0.9 --stop "###"    reproducible wording, cut at ###
  %%gemini --tool get_weather --tool-choice get_weather
  %%gemini labels --map reviews --schema Verdict --concurrency 16    one prompt per row
  %%gemini --code                  the answer's Python in a new cell below (not run)
  %%gemini --context all           with the cells run before and the variables (bounded)
  %gemini fix                      explain the last error; the corrected cell goes below
  %gemini What is 2 + 2?           a one-line prompt
"""


SUBCOMMANDS = {
    "help": "every flag and subcommand",
    "key": "enter an API key (hidden input, kept in memory only)",
    "chains": "this notebook's chains",
    "use": "use NAME: continue the named chain in the following cells",
    "new": "start a fresh conversation on the current chain",
    "history": "the current chain's turns with ids, models, statuses and tokens",
    "tasks": "background runs of this notebook; re-attaches to running ones (after a restart)",
    "panel": "a live panel of this notebook's background runs, with cancel and show buttons",
    "wait": "wait [ID]: block until a background run ends (Ctrl-C stops waiting only)",
    "approve": "approve [ID]: start the research as planned (default: the current chain's latest plan)",
    "show": "show [ID]: render a finished background run's report again",
    "cancel": "cancel [ID]: cancel a running background interaction",
    "delete": "delete ID | delete --chain [NAME]: delete stored interactions on the service",
    "models": "the models and agents the installed google-genai knows, with descriptions",
    "stores": "the file search stores: names, display names, documents, sizes",
    "store": "store NAME FILE…: create the file search store NAME if needed, upload files (globs too)",
    "cassette": "what the cassette holds, which cells missed; cassette prune: drop unused entries",
    "fix": "fix [INSTRUCTIONS]: explain the last cell's error; the corrected cell goes below, not run",
    "usage": "tokens and estimated cost per model, per chain and for the notebook (GeminiMagics.budget)",
    "export": "export [CHAIN] [-o FILE.md|.json|.ipynb]: a chain as Markdown, raw turns, or a notebook",
}


def help_text() -> str:
    rows = "\n".join(f"  %gemini {name:<8} {text}" for name, text in SUBCOMMANDS.items())
    forced = "  %gemini -- TEXT  send TEXT even if it starts with a subcommand"
    return f"{usage()}\nSubcommands:\n{rows}\n{forced}\n"


def usage() -> str:
    """Every flag with its help and examples, for ``%%gemini?`` and ``%gemini help``."""
    return parser().format_help() + "\n" + EXAMPLES


def parse(line: str) -> CellRequest:
    """Parse a magic line; raise ``OptionsError`` for anything the service would refuse anyway."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise OptionsError(f"cannot parse the magic line: {exc}") from None
    ns = parser().parse_args(words)
    if ns.variable is not None and not ns.variable.isidentifier():
        raise OptionsError(f"{ns.variable!r} is not a valid variable name")
    if ns.temperature is not None and not 0.0 <= ns.temperature <= 2.0:
        raise OptionsError("--temperature must be between 0.0 and 2.0")
    if ns.max_tokens is not None and ns.max_tokens <= 0:
        raise OptionsError("--max-tokens must be a positive number")
    if ns.model and ns.agent:
        raise OptionsError("use either --model or --agent, not both")
    if ns.research and ns.model:
        raise OptionsError("--research runs an agent: it cannot be combined with --model")
    if ns.wait and not (ns.background or ns.agent or ns.research):
        raise OptionsError(
            "--wait applies to background runs: use it with --agent, --research or --background"
        )
    for flag, used in (("--plan", ns.plan), ("--visualize", ns.visualize)):
        if used and not (ns.agent or ns.research):
            raise OptionsError(f"{flag} is for Deep Research: use it with --research or --agent")
    if ns.research and ns.functions:
        raise OptionsError("--tool runs notebook functions while the cell runs: not with --research")
    if not ns.store and ns.research:
        raise OptionsError(
            "--no-store cannot be combined with --research: agents run in the background, and the service "
            "requires store=true for background interactions"
        )
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
    _check_tools(ns)
    _check_controls(ns)
    try:
        assistant_flags.check(ns)
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    try:
        map_flags.check(ns)
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    try:  # --voice, --audio-format: checked and normalised by speech.py, which also applies them
        ns.voices, ns.audio_format = speech.check(
            ns.voices or (), ns.audio_format, bool(ns.agent or ns.research), bool(ns.schema)
        )
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    fields = vars(ns)
    return CellRequest(**fields)


def _check_tools(ns: argparse.Namespace) -> None:
    """Repeatable tool and file flags become tuples; names and forms are checked here, values in the cell."""
    tools = tuple(t.strip() for item in ns.tools or () for t in item.split(",") if t.strip())
    unknown = [t for t in tools if t not in BUILTIN_TOOLS]
    if unknown:
        raise OptionsError(f"unknown built-in tool {unknown[0]!r}; known: {', '.join(BUILTIN_TOOLS)}")
    ns.tools = tuple(dict.fromkeys(tools))
    ns.functions = tuple(f.strip() for item in ns.functions or () for f in item.split(",") if f.strip())
    for name in (*ns.functions, *([ns.schema] if ns.schema else [])):
        if not name.isidentifier():
            raise OptionsError(
                f"{name!r} is not a variable name (--tool and --schema name notebook variables)"
            )
    for spec in ns.mcp or ():
        name, sep, url = spec.partition("=")
        web = url.lower().startswith(("https://", "http://"))
        if not sep or not name.strip() or not (web or url.isidentifier()):
            raise OptionsError(f"--mcp {spec}: write NAME=URL with an http(s) URL, or NAME=VAR")
    if len({s.partition("=")[0] for s in ns.mcp or ()}) < len(ns.mcp or ()):
        raise OptionsError("--mcp: two servers with the same NAME")
    if ns.mcp_headers and not ns.mcp:
        raise OptionsError("--mcp-headers needs an --mcp server")
    try:
        mcp_config.allowed(ns.mcp_allowed or (), {s.partition("=")[0] for s in ns.mcp or ()})
    except ValueError as exc:
        raise OptionsError(str(exc)) from None
    for flag in ("file_search", "mcp", "mcp_headers", "mcp_allowed", "images", "files"):
        setattr(ns, flag, tuple(getattr(ns, flag) or ()))
    if ns.functions and (ns.background or ns.agent):
        raise OptionsError(
            "--tool runs notebook functions while the cell runs, so it cannot be combined with "
            "--background or --agent"
        )


def _check_controls(ns: argparse.Namespace) -> None:
    """Generation controls: values checked and normalised (``1k`` → ``1K``), one line per mistake."""
    if ns.seed is not None and not -(2**31) <= ns.seed < 2**31:
        raise OptionsError("--seed must be a whole number between -2147483648 and 2147483647")
    if ns.top_p is not None and not 0.0 <= ns.top_p <= 1.0:
        raise OptionsError("--top-p must be between 0.0 and 1.0")
    if any(not text for text in ns.stop or ()):
        raise OptionsError("--stop needs a non-empty TEXT")
    ns.stop = tuple(dict.fromkeys(ns.stop or ()))
    ns.aspect_ratio = choose("--aspect-ratio", ns.aspect_ratio, ASPECT_RATIOS)
    ns.image_size = choose("--image-size", ns.image_size, IMAGE_SIZES)
    ns.service_tier = choose("--service-tier", ns.service_tier, SERVICE_TIERS)
    if ns.agent or ns.research:
        used = [flag for flag, value in _MODEL_ONLY.items() if getattr(ns, value) not in (None, ())]
        if used:
            raise OptionsError(f"{used[0]} applies to models: agents take no generation settings")
    if ns.tool_choice is None:
        return
    choice = ns.tool_choice.strip()
    if choice.lower() in TOOL_CHOICES:
        ns.tool_choice = choice.lower()
    elif not re.fullmatch(r"[A-Za-z_][\w.:-]{0,63}", choice):
        raise OptionsError(f"--tool-choice {choice!r}: write {', '.join(TOOL_CHOICES)}, or a function name")
    if not (ns.functions or ns.mcp or ns.tools or ns.file_search):
        raise OptionsError("--tool-choice applies to the cell's tools: add --tool, --mcp or --tools")
    if choice.lower() not in TOOL_CHOICES and ns.functions and not ns.mcp and choice not in ns.functions:
        raise OptionsError(
            f"--tool-choice {choice}: not one of this cell's functions ({', '.join(ns.functions)})"
        )


_MODEL_ONLY = {
    "--seed": "seed",
    "--top-p": "top_p",
    "--stop": "stop",
    "--tool-choice": "tool_choice",
    "--aspect-ratio": "aspect_ratio",
    "--image-size": "image_size",
}


def choose(flag: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """``value`` as spelled in ``allowed`` (case does not matter); ``OptionsError`` names the choices."""
    if value is None:
        return None
    for option in allowed:
        if value.strip().lower() == option.lower():
            return option
    raise OptionsError(f"{flag} {value!r}: choose one of {', '.join(allowed)}")
