"""``%gemini fix [INSTRUCTIONS]``: explain the last cell's error and offer the corrected cell below it.

The failed cell is IPython's ``last_execution_result`` (the cell before ``%gemini fix``; a fix right
after a fix fixes the same cell again, so ``%gemini fix use .get instead`` refines the first answer).
What the model gets, in one text message:

- the cell's source as the user typed it, in a ```` ```python ```` fence;
- its traceback with the notebook's own frames only (``Cell In[3], line 2, in <module>`` and the line),
  library frames counted, not shown (no file paths), and the exception's last line, in a ```` ```text ````
  fence;
- the variables the cell uses that exist now (``values.describe``: name, type, size or shape, a
  DataFrame's schema and first rows, a dict's first items);
- the user's instructions, if any, and the request for a short explanation plus the whole corrected cell
  in one ```` ```python ```` block.

Each part has a share of ``context_chars``, and everything is scrubbed of the API key. The emulator
(``emulator/fixes.py``) reads this layout to answer ZeroDivisionError, KeyError and NameError fixes.

**Stateless, by design.** A fix is sent with ``store=false`` and no ``previous_interaction_id``: the
request already holds everything the model needs (the chain's unrelated conversation would only cost
tokens and distract it), the service keeps none of the traceback or the data in it, and the notebook's
chain, its head and ``%gemini history`` stay as they were — the next ``%%gemini`` cell continues the
user's conversation as if no fix had been asked for.
"""

from __future__ import annotations

import ast
import re
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import options, statuses
from ..render.static import fence
from . import code, context, values

if TYPE_CHECKING:  # the cell runner imports this package (--context, --code): no import back at run time
    from ..cell import CellRunner, Defaults
    from ..turn import Result

NO_ERROR = "no error to fix: the last cell ran without one"
_FIX_LINE = re.compile(r"^\s*(?:[\w.]+\s*=\s*)?%gemini\s+fix\b")
_MOST_VARIABLES = 15
# shell → (the ExecutionResult of the fix cell that sent it, the failure): a fix right after that cell
_remembered: weakref.WeakKeyDictionary[Any, tuple[Any, Failure]] = weakref.WeakKeyDictionary()


class FixError(ValueError):
    """Why there is nothing to fix, or why the fix failed: one line for the user (a ``UsageError``)."""


@dataclass
class Failure:
    """A cell that raised: its number, its source as typed, and the exception (with its traceback)."""

    number: int | None
    source: str
    error: BaseException


def run(shell: Any, runner: CellRunner, instructions: str, defaults: Defaults) -> Result:
    """Send the fix request for the last failed cell; the result, its ``.code`` offered as a new cell."""
    failure = last_failure(shell)
    budget = max(2_000, defaults.context_chars)
    scrub = runner.backend.scrub

    def clean(text: str) -> str:
        return context.KEY_SHAPED.sub("***", scrub(text))

    prompt = request_text(failure, shell, instructions.strip(), budget, clean)
    running = getattr(getattr(shell, "displayhook", None), "exec_result", None)  # this %gemini fix cell
    _remembered[shell] = (running, failure)
    result = runner.send(options.CellRequest(store=False), [prompt], shell.user_ns, defaults)
    if not result.ok:
        from IPython.display import display

        if result.blocks:
            display(result)
        reason = " ".join((result.error or statuses.reason(result.status)).split())
        raise FixError(f"{result.status}: {reason}; no cell was added — run %gemini fix again")
    where = f"In [{failure.number}]" if failure.number else "the last cell"
    result.footnotes.append(f"fix of {where}, not stored")
    code.deliver(result, "first", shell, what="the corrected cell")
    return result


def last_failure(shell: Any) -> Failure:
    """The cell before this one, if it raised (``FixError`` saying there is none otherwise)."""
    last = getattr(shell, "last_execution_result", None)
    raw = getattr(getattr(last, "info", None), "raw_cell", "") or ""
    if last is not None and _FIX_LINE.match(raw):  # a fix right after a fix: the same failed cell
        fixed_by, remembered = _remembered.get(shell, (None, None))
        if remembered is None or fixed_by is not last:
            raise FixError(NO_ERROR)
        return remembered
    error = None if last is None else (last.error_in_exec or last.error_before_exec)
    if error is None:
        raise FixError(NO_ERROR)
    if isinstance(error, KeyboardInterrupt):
        raise FixError("no error to fix: the last cell was interrupted (Ctrl-C)")
    return Failure(getattr(last, "execution_count", None), raw, error)


