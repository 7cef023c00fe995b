"""``%gemini export [CHAIN] [-o FILE]``: a chain's conversation written out — Markdown to read, JSON to
process, or a notebook to run again.

What is exported is the chain's current conversation: its turns from the last reset to the head, each the
predecessor of the next (``Chain.path_ids``, the context the service continues), so branches, failed
turns and turns before a ``--new`` stay out (``%gemini history`` lists every turn). For each turn the chain
store keeps the prompt as sent (after interpolation; image parts read ``[image]``), the model or agent,
the usage, and the static view the answer was shown with (``Result.turn_fields``): Markdown with thought
summaries, tool calls and their results, code runs, citations with their links and images embedded as
data URIs, and its text form. Nothing is fetched from the service — it may have forgotten the interactions
(after a day on the free tier), and the stored view is exactly what the notebook showed. Turns recorded
before views were kept give their answer's text only.

The file's extension picks the format: ``.md`` the Markdown that ``%gemini export`` shows without ``-o``;
``.json`` the raw turns (every stored field, with the view); ``.ipynb`` a notebook whose first cell is
``%load_ext gemini_magics``, then one ``%%gemini`` cell per turn with its output as Jupyter saves it (a
streamed answer's live view, emptied, then the final view). The first cell starts afresh (``--new``) and
each names its model (``-m``) or agent (``--agent … --wait``) and the flags of the original cell that a
re-run can repeat as written (``repeatable_flags``: system instruction, thinking, built-in tools, sampling
…), so on the emulator a re-run gives the same answers: strict nbval passes with
``tests/notebooks/sanitize.cfg``, which masks what differs between two runs (interaction ids, durations,
image bytes). Flags that name something of the notebook (``--tool`` functions, ``--schema`` types, files,
variables, MCP servers, stores, ``--from``) are left out: the exported notebook has none of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shlex
from pathlib import Path
from typing import Any

from .chain import Chain, ChainStore, Turn
from .options import TOOL_CHOICES, CellRequest
from .prices import DEFAULT, PRICES_DATED, PriceTable, Tokens, money
from .render import static
from .render.view import EMULATOR_BADGE

FORMATS = {".md": "markdown", ".markdown": "markdown", ".json": "json", ".ipynb": "notebook"}
_FIRST_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
_LIVE_VIEW = {"text/plain": ""}  # how a streamed answer's live view is saved (render/live.py)


class ExportError(Exception):
    """An export that cannot be made; one line."""


@dataclasses.dataclass
class Exported:
    """A chain's conversation: its turns with their stored views; shown as the Markdown export."""

    chain: str
    turns: list[Turn]
    views: dict[int, dict[str, Any]]
    prices: PriceTable = DEFAULT

    def __repr__(self) -> str:
        return f"<gemini export of chain {self.chain!r}: {len(self.turns)} turns>"

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        text = markdown(self)
        return {"text/markdown": text, "text/plain": text}, {"gemini": {"export": self.chain}}

    def view(self, turn: Turn) -> dict[str, str]:
        """The stored view, or one made of the answer's text (turns stored before views were kept)."""
        found = self.views.get(turn.id or -1)
        if found and isinstance(found.get("markdown"), str):
            return {"markdown": found["markdown"], "plain": str(found.get("plain", found["markdown"]))}
        note = "*Note: the text of the answer only (stored before gemini-magics kept whole views)*"
        return {"markdown": f"{note}\n\n{static.safe_markdown(turn.answer)}", "plain": turn.answer}


def repeatable_flags(request: CellRequest) -> str:
    """The cell's flags that mean the same in any notebook, shell-quoted: what an exported cell repeats."""
    words: list[str] = []
    valued = (
        ("--system", request.system),
        ("--thinking", request.thinking),
        ("-t", request.temperature),
        ("--max-tokens", request.max_tokens),
        ("--seed", request.seed),
        ("--top-p", request.top_p),
        ("--aspect-ratio", request.aspect_ratio),
        ("--image-size", request.image_size),
        ("--service-tier", request.service_tier),
        ("--audio-format", request.audio_format),
    )
    for flag, value in valued:
        if value is not None:
            words += [flag, str(value)]
    if request.thoughts is not None:
        words.append("--thoughts" if request.thoughts else "--no-thoughts")
    if request.stream is not None:
        words.append("--stream" if request.stream else "--no-stream")
    if request.tools:
        words += ["--tools", ",".join(request.tools)]
    if request.tool_choice in TOOL_CHOICES:  # a function's name needs that function
        words += ["--tool-choice", str(request.tool_choice)]
    for flag, values in (("--stop", request.stop), ("--voice", request.voices)):
        for value in values:
            words += [flag, value]
    if request.visualize:
        words.append("--visualize")
    return shlex.join(words)


def command(store: ChainStore, notebook: str, rest: str, prices: PriceTable = DEFAULT) -> Any:
    """``%gemini export [CHAIN] [-o FILE]``: the Markdown to show, or None once the file is written."""
    name, output = _arguments(rest)
    exported = conversation(store, notebook, name)
    exported.prices = prices
    if output is None:
        return exported
    kind = FORMATS.get(output.suffix.lower())
    if kind is None:
        raise ExportError(f"-o {output}: the file must end in .md, .json or .ipynb (that picks the format)")
    text = {"markdown": markdown, "json": raw, "notebook": notebook_text}[kind](exported)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc.strerror or type(exc).__name__}") from None
    turns = f"{len(exported.turns)} turn{'s' if len(exported.turns) != 1 else ''}"
    print(f"Exported chain {exported.chain!r} ({turns}) to {output}.")
    return None


