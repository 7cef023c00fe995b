"""``%gemini delete`` and ``%gemini models``: managing what the service stores, and what it offers.

The Interactions API has no way to list a user's interactions, so the chain store is the only index of
what a notebook left on the service: ``delete --chain`` deletes every interaction its turns name. A 404
means the service no longer holds it (deleted before, or expired): that is reported, and the turn is
marked deleted all the same. Turns are never removed from the store; ``%gemini history`` shows them as
deleted. Every outcome is one line; a deletion that failed otherwise (network, 5xx) fails the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import catalog
from .backend import BackendError
from .cell import CellError, branch_point
from .render.static import code_span, escape

if TYPE_CHECKING:
    from .cell import CellRunner

USAGE = "usage: %gemini delete ID (or a variable holding a result), or %gemini delete --chain [NAME]"


def delete(runner: CellRunner, rest: str, namespace: dict[str, Any]) -> None:
    """``delete ID`` or ``delete --chain [NAME]``; prints one line per interaction."""
    words = rest.split()
    if words and words[0] in ("--chain", "-c"):
        if len(words) > 2:
            raise CellError(USAGE)
        _delete_chain(runner, words[1] if len(words) == 2 else None)
        return
    if len(words) != 1 or words[0].startswith("-"):
        raise CellError(USAGE)
    wanted = branch_point(words[0], namespace) or words[0]
    ok, line = _delete_one(runner, wanted)
    if not ok:
        raise CellError(line)
    print(line)
    for info in runner.store.chains(runner.notebook):
        if info.head and wanted in runner.store.chain(runner.notebook, info.name).path_ids():
            what = "the head" if info.head == wanted else "part of the conversation"
            print(
                f"It was {what} of chain {info.name!r}: its next cell re-sends the chain's transcript "
                f"without it (%gemini new {info.name} starts afresh instead)."
            )


def _delete_chain(runner: CellRunner, name: str | None) -> None:
    name = name or runner.store.active_name(runner.notebook)
    if name not in {c.name for c in runner.store.chains(runner.notebook)}:
        raise CellError(f"this notebook has no chain {name!r} (%gemini chains lists them)")
    chain = runner.store.chain(runner.notebook, name)
    ids = chain.stored_ids()
    failed = 0
    for interaction_id in ids:
        ok, line = _delete_one(runner, interaction_id)
        failed += not ok
        print(line)
    chain.reset()
    done = len(ids) - failed
    summary = f"Chain {name!r}: {done} of {len(ids)} stored interaction(s) deleted or already gone"
    if not ids:
        summary = f"Chain {name!r}: nothing left on the service to delete"
    print(f"{summary}; the next prompt starts a new conversation (the history is kept, marked deleted).")
    if failed:
        raise CellError(
            f"{failed} interaction(s) of chain {name!r} could not be deleted (see above) — "
            f"run %gemini delete --chain {name} again"
        )


def _delete_one(runner: CellRunner, interaction_id: str) -> tuple[bool, str]:
    """Delete on the service, mark the store; ``(done, the line to show)``. A 404 counts as done."""
    try:
        runner.backend.delete(interaction_id)
    except BackendError as exc:
        if exc.status != 404:
            return False, f"{interaction_id}: not deleted — {exc}"
        runner.store.mark_deleted(interaction_id)
        return True, f"{interaction_id}: already gone (HTTP 404: deleted before, or expired)"
    runner.store.mark_deleted(interaction_id)
    return True, f"Deleted {interaction_id}."


def models(rest: str) -> Any:
    """The models and agents the installed google-genai knows, one line each, as Markdown."""
    from importlib.metadata import PackageNotFoundError, version

    from IPython.display import Markdown

    if rest.strip():
        raise CellError("%gemini models takes no argument (%gemini -- models … sends a prompt)")
    try:
        sdk = f"google-genai {version('google-genai')}"
    except PackageNotFoundError:
        sdk = "google-genai"
    lines: list[str] = []
    for kind, default, title in (
        ("model", catalog.DEFAULT_MODEL, "Models"),
        ("agent", catalog.DEFAULT_AGENT, "Agents"),
    ):
        lines += ["", f"**{title}** (as {escape(sdk)} lists them)", ""]
        for known in (k for k in catalog.known() if k.kind == kind):
            marks = [
                m
                for m, on in (("default", known.id == default), ("deprecated", catalog.deprecated(known.id)))
                if on
            ]
            if not known.in_sdk:
                marks.append(f"not in {sdk}'s list")
            note = f" *({escape(', '.join(marks))})*" if marks else ""
            text = f" — {escape(known.description)}" if known.description else ""
            lines.append(f"- {code_span(known.id)}{text}{note}")
    families = ", ".join(code_span(f + "*") for f in catalog.DEPRECATED_FAMILIES)
    lines += [
        "",
        f"Deprecated: {families} — a cell asking for one gets {code_span(catalog.DEFAULT_MODEL)} "
        f"(pro models: {code_span(catalog.PRO_MODEL)}) and a note.",
    ]
    return Markdown("\n".join(lines).strip())
