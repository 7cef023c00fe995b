"""The final view of a result: rich widgets in a live kernel, with a static fallback in the same output.

The widgets show our own structure (accordion for thoughts, images, code with its output); every piece
of model text inside them is a Markdown display-data output appended to an ``Output`` widget's ``outputs``
(what ``Output.append_display_data`` does) so JupyterLab's sanitising renderer shows it. Appending outputs
(not ``with out:``) keeps them where they belong under ipykernel 7 and in notebooks saved by nbconvert.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from .. import blocks as b
from .. import blocks_compat, catalog, statuses
from ..blocks_media import AudioBlock
from . import audio, grounding, static

EMULATOR_BADGE = "`offline emulator` — simulated answer; set GEMINI_API_KEY to use Gemini"


class Shown(Protocol):
    """What the view reads of a result (``turn.Result`` is one): declared here, so rendering imports nothing
    of the layers above it that show results."""

    id: str | None
    status: str
    model: str | None
    blocks: list[b.Block]
    usage: dict[str, Any]
    interaction: Any
    elapsed: float
    backend: str
    notes: list[str]
    error: str | None
    show_thoughts: bool
    show_json: bool
    parsed: Any
    footnotes: list[str]
    chain: str | None

    @property
    def text(self) -> str: ...


def badge(backend: str) -> str:
    """The line above an answer that did not come live from Gemini: the emulator's, or a replay's."""
    if backend == "offline emulator":
        return EMULATOR_BADGE
    if backend.startswith("replayed"):
        return f"`replayed` — {static.escape(backend[len('replayed') :].strip(' ()'))}; no request was sent"
    return ""


def header(result: Shown) -> str:
    lines = [f"*Note: {static.escape(note)}*" for note in result.notes]
    if badge(result.backend):
        lines.insert(0, badge(result.backend))
    if not statuses.is_success(result.status) and result.status not in (*statuses.RUNNING, statuses.HOP):
        problem = f": {static.escape(result.error)}" if result.error else ""
        said = statuses.words(result.status)  # "Stopped: budget exceeded"
        lines.append(f"**{static.escape(said[:1].upper() + said[1:])}**{problem}")
    return "\n\n".join(lines)


def footer(result: Shown) -> str:
    tokens = result.usage.get("total_tokens")
    parts = [result.model or "?", result.id or "no id"]
    if tokens is not None:
        parts.append(f"{tokens:,} tokens")
    parts.append(f"{result.elapsed:.1f} s")
    parts += result.footnotes  # e.g. "context: 6 cells, 4 variables, ~3.1k tokens"
    return "<sub>" + " · ".join(static.escape(p) for p in parts) + "</sub>"


def shown_blocks(result: Shown) -> list[b.Block]:
    """The blocks as shown: a structured answer (``--schema``, parsed) is JSON, shown as a JSON code block."""
    if result.parsed is None:
        return result.blocks

    def shown(block: b.Block) -> b.Block:
        if isinstance(block, b.TextBlock) and block.text.strip():
            return b.TextBlock(static.fence(block.text.strip(), "json"))
        return block

    return [shown(block) for block in result.blocks]


def markdown(result: Shown) -> str:
    """The static view; images are embedded: where JupyterLab picks Markdown, a saved notebook shows them."""
    text = static.to_markdown(
        shown_blocks(result), result.show_thoughts, header(result), footer(result), embed_images=True
    )
    if result.show_json and result.interaction is not None:
        raw = json.dumps(blocks_compat.plain(result.interaction), indent=1, ensure_ascii=False)
        text += "\n\n**Interaction JSON**\n\n" + static.fence(raw, "json")
    return text


def plain(result: Shown) -> str:
    """The text/plain form: what a terminal or a text-only reader should see."""
    lines = [note for note in result.notes]
    if result.backend == "offline emulator" or result.backend.startswith("replayed"):
        lines.insert(0, f"[{result.backend}]")
    if result.error:
        lines.append(f"{result.status}: {result.error}")
    elif not statuses.is_success(result.status) and result.status not in (*statuses.RUNNING, statuses.HOP):
        lines.append(statuses.words(result.status))  # "stopped: budget exceeded"
    heard = [f"[audio: {audio.describe(x)}]" for x in result.blocks if isinstance(x, AudioBlock)]
    lines += heard
    if result.text.strip() or not heard:
        lines.append(result.text.strip() or f"({result.status}, no text)")
    tokens = result.usage.get("total_tokens")
    lines.append(
        f"-- {result.model or '?'} · {result.id or 'no id'}"
        + (f" · {tokens:,} tokens" if tokens is not None else "")
        + f" · {result.elapsed:.1f} s"
        + "".join(f" · {note}" for note in result.footnotes)
    )
    return "\n".join(lines)


def metadata(result: Shown) -> dict[str, Any]:
    """The output's provenance, saved with it in the .ipynb: which interaction, model or agent, what it
    used, what answered (``gemini``, ``emulator``, ``endpoint``, or ``cassette`` when replayed) and on which
    chain (None: ``--no-store``). Nothing here can hold the key: no URL, no request."""
    found = provenance(result.id, result.model, result.backend, result.chain, result.interaction)
    found.update(status=result.status, usage=result.usage or None)
    return {"gemini": found}


def provenance(
    interaction_id: str | None, who: str | None, label: str, chain: str | None, interaction: Any = None
) -> dict[str, Any]:
    """The ``gemini`` metadata of an output (``metadata``); ``who`` is the model or agent ID."""
    agent = getattr(interaction, "agent", None) if interaction is not None else None
    if agent is None and getattr(interaction, "model", None) is None:  # no interaction: judge by its ID
        agent = who if catalog.agent_family(who or "") != "dynamic" else None
    return {
        "interaction_id": interaction_id,
        ("agent" if agent else "model"): who,
        "backend": backend_kind(label),
        "chain": chain,
        "replayed": label.startswith("replayed"),
    }


def backend_kind(label: str) -> str:
    """What answered, from the result's backend label (``Target.label`` or a replay's)."""
    if label.startswith("replayed"):
        return "cassette"
    return {"Gemini": "gemini", "offline emulator": "emulator"}.get(label, "endpoint" if label else "")


def bundle(result: Shown) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, metadata) for IPython's display: static Markdown/PNG, plus a widget view in a kernel."""
    text = markdown(result)
    data = static.bundle(text, result.blocks)
    data["text/plain"] = plain(result)
    if in_kernel():
        widget = build_widget(result)
        data["application/vnd.jupyter.widget-view+json"] = {
            "model_id": widget.model_id,
            "version_major": 2,
            "version_minor": 0,
        }
    return data, metadata(result)


