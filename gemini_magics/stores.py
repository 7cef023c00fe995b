"""``%gemini stores`` and ``%gemini store NAME FILE…``: file search stores without leaving the notebook.

``stores`` lists the key's stores (name, display name, documents, size). ``store NAME FILE…`` finds the
store NAME means (``filestores.find``) or creates one with that display name, then uploads each file (paths
or globs, relative to the kernel's working folder) and waits until it is indexed, one progress line per file
as it goes. A file already in the store (same name and size) is skipped, so running the cell again does not
add it twice. Then ``%%gemini --file-search NAME`` searches it.

Progress is printed (stream output), not a display that is updated: nbval keeps an output as first
displayed and nbclient as last updated (docs/notebooks.md), and printed lines are the same for both.
"""

from __future__ import annotations

import glob
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filestores
from .backend import BackendError
from .cell import CellError
from .render.static import code_span, escape

if TYPE_CHECKING:
    from .cell import CellRunner

_GLOB = set("*?[")


def size_text(size: int | None) -> str:
    if size is None:
        return "—"
    if size < 1024:
        return f"{size:,} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def table(stores: list[filestores.StoreInfo]) -> str:
    rows = ["| store | display name | documents | size |", "|---|---|---|---|"]
    for store in stores:
        documents = f"{store.active:,}"
        extra = [f"{n:,} {label}" for n, label in ((store.pending, "pending"), (store.failed, "failed")) if n]
        if extra:
            documents += f" ({', '.join(extra)})"
        rows.append(
            f"| {code_span(store.name)} | {escape(store.display_name or '—')} | {documents} | "
            f"{size_text(store.size_bytes)} |"
        )
    return "\n".join(rows)


def stores(runner: CellRunner, rest: str) -> Any:
    from IPython.display import Markdown

    if rest.strip():
        raise CellError("%gemini stores takes no argument (%gemini store NAME FILE… fills one)")
    try:
        found = filestores.list_stores(runner.backend)
    except BackendError as exc:
        raise CellError(str(exc)) from None
    if not found:
        return Markdown("No file search stores yet: `%gemini store NAME FILE…` creates one, with the files.")
    return Markdown(f"**File search stores** ({len(found)})\n\n{table(found)}")


def expand(patterns: list[str]) -> list[Path]:
    """The files ``patterns`` name, in order, each once; ``CellError`` for one that names none."""
    paths: list[Path] = []
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        if _GLOB & set(pattern):
            matched = [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if Path(p).is_file()]
            if not matched:
                raise CellError(f"{pattern} matches no file (relative to {Path.cwd().name or '/'}/)")
        else:
            path = Path(pattern)
            if path.is_dir():
                raise CellError(f"{pattern} is a folder: name its files, e.g. {pattern.rstrip('/')}/*.md")
            if not path.is_file():
                raise CellError(f"no such file: {pattern}")
            matched = [path]
        paths += [p for p in matched if p not in paths]
    return paths


def store(runner: CellRunner, rest: str) -> Any:
    from IPython.display import Markdown

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise CellError(f"cannot read the arguments: {exc}") from None
    if not words:
        raise CellError("usage: %gemini store NAME FILE… (creates the store NAME if needed, adds the files)")
    name, paths = words[0], expand(words[1:])
    backend = runner.backend
    done: list[filestores.Uploaded] = []
    try:
        found, created = filestores.ensure(backend, name)
        verb = "Created" if created else "Using"
        print(f"{verb} file search store {found.display_name or found.short} ({found.name}).", flush=True)
        present = set(filestores.documents(backend, found)) if paths and not created else set()
        for number, path in enumerate(paths, 1):
            size = path.stat().st_size
            print(f"[{number}/{len(paths)}] {path.name} ({size_text(size)}):", end="", flush=True)
            if (path.name, size) in present:
                print(" already in the store, skipped", flush=True)
                done.append(filestores.Uploaded(path, size, "skipped"))
                continue
            outcome = filestores.upload(backend, found, path, _progress)
            print(f" {outcome.outcome}" + (f": {outcome.reason}" if outcome.reason else ""), flush=True)
            done.append(outcome)
        found = filestores.refresh(backend, found) if paths else found
    except BackendError as exc:
        print(flush=True)
        raise CellError(_partial(str(exc), done, paths)) from None
    except KeyboardInterrupt:
        print(flush=True)
        raise CellError(_partial("stopped with Ctrl-C", done, paths)) from None
    failed = [u for u in done if u.outcome == "failed"]
    counts = {kind: sum(1 for u in done if u.outcome == kind) for kind in ("indexed", "skipped", "failed")}
    summary = f"{counts['indexed']} file{'s' if counts['indexed'] != 1 else ''} indexed"
    summary += f", {counts['skipped']} already there" if counts["skipped"] else ""
    summary += f", {counts['failed']} failed" if counts["failed"] else ""
    usage = f" `%%gemini --file-search {shlex.quote(name)}` searches it."
    text = f"**{escape(found.display_name or found.short)}**: {summary}.{usage}\n\n{table([found])}"
    if failed:
        from IPython.display import display

        display(Markdown(text))
        reasons = "; ".join(f"{u.path.name}: {u.reason}" for u in failed)
        raise CellError(f"{len(failed)} of {len(paths)} files were not indexed — {reasons}")
    return Markdown(text)


def _progress(state: str) -> None:
    print(f" {state}…", end="", flush=True)


def _partial(reason: str, done: list[filestores.Uploaded], paths: list[Path]) -> str:
    indexed = [u.path.name for u in done if u.outcome in ("indexed", "skipped")]
    kept = f"; in the store: {', '.join(indexed)}" if indexed else ""
    return f"{reason} ({len(indexed)} of {len(paths)} files in the store{kept})"
