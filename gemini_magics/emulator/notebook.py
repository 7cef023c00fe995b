"""The fake model as a notebook assistant: fixes of failed cells, Python on request, notebook context.

Three kinds of prompt get answers a notebook example can use (the client side is gemini-magics'
``%gemini fix``, ``--code`` and ``--context``, but nothing here depends on it — any client may send them):

- **A fix request**: the word "fix", a ```` ```python ```` block (the cell) and an exception's last line
  (``ZeroDivisionError: division by zero``), usually in a ```` ```text ```` traceback whose frames say
  ``Cell In[3], line 2``. The answer is one or two sentences and the corrected cell in one
  ```` ```python ```` block, for the errors it can repair: ``ZeroDivisionError`` (the division on the
  failing line is guarded: ``a / b if b != 0 else float("nan")``; ``0`` instead when the instructions say
  zero), ``KeyError`` (the closest existing key, read from the dict's description in the prompt — ``- `d`:
  dict, 2 items: {'apple': 1, …}`` — or from a dict literal in the cell; ``.get(...)`` when none is close or
  the instructions ask for it) and ``NameError`` (the closest defined name). Other errors are explained
  without code.
- **Python asked for** (no tools declared; the prompt says Python and code/function/program/script): the
  program ``tooling.code_for`` writes (primes, Fibonacci, arithmetic, pasted code) in a ```` ```python ````
  block, and for primes and Fibonacci a second block that checks it.
- **Notebook context** (a text part starting ``Notebook context``, before the prompt): the answer starts
  by saying what it was given — "From your notebook I was given 3 cells and 2 variables (`df`, `prices`)."
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
from typing import Any

from .tooling import code_for

CONTEXT_HEADING = "Notebook context"
_PYTHON = re.compile(r"^(?P<f>`{3,})python[ \t]*\n(?P<code>.*?)\n(?P=f)[ \t]*$", re.S | re.M)
_TEXT = re.compile(r"^(?P<f>`{3,})text[ \t]*\n(?P<body>.*?)\n(?P=f)[ \t]*$", re.S | re.M)
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception))(?::[ \t]?(?P<message>.*))?$", re.M)
_TIGHT = (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant, ast.BinOp)  # bind before `!=`
_FRAME = re.compile(r"Cell In\[(?P<cell>\d+)\], line (?P<line>\d+)")


def answer(prompt: str, has_tools: bool) -> str | None:
    """The answer to a fix request or a request for Python; ``None`` for any other prompt."""
    lower = prompt.lower()
    if re.search(r"\bfix\b", lower) and _PYTHON.search(prompt) and _EXCEPTION.search(prompt):
        return fix_answer(prompt)
    wants_code = re.search(r"\b(code|function|program|script|snippet)\b", lower)
    if not has_tools and re.search(r"\bpython\b", lower) and wants_code:
        return code_answer(prompt)
    return None


def context_note(input_steps: list[dict[str, Any]]) -> str:
    """'From your notebook I was given …' when the input carries a notebook context part, else ''."""
    for step in input_steps:
        for part in step.get("content") or [] if step.get("type") == "user_input" else []:
            text = part.get("text", "") if isinstance(part, dict) else ""
            if text.startswith(CONTEXT_HEADING):
                return _described(text)
    return ""


def _described(text: str) -> str:
    cells = len(re.findall(r"^### In \[\d+\]", text, re.M))
    section = text.split("## Variables", 1)[1].split("\n## ", 1)[0] if "## Variables" in text else ""
    names = re.findall(r"^- `([^`]+)`", section, re.M)
    said = []
    if "## Cells" in text:
        said.append(f"{cells} cell{'s' if cells != 1 else ''}")
    if section:
        listed = (
            f" ({', '.join(f'`{n}`' for n in names[:5])}{', …' if len(names) > 5 else ''})" if names else ""
        )
        said.append(f"{len(names)} variable{'s' if len(names) != 1 else ''}{listed}")
    return f"From your notebook I was given {' and '.join(said) or 'nothing'}." if said else ""


# -- fixes ------------------------------------------------------------------------------------------------


def fix_answer(prompt: str) -> str:
    cell = _PYTHON.search(prompt)
    assert cell is not None
    code = cell.group("code")
    traceback = _TEXT.search(prompt, cell.end())
    where = traceback.group("body") if traceback else prompt[cell.end() :]
    errors = list(_EXCEPTION.finditer(where)) or list(_EXCEPTION.finditer(prompt))
    name, message = errors[-1].group("name"), (errors[-1].group("message") or "").strip()
    line = _failing_line(prompt, where)
    asked = (
        prompt.split("Instructions from the user:", 1)[1].split("\n\n", 1)[0]
        if "Instructions" in prompt
        else ""
    )
    short = name.rsplit(".", 1)[-1]
    repair = {"ZeroDivisionError": _zero_division, "KeyError": _key_error, "NameError": _name_error}.get(
        short
    )
    try:
        tree = ast.parse(code)
        fixed = repair(code, tree, message, line, prompt, asked.lower()) if repair else None
    except (SyntaxError, ValueError, IndexError, UnicodeDecodeError):  # a cell it cannot read: explain only
        fixed = None
    at = f" on line {line}" if line else ""
    if fixed is None:
        frames = re.findall(r"Cell In\[(\d+)\], line (\d+), in (\S+)\n[ \t]+(\S[^\n]*)", where)
        raised = ""
        if frames:
            number, row, function, source = frames[-1]
            raised = f" It was raised by `{source}` (line {row} of In [{number}], in `{function}`)."
        return (
            f"**{short}**{at}: {message or 'no message'}.{raised} The emulator explains but cannot repair "
            "this error automatically; read the failing line and the values it uses, then change the cell."
        )
    why, new_code = fixed
    followed = f"\n\n_Following your instructions: {asked.strip()}_" if asked.strip() else ""
    return f"**{short}**{at}: {why}{followed}\n\n```python\n{new_code.rstrip()}\n```"


def _failing_line(prompt: str, traceback: str) -> int | None:
    """The line of the fixed cell that raised: its innermost frame in the traceback."""
    number = re.search(r"The cell \(In \[(\d+)\]\)", prompt)
    frames = [(m.group("cell"), int(m.group("line"))) for m in _FRAME.finditer(traceback)]
    own = [line for cell, line in frames if number and cell == number.group(1)]
    if own:
        return own[-1]
    return frames[0][1] if frames else None


def _segment(code: str, node: ast.AST) -> tuple[int, int]:
    """Character offsets of ``node`` in ``code`` (the AST counts columns in UTF-8 bytes)."""
    lines = code.splitlines(keepends=True)

    def offset(row: int, column: int) -> int:
        return sum(len(x) for x in lines[: row - 1]) + len(lines[row - 1].encode()[:column].decode())

    return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined, arg-type]


def _replace(code: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        code = code[:start] + text + code[end:]
    return code


def _on(node: ast.AST, line: int | None) -> bool:
    return line is None or node.lineno <= line <= (node.end_lineno or node.lineno)  # type: ignore[attr-defined]


def _zero_division(code: str, tree: ast.AST, message: str, line: int | None, prompt: str, asked: str) -> Any:
    ops = (ast.Div, ast.FloorDiv, ast.Mod)
    zero = "zero" in asked or re.search(r"\b0\b", asked)
    edits, divisors = [], []
    taken: list[tuple[int, int]] = []
    for node in ast.walk(tree):  # outer nodes first: an inner division inside a guarded one is left alone
        risky = isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ops)
        if not risky or not _on(node, line):
            continue
        right = node.right if isinstance(node, ast.BinOp) else node.value
        if isinstance(right, ast.Constant) and isinstance(right.value, int | float) and right.value:
            continue
        start, end = _segment(code, node)
        if any(a <= start < b for a, b in taken):
            continue
        taken.append((start, end))
        divisor = code[slice(*_segment(code, right))]
        fallback = "0" if zero or not isinstance(node.op, ast.Div) else 'float("nan")'
        test = f"{divisor if isinstance(right, _TIGHT) else f'({divisor})'} != 0"  # `a or b` needs them
        if isinstance(node, ast.BinOp):
            edits.append((start, end, f"({code[start:end]} if {test} else {fallback})"))
        else:
            indent = " " * node.col_offset
            edits.append((start, end, f"if {test}:\n{indent}    {code[start:end]}"))
        divisors.append(divisor)
    if not edits:
        return None
    named = ", ".join(f"`{d}`" for d in dict.fromkeys(divisors))
    why = (
        f"{named} is 0 there, and Python cannot divide by zero. The corrected cell checks the divisor first "
        f"and uses {'`0`' if zero else '`nan` (not a number)'} when it is zero:"
    )
    return why, _replace(code, edits)


def _key_error(code: str, tree: ast.AST, message: str, line: int | None, prompt: str, asked: str) -> Any:
    try:
        key = ast.literal_eval(message)
    except (ValueError, SyntaxError):
        key = message.strip("'\"")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)):
            continue
        if node.slice.value != key or not _on(node, line) or not isinstance(node.ctx, ast.Load):
            continue
        target = code[slice(*_segment(code, node.value))]
        keys = _known_keys(target, prompt, tree)
        close = difflib.get_close_matches(str(key), [str(k) for k in keys], n=1, cutoff=0.5)
        chosen = next((k for k in keys if str(k) == close[0]), None) if close else None
        listed = f"; its keys are {', '.join(repr(k) for k in keys[:8])}" if keys else ""
        if chosen is not None and not re.search(r"\.get\b|\bget\(|default", asked):
            start, end = _segment(code, node.slice)
            why = f"`{target}` has no key {key!r}{listed}. The closest is {chosen!r}, so the cell uses it:"
            return why, _replace(code, [(start, end, repr(chosen))])
        start, end = _segment(code, node)
        why = (
            f"`{target}` has no key {key!r}{listed}. The corrected cell reads it with `.get()`, which gives "
            "`None` instead of raising when the key is missing:"
        )
        return why, _replace(code, [(start, end, f"{target}.get({key!r})")])
    return None


def _known_keys(target: str, prompt: str, tree: ast.AST) -> list[Any]:
    """The keys of the dict ``target``: from its description in the prompt, else a literal in the cell."""
    described = re.search(rf"^- `{re.escape(target)}`: dict\b[^\n]*", prompt, re.M)
    if described:
        return [m.group(2) for m in re.finditer(r"(['\"])((?:(?!\1).)*)\1: ", described.group(0))]
    for node in ast.walk(tree):
        named = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == target for t in node.targets
        )
        if named and isinstance(node.value, ast.Dict):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


def _name_error(code: str, tree: ast.AST, message: str, line: int | None, prompt: str, asked: str) -> Any:
    missing = re.search(r"name '(\w+)' is not defined", message)
    if not missing:
        return None
    name = missing.group(1)
    known = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    known |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    known |= set(re.findall(r"^- `(\w+)`", prompt, re.M)) | set(dir(builtins))
    close = difflib.get_close_matches(name, sorted(known - {name}), n=1, cutoff=0.6)
    if not close:
        return None
    edits = [
        (*_segment(code, n), close[0]) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name
    ]
    why = f"`{name}` is not defined; `{close[0]}` is, and is what the cell means:"
    return why, _replace(code, edits)


# -- Python on request -------------------------------------------------------------------------------------


def code_answer(prompt: str) -> str:
    program = code_for(prompt).rstrip()
    lower = prompt.lower()
    check = ""
    if "prime" in lower and "primes = []" in program:
        check = "assert primes[:5] == [2, 3, 5, 7, 11]\nprint('checked: the first primes are right')"
    elif "fibonacci" in lower and "seq = []" in program:
        check = "assert seq[:5] == [0, 1, 1, 2, 3]\nprint('checked: the sequence starts right')"
    text = f"Here is Python for it:\n\n```python\n{program}\n```"
    if check:
        text += f"\n\nTo check it, run:\n\n```python\n{check}\n```"
    return text