def in_kernel() -> bool:
    """True in a Jupyter kernel (widgets and display updates reach a front end), False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _markdown_output(text: str) -> Any:
    import ipywidgets as w

    out = w.Output()
    if text.strip():
        # What ``append_display_data(Markdown(text))`` appends in a kernel, built here: the shell's
        # formatter would drop text/markdown where only text/plain is active (a terminal IPython).
        data = {"text/markdown": text, "text/plain": text}
        out.outputs += ({"output_type": "display_data", "data": data, "metadata": {}},)
    return out


def build_widget(result: Shown) -> Any:
    """A VBox with one view per block; thoughts collapsed in an accordion."""
    import ipywidgets as w

    children: list[Any] = []
    top = header(result)
    if top:
        children.append(_markdown_output(top))
    for block in static.merge_thoughts(shown_blocks(result)):
        if isinstance(block, b.ThoughtBlock):
            if result.show_thoughts and block.summary.strip():
                accordion = w.Accordion(children=[_markdown_output(static.safe_markdown(block.summary))])
                accordion.set_title(0, "Thoughts")
                accordion.selected_index = None
                children.append(accordion)
        elif isinstance(block, b.ImageBlock):
            if block.data:
                fmt = block.mime_type.split("/")[-1]
                children.append(w.Image(value=block.data, format=fmt, layout=w.Layout(max_width="512px")))
        elif isinstance(block, AudioBlock):  # a player, and the line that says what it is
            children += [*audio.players(block), _markdown_output(audio.markdown(block))]
        elif (rich := grounding.widget(block)) is not None:  # file search passages, MCP images
            children.append(rich)
        else:
            children.append(_markdown_output(static.block_markdown(block, result.show_thoughts)))
    sources = static.citations_markdown(result.blocks)
    if sources and not any(isinstance(x, b.TextBlock) and "Sources" in x.text for x in result.blocks):
        children.append(_markdown_output(sources))
    if result.show_json and result.interaction is not None:
        raw = json.dumps(blocks_compat.plain(result.interaction), indent=1, ensure_ascii=False)
        children.append(_markdown_output(static.fence(raw, "json")))
    children.append(_markdown_output(footer(result)))
    return w.VBox(children, layout=w.Layout(width="100%"))