def request_text(
    failure: Failure, shell: Any, instructions: str, budget: int, clean: Callable[[str], str]
) -> str:
    """The whole fix request (the layout the module docstring describes), at most about ``budget`` chars."""
    where = f" (In [{failure.number}])" if failure.number else ""
    source = values.clip(clean(failure.source.rstrip()), budget // 2)
    parts = [
        "Fix the error in this Jupyter notebook cell.",
        f"The cell{where}:\n{fence(source, 'python')}",
        "The error (traceback of the notebook's own code):\n"
        + fence(values.clip(clean(notebook_traceback(failure.error, shell)), budget // 4), "text"),
    ]
    names = used_names(failure.source, shell)
    if names:
        entries, left = values.describe_all(
            ((name, shell.user_ns[name]) for name in names), budget // 4, each=1_200
        )
        if left:
            entries.append(f"(… {left} more left out)")
        parts.append("Variables the cell uses, as they are now:\n" + clean("\n".join(entries)))
    if instructions:
        parts.append(f"Instructions from the user: {values.clip(clean(instructions), 2_000)}")
    parts.append(
        "Explain the cause in one or two sentences, then give the whole corrected cell in one ```python "
        "block. Keep what the cell is for; change only what the fix needs."
    )
    return "\n\n".join(parts)


def notebook_traceback(error: BaseException, shell: Any) -> str:
    """The traceback's frames that are notebook cells (``Cell In[3], line 2, in f``), library frames
    counted by package, and the exception's own lines."""
    lines: list[str] = []
    skipped: list[str] = []

    def flush() -> None:
        if skipped and lines:
            packages = ", ".join(dict.fromkeys(skipped))
            lines.append(
                f"  … {len(skipped)} frame{'s' if len(skipped) > 1 else ''} in library code ({packages})"
            )
        skipped.clear()

    for frame in traceback.extract_tb(error.__traceback__):
        label = cell_label(shell, frame.filename)
        if label is None:
            skipped.append(_package(frame.filename))
            continue
        flush()
        lines.append(f"  {label}, line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    flush()
    if isinstance(error, SyntaxError) and not lines and error.lineno:
        lines.append(f"  line {error.lineno}")
    last = "".join(traceback.format_exception_only(type(error), error)).rstrip()
    if isinstance(error, SyntaxError):  # its file is IPython's cache file: say "the cell" instead
        last = re.sub(r'File "[^"]*", ', "", last)
    return "\n".join([*lines, last])


def cell_label(shell: Any, filename: str) -> str | None:
    """``Cell In[3]`` for the file IPython compiled a cell into; ``None`` for any other file."""
    try:
        named = shell.compile.format_code_name(filename)
    except Exception:
        named = None
    if named:
        return f"{named[0]} {named[1]}"
    found = re.match(r"<ipython-input-(\d+)-", filename)
    return f"Cell In[{found.group(1)}]" if found else None


def _package(filename: str) -> str:
    """The library a frame is in (``pandas``), never its path (which may name the user)."""
    found = re.search(r"(?:site|dist)-packages[\\/]([A-Za-z_]\w*)", filename)
    if found:
        return found.group(1)
    return "the standard library" if re.search(r"[\\/]python3\.\d+[\\/]", filename) else "other code"


def used_names(source: str, shell: Any) -> list[str]:
    """Names the cell reads that are the user's variables now, in the order the cell uses them."""
    try:
        tree = ast.parse(shell.transform_cell(source))
        found = sorted(
            (node.lineno, node.col_offset, node.id) for node in ast.walk(tree) if isinstance(node, ast.Name)
        )
        names = [name for _, _, name in found]
    except (SyntaxError, ValueError, TypeError):
        names = re.findall(r"\b[^\W\d]\w*\b", source)
    namespace = shell.user_ns
    users = set(values.user_variables(namespace, getattr(shell, "user_ns_hidden", None)))
    functions = {n for n in names if n in namespace and callable(namespace[n]) and not n.startswith("_")}
    return [n for n in dict.fromkeys(names) if n in users or n in functions][:_MOST_VARIABLES]
