"""Substitute ``{references}`` in a ``%%gemini`` prompt from the notebook's namespace, safely.

Other notebook LLM tools run the prompt through ``str.format_map``, which breaks on the braces of any
code, JSON or LaTeX pasted into it. Here a brace group is touched only when it is unmistakably a
reference to a notebook variable, and nothing is ever ``eval``-ed: attributes and indexes are walked
one step at a time, so a prompt cannot call functions or compute.

Grammar of a reference (no spaces anywhere outside quoted keys)::

    ref   := NAME ( "." NAME | "[" index "]" )*
    index := -?DIGITS | 'text' | "text"       (no backslashes or line breaks inside quotes)

e.g. ``{name}``, ``{obj.attr}``, ``{seq[-1]}``, ``{cfg['key']}``, ``{df.columns[0]}``,
``{cfg.items[2].name}``. Names starting with ``_`` (IPython's ``_``, ``__``, ``_i1``, ``_oh``) are ordinary
names.

Rules, in the order they apply while scanning left to right:

1. Markdown code is left alone entirely: fenced blocks (```` ``` ```` or ``~~~``, to the closing fence or
   the end of the prompt) and inline code spans (`` `...` ``, which do not cross a blank line). Nothing
   inside is substituted, nothing raises, and ``{{`` stays ``{{``, because code shown to the model must
   reach it byte for byte.
2. A quoted Python f-string (or t-string) literal is code too, left alone with its braces even when the
   name exists: ``f'{x}'``, ``F"{x!r}"``, ``rf'…'``, ``fr"…"``, ``t'…'``, and triple-quoted ones across
   lines. The prefix must start a word (not ``chef's``, not the ``'f'`` of a quoted letter); a
   single-quoted literal ends on its line and an unclosed one is prose. So ``What does f'{x}' print?``
   asks about the code whether or not the notebook has an ``x``.
3. Foreign placeholder syntax is left alone even when the name exists: ``${NAME}`` (shell, JS
   templates; also ``${{expr}}`` of GitHub Actions), ``^{...}``, LaTeX command arguments such as
   ``\\frac{a}{b}`` or ``\\begin{align}`` (a backslash, letters, then one or more brace groups), and a
   backslash-escaped ``\\{`` or ``\\```.
4. Doubled braces around a reference are literal braces, as in ``str.format``: ``{{ref}}`` is the text
   ``{ref}`` (the escape for a group that would otherwise be substituted or raise), ``{{{x}}}`` is
   ``{`` + value + ``}``; a surplus brace on one side is plain text (``{{x}`` is ``{`` + value). Doubled
   braces anywhere else (nested JSON ``}}``, Jinja ``{{ x }}``, ``"{{}}".format``) are kept as they are:
   collapsing them is exactly how ``format_map`` corrupts pasted code.
5. ``{ref}`` is replaced by the value's text. Its root name must exist in the namespace; otherwise
   :class:`InterpolationError` names it. A missing attribute, index or key raises too, naming the whole
   reference and the reason. Dunder attributes (``__class__``...) are refused, so a pasted template
   cannot walk to ``__globals__`` and send secrets to the model.
6. Every other brace is text: dict/set literals, f-string fields like ``{x!r:>10}``, CSS, ``{}``,
   ``{0}``, unbalanced braces. Substituted values are never scanned again.

Values become text with ``str()``, except DataFrames (pandas-like: ``frames.py``), which become a
bounded Markdown table with their size and schema (a label, ``columns: a int64, …``, the first 20 rows and
30 columns) however large they are, and other pandas-like tables (a ``to_string`` method and an ``index``,
e.g. a Series) which use ``to_string`` capped at 100 rows x 50 columns (``str()`` elides with ``...`` and
wraps wide frames). Text longer than ``max_chars`` is cut, with ``… [truncated N characters]`` appended.
Image-like values (a PIL-style object with a ``save`` method and a 2-tuple ``size``; or bytes starting
with a PNG, JPEG or WEBP signature) are returned as separate parts, unchanged, so the caller can send
image blocks.

Known limits, all consequences of the rules above: code pasted outside Markdown code and f-string
literals is scanned like prose, so a ``{name}`` in it substitutes or raises and ``{{name}}`` (Mustache,
``str.format`` escapes) becomes ``{name}``; the same holds for LaTeX subscripts ``x_{i}`` (``_`` is too
common in prose, e.g. ``data_{date}.csv``) and for indented (4-space) Markdown code blocks. Fence such
code to keep it exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from . import frames

__all__ = ["DEFAULT_MAX_CHARS", "InterpolationError", "interpolate", "interpolate_text"]

DEFAULT_MAX_CHARS = 20_000
_TABLE_MAX_ROWS = 100
_TABLE_MAX_COLS = 50

_NAME = r"[^\W\d]\w*+"  # possessive: a long word that is no reference fails without backtracking
_REF = rf"""{_NAME}(?:\.{_NAME}|\[(?:-?\d++|'[^'\\\r\n]*+'|"[^"\\\r\n]*+")\])*+"""

# Tried at each position where ``_START`` finds a character that can begin a token (a C-speed skip over
# plain text); text between matches is copied as is. Alternatives are tried in order, so code and
# foreign syntax are consumed before a brace inside them can match.
_START = re.compile(r"[`~\\$^{'\"]")
_TOKENS = re.compile(
    # 1. fenced code: a fence (indented at most 3 spaces) ending its line, then up to a closing fence of
    #    the same character and at least its length, or the end of the prompt.
    r"(?P<skip>(?:^|(?<=^ )|(?<=^  )|(?<=^   ))"
    r"(?:(?P<ticks>`{3,})[^`\n]*$[\s\S]*?(?:\n[ ]{0,3}(?P=ticks)`*[ \t]*$|\Z)"
    r"|(?P<tildes>~{3,})(?!~)[^\n]*$[\s\S]*?(?:\n[ ]{0,3}(?P=tildes)~*[ \t]*$|\Z))"
    # 1. inline code: a backtick run closed by a run of the same length, not across a blank line; an
    #    unclosed run is plain text (consumed whole so a shorter run inside it cannot start a span).
    r"|(?P<run>`+)(?!`)(?:[^\n]|\n(?![ \t]*(?:\n|\Z)))*?(?<!`)(?P=run)(?!`)"
    r"|`+"
    # 3. foreign syntax: escaped brace/backtick, LaTeX command arguments, ${...} and ^{...}.
    r"|\\[{`]"
    r"|\\[A-Za-z]++\*?(?:\[[^\]\n]*\])?(?:\{(?:[^{}\n]|\{[^{}\n]*\})*\})+"
    r"|\$\{++[^{}\n]*\}++|\^\{[^{}\n]*\}"
    # 2. an f-/t-string literal, matched from its opening quote: a prefix that starts a word just before
    #    it, then the literal to its closing quote (a single-quoted one on its line).
    r"|(?:(?<=(?<![\w'\"\\])[fFtT])|(?<=(?<![\w'\"\\])[rR][fFtT])|(?<=(?<![\w'\"\\])[fFtT][rR]))"
    r"(?:'{3}(?:[^'\\]|\\[\s\S]|'(?!''))*+'{3}|\"{3}(?:[^\"\\]|\\[\s\S]|\"(?!\"\"))*+\"{3}"
    r"|'(?:[^'\\\n]|\\[^\n])*+'|\"(?:[^\"\\\n]|\\[^\n])*+\"))"
    # 4./5. a reference in runs of braces; the counts decide between escape and substitution.
    rf"|(?P<open>\{{++)(?P<ref>{_REF})(?P<close>\}}++)",
    re.MULTILINE,
)
_ROOT = re.compile(_NAME)
_STEP = re.compile(  # one step of a reference that ``_REF`` already matched
    rf"""\.(?P<attr>{_NAME})|\[(?P<int>-?\d+)\]|\['(?P<sq>[^'\\\r\n]*)'\]|\["(?P<dq>[^"\\\r\n]*)"\]"""
)

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class InterpolationError(ValueError):
    """A ``{reference}`` in a prompt could not be resolved; the message is one line naming it."""

    def __init__(self, message: str, reference: str = "") -> None:
        super().__init__(message)
        self.reference = reference


def interpolate(
    text: str, namespace: Mapping[str, Any], max_chars: int = DEFAULT_MAX_CHARS
) -> list[str | object]:
    """Return the prompt as parts: text (consecutive text merged, never empty) and image objects.

    Images stay separate objects so the caller can send them as image blocks rather than their repr.
    Raises :class:`InterpolationError` for an unknown name or a failing attribute/index.
    """
    return _interpolate(text, namespace, max_chars, allow_images=True)


def interpolate_text(text: str, namespace: Mapping[str, Any], max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Like :func:`interpolate` for callers that can only send text: an image reference is an error."""
    return "".join(cast("list[str]", _interpolate(text, namespace, max_chars, allow_images=False)))


def _interpolate(
    text: str, namespace: Mapping[str, Any], max_chars: int, allow_images: bool
) -> list[str | object]:
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, not {max_chars}")
    if "{" not in text:  # the common case, and a 1 MB prompt must cost nothing
        return [text] if text else []
    parts: list[str | object] = []
    pieces: list[str] = []  # text not yet flushed into ``parts``
    pos = 0  # end of the text already copied into ``pieces``
    scan = 0
    while (start := _START.search(text, scan)) is not None:
        match = _TOKENS.match(text, start.start())
        if match is None:
            scan = start.end()
            continue
        scan = match.end()
        ref = match.group("ref")
        if ref is None:
            continue  # code or foreign syntax: stays in the copied text
        # As in str.format: of ``pairs`` enclosing brace pairs, each doubled pair is one literal pair,
        # and an odd one out means substitution. Surplus braces on one side are plain text.
        opening, closing = len(match.group("open")), len(match.group("close"))
        pairs = min(opening, closing)
        pieces.append(text[pos : match.start()] + "{" * (opening - pairs + pairs // 2))
        after = "}" * (pairs // 2 + closing - pairs)
        pos = match.end()
        if pairs % 2 == 0:
            pieces.append(ref + after)
            continue
        value = _resolve(ref, namespace)
        if _is_image(value):
            if not allow_images:
                raise InterpolationError(
                    f"{{{ref}}}: is an image ({_type_name(value)}), which cannot be sent as text", ref
                )
            _flush(pieces, parts)
            parts.append(value)
        else:
            pieces.append(_truncate(_to_text(value, ref), max_chars))
        pieces.append(after)
    pieces.append(text[pos:])
    _flush(pieces, parts)
    return parts


def _flush(pieces: list[str], parts: list[str | object]) -> None:
    chunk = "".join(pieces)
    pieces.clear()
    if chunk:
        parts.append(chunk)


def _resolve(ref: str, namespace: Mapping[str, Any]) -> Any:
    """Walk ``ref`` (already matched by the grammar) one attribute or index at a time."""
    root_match = _ROOT.match(ref)
    assert root_match is not None
    root = root_match.group()
    if root not in namespace:
        raise InterpolationError(
            f"name {root!r} is not defined in the notebook (write {{{{{ref}}}}} for literal braces)", ref
        )
    value = namespace[root]
    pos = root_match.end()
    while pos < len(ref):
        step = _STEP.match(ref, pos)
        assert step is not None
        prefix, pos = ref[: step.start()], step.end()
        value = _step(value, step, ref, prefix)
    return value


def _step(value: Any, step: re.Match[str], ref: str, prefix: str) -> Any:
    where = f"{prefix} ({_type_name(value)})"  # e.g. "cfg.items[2] (Item)"
    attr = step.group("attr")
    if attr is not None:
        if attr.startswith("__") and attr.endswith("__"):
            raise InterpolationError(
                f"{{{ref}}}: dunder attributes such as .{attr} are not interpolated", ref
            )
        try:
            return getattr(value, attr)
        except AttributeError:
            raise InterpolationError(f"{{{ref}}}: {where} has no attribute {attr!r}", ref) from None
        except Exception as exc:
            raise InterpolationError(
                f"{{{ref}}}: reading {prefix}.{attr} raised {_describe(exc)}", ref
            ) from exc
    number = step.group("int")
    key: int | str
    if number is not None:
        try:
            key = int(number)
        except ValueError:  # more digits than int() accepts
            raise InterpolationError(f"{{{ref}}}: index {number[:20]}… is too long", ref) from None
    else:
        key = step.group("sq") if step.group("sq") is not None else step.group("dq")
    try:
        return value[key]
    except IndexError:
        length = _length(value)
        detail = f": {prefix} is a {_type_name(value)} of length {length}" if length is not None else ""
        raise InterpolationError(f"{{{ref}}}: index out of range{detail}", ref) from None
    except KeyError:
        raise InterpolationError(f"{{{ref}}}: key {key!r} not found in {where}", ref) from None
    except Exception as exc:
        raise InterpolationError(f"{{{ref}}}: {prefix}[{key!r}] raised {_describe(exc)}", ref) from exc


def _is_image(value: Any) -> bool:
    """Image bytes or a PIL-style image: these must become image parts, not a useless ``str()``."""
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            head = bytes(value[:12])
        except Exception:
            return False
        return head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    from .media import is_pil

    return is_pil(value)


def _to_text(value: Any, ref: str) -> str:
    if isinstance(value, str):
        return value
    if frames.is_frame(value):
        return frames.markdown(value)
    table = _table_text(value)
    if table is not None:
        return table
    try:
        return str(value)
    except Exception as exc:
        raise InterpolationError(f"{{{ref}}}: str() raised {_describe(exc)}", ref) from exc


def _table_text(value: Any) -> str | None:
    """A pandas-like table as aligned text, capped; ``None`` when ``value`` is not one or it fails."""
    try:
        to_string = getattr(value, "to_string", None)
        index = getattr(value, "index", None)
    except Exception:
        return None
    if not callable(to_string) or index is None or callable(index):
        return None
    for kwargs in (
        {"max_rows": _TABLE_MAX_ROWS, "max_cols": _TABLE_MAX_COLS},
        {"max_rows": _TABLE_MAX_ROWS},
        {},
    ):
        try:
            result = to_string(**kwargs)
        except TypeError:
            continue  # e.g. Series.to_string has no max_cols
        except Exception:
            return None
        return result if isinstance(result, str) else None
    return None


def _truncate(text: str, max_chars: int) -> str:
    excess = len(text) - max_chars
    if excess <= 0:
        return text
    return f"{text[:max_chars]}… [truncated {excess} characters]"


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except Exception:
        return None


def _type_name(value: Any) -> str:
    return type(value).__name__


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line, short enough for an error message."""
    try:
        message = " ".join(str(exc).split())
    except Exception:
        message = ""
    if len(message) > 200:
        message = message[:200] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
