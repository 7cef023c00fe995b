"""The Python an answer holds, put into a new cell below the current one — offered, never run.

``--code`` takes the answer's first Python block (``--code all``: every Python block, joined) and
``%gemini fix`` the corrected cell. Blocks are Markdown fences labelled ``python``/``py``/``ipython``;
when an answer labels none, unlabelled fences whose text parses as Python count.

The new cell is IPython's ``set_next_input(code, replace=False)``: in a kernel that is a
``set_next_input`` payload on the execute reply, which JupyterLab, Notebook 7 and VS Code turn into a new
cell below; terminal IPython puts it into the next prompt. Headless runners (nbclient, papermill) ignore
payloads and the kernel cannot ask its client what it does with them, so the code is always also in the
answer shown above (a fenced block) and in the result's ``.code``; the note under the answer says which
applies where the kernel can tell — a kernel that the Jupyter server started knows its notebook's path.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

PYTHON = frozenset({"python", "python3", "py", "py3", "ipython", "ipython3"})
_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*?)[ \t]*$")


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block of Markdown ``text``: (language, code), in order."""
    found: list[tuple[str, str]] = []
    lines = text.split("\n")
    position = 0
    while position < len(lines):
        opening = _OPEN.match(lines[position])
        position += 1
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            continue
        fence, body = opening["fence"], []
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        while position < len(lines) and not closing.match(lines[position]):
            body.append(lines[position])
            position += 1
        position += 1
        language = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        found.append((language, "\n".join(body)))
    return found


def python_blocks(text: str) -> list[str]:
    """The Python blocks of an answer: those labelled Python, else unlabelled ones that parse as Python."""
    every = blocks(text)
    labelled = [code for language, code in every if language in PYTHON and code.strip()]
    if labelled:
        return labelled
    return [code for language, code in every if not language and code.strip() and _parses(code)]


def pick(text: str, mode: str = "first") -> str:
    """``first``: the first Python block; ``all``: every one, joined by a blank line; '' when none."""
    found = python_blocks(text)
    if not found:
        return ""
    chosen = found if mode == "all" else found[:1]
    return "\n\n".join(code.strip("\n") for code in chosen)


def deliver(result: Any, mode: str, shell: Any = None, what: str = "the code") -> None:
    """Put ``result``'s Python (``mode``: first or all) into ``result.code`` and a new cell below; a note
    on the result says where it went (or that the answer had none)."""
    code = pick(result.text, mode) if result.ok else ""
    result.code = code
    if not result.ok:
        return
    if not code:
        result.notes.append("the answer has no Python code block, so no cell was added")
        return
    result.notes.append(insert_below(code, shell, what))


def insert_below(code: str, shell: Any = None, what: str = "the code") -> str:
    """Offer ``code`` as the next cell (not run); the sentence saying where it went."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return f"{what} is in .code of the result"
    shell.set_next_input(code, replace=False)
    if getattr(shell, "kernel", None) is None:
        return f"{what} is in the next prompt, not run"
    if inserts_cells(shell):
        return f"{what} is in a new cell below, not run"
    return (
        f"{what} was offered as a new cell below, not run (front ends that add no cells, such as nbclient "
        "or papermill, keep it in the answer and in .code)"
    )


def inserts_cells(shell: Any) -> bool:
    """Whether the kernel's front end is known to turn ``set_next_input`` into a cell: the Jupyter server
    (JupyterLab, Notebook) tells its kernels their notebook's path; VS Code sets ``__vsc_ipynb_file__``."""
    namespace = getattr(shell, "user_ns", {})
    return bool(
        namespace.get("__session__")
        or os.environ.get("JPY_SESSION_NAME")
        or namespace.get("__vsc_ipynb_file__")
    )


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True