def _arguments(rest: str) -> tuple[str | None, Path | None]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise ExportError(f"cannot read the arguments of %gemini export: {exc}") from None
    name = output = None
    usage = "usage: %gemini export [CHAIN] [-o FILE.md|FILE.json|FILE.ipynb]"
    while words:
        word = words.pop(0)
        if word in ("-o", "--output"):
            if not words or output is not None:
                raise ExportError(usage)
            output = Path(words.pop(0)).expanduser()
        elif word.startswith("-") or name is not None:
            raise ExportError(usage)
        else:
            name = word
    return name, output


def conversation(store: ChainStore, notebook: str, name: str | None) -> Exported:
    """The chain's turns from its last reset to its head, in order, with their stored views."""
    known = {info.name for info in store.chains(notebook)}
    chosen = name or store.active_name(notebook)
    if chosen not in known:
        if name is None:
            raise ExportError("nothing to export yet: no %%gemini cell of this notebook has answered")
        raise ExportError(f"no chain {name!r} in this notebook (%gemini chains lists them)")
    chain: Chain = store.chain(notebook, chosen)
    path = chain.path_ids()
    segment = chain.segment
    by_id: dict[str, Turn] = {}
    for turn in chain.turns():
        if turn.segment == segment and turn.status == "completed" and turn.interaction_id:
            by_id[turn.interaction_id] = turn  # the latest turn with that id
    turns = [by_id[i] for i in path if i in by_id]
    if not turns:
        raise ExportError(
            f"chain {chosen!r} has no conversation to export: it has no answer since it was last reset "
            "(%gemini history lists every turn)"
        )
    return Exported(chosen, turns, chain.views([t.id for t in turns if t.id is not None]))


# -- the formats -------------------------------------------------------------------------------------------


def markdown(exported: Exported) -> str:
    """One section per turn: the prompt (verbatim, fenced), then the answer as it was shown."""
    tokens = sum(_tokens(t) for t in exported.turns)
    usd = sum(exported.prices.cost(t.model, t.usage) for t in exported.turns)
    count = len(exported.turns)
    parts = [
        f"# Chain {static.code_span(exported.chain)}",
        f"*{count} turn{'s' if count != 1 else ''} · {tokens:,} tokens · about {static.escape(money(usd))} · "
        f"exported {dt.date.today().isoformat()} by gemini-magics*",
    ]
    for number, turn in enumerate(exported.turns, 1):
        who = "agent" if _is_agent(turn.model) else "model"
        parts += [
            "---",
            f"## {number} · {static.code_span(turn.model or '?')} ({who})"
            + (f" · {static.code_span(turn.flags)}" if turn.flags else ""),
            "**Prompt**",
            static.fence(turn.prompt, "text"),
            "**Answer**",
            exported.view(turn)["markdown"],
        ]
    return "\n\n".join(parts) + "\n"


def raw(exported: Exported) -> str:
    """The turns as the chain store keeps them (with their views), as JSON."""
    turns = []
    for turn in exported.turns:
        row = dataclasses.asdict(turn)
        row["view"] = exported.views.get(turn.id or -1)
        turns.append(row)
    body = {"format": "gemini-magics chain export", "version": 1, "chain": exported.chain, "turns": turns}
    body["prices_dated"] = PRICES_DATED
    return json.dumps(body, indent=1, ensure_ascii=False) + "\n"


def notebook_text(exported: Exported) -> str:
    """A notebook that re-runs the conversation: ``%load_ext``, then one ``%%gemini`` cell per turn."""
    import nbformat

    v4 = nbformat.v4
    cells = [v4.new_code_cell("%load_ext gemini_magics", execution_count=1)]
    for number, turn in enumerate(exported.turns, 2):
        agent = _is_agent(turn.model)
        flags = ["--new"] if number == 2 else []
        if agent:
            flags += ["--agent", turn.model, "--wait"]
        else:
            flags += ["-m", turn.model] + (["--background", "--wait"] if turn.background else [])
        flags += shlex.split(turn.flags)
        view = exported.view(turn)
        data: dict[str, Any] = {"text/markdown": view["markdown"], "text/plain": view["plain"]}
        png = _FIRST_PNG.search(view["markdown"])
        if png:
            data["image/png"] = png.group(1)
        meta = {"gemini": _provenance(turn, exported.chain, view["markdown"], agent)}
        outputs = []
        if not turn.background and "--no-stream" not in flags:  # streamed: the live view first, emptied
            live = {"gemini": {**meta["gemini"], "live": True}}
            outputs.append(v4.new_output("display_data", data=dict(_LIVE_VIEW), metadata=live))
        outputs.append(v4.new_output("execute_result", data=data, metadata=meta, execution_count=number))
        # A cell's body reaches the magic with a newline at its end: the cell itself has none.
        source = f"%%gemini {shlex.join(flags)}\n{turn.prompt.removesuffix(chr(10))}"
        cells.append(v4.new_code_cell(source, execution_count=number, outputs=outputs))
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def _provenance(turn: Turn, chain: str, shown: str, agent: bool) -> dict[str, Any]:
    """The metadata the output had (render/view.py), from what the store kept: what answered is told by
    the view's badge (the emulator's, a replay's; else unknown: Gemini or an endpoint)."""
    backend = "emulator" if shown.startswith(EMULATOR_BADGE) else None
    backend = "cassette" if shown.startswith("`replayed`") else backend
    return {
        "interaction_id": turn.interaction_id,
        ("agent" if agent else "model"): turn.model,
        "backend": backend,
        "chain": chain,
        "replayed": backend == "cassette",
        "status": turn.status,
        "usage": turn.usage,
    }


def _is_agent(model: str) -> bool:
    from .catalog import agent_family

    return agent_family(model) != "dynamic"


def _tokens(turn: Turn) -> int:
    counts = Tokens.of(turn.usage)
    return counts.input + counts.output + counts.thought + counts.tool
