"""``metadata_filter`` of the ``file_search`` tool: the AIP-160 filter subset the service documents.

Comparisons ``key = "text"``, ``key != value``, ``key < 3`` (``<=``, ``>``, ``>=`` on numbers),
``key : value`` (a string list contains the value), joined by ``AND``, ``OR`` (which binds tighter, as
AIP-160 says) and ``NOT``, with parentheses. A key the document lacks never matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Rule = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(<=|>=|!=|=|<|>|:)|("(?:\\.|[^"\\])*")|([^\s()<>=!:"]+))')


class FilterError(ValueError):
    """A filter the service would refuse, with where it went wrong."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip():
                raise FilterError(f"unexpected {text[pos:].strip()[:20]!r}")
            break
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


def parse(text: str) -> Rule:
    """A predicate over a document's metadata mapping; ``FilterError`` when ``text`` is not a filter."""
    tokens = _tokens(text)
    if not tokens:
        raise FilterError("the filter is empty")
    rule, rest = _conjunction(tokens)
    if rest:
        raise FilterError(f"unexpected {rest[0]!r}")
    return rule


def _conjunction(tokens: list[str]) -> tuple[Rule, list[str]]:
    rules = []
    rule, tokens = _disjunction(tokens)
    rules.append(rule)
    while tokens and tokens[0] == "AND":
        rule, tokens = _disjunction(tokens[1:])
        rules.append(rule)
    return (lambda meta: all(r(meta) for r in rules)), tokens


def _disjunction(tokens: list[str]) -> tuple[Rule, list[str]]:
    rules = []
    rule, tokens = _factor(tokens)
    rules.append(rule)
    while tokens and tokens[0] == "OR":
        rule, tokens = _factor(tokens[1:])
        rules.append(rule)
    return (lambda meta: any(r(meta) for r in rules)), tokens


def _factor(tokens: list[str]) -> tuple[Rule, list[str]]:
    if not tokens:
        raise FilterError("the filter ends too early")
    head = tokens[0]
    if head == "NOT":
        inner, rest = _factor(tokens[1:])
        return (lambda meta: not inner(meta)), rest
    if head == "(":
        inner, rest = _conjunction(tokens[1:])
        if not rest or rest[0] != ")":
            raise FilterError("a '(' is not closed")
        return inner, rest[1:]
    if len(tokens) < 3 or tokens[1] not in ("=", "!=", "<", "<=", ">", ">=", ":"):
        raise FilterError(f'expected a comparison such as key = "value" at {head!r}')
    key, op, raw = tokens[0], tokens[1], tokens[2]
    if raw in ("(", ")") or raw in ("=", "!=", "<", "<=", ">", ">=", ":"):
        raise FilterError(f"missing value after {key} {op}")
    return _comparison(key, op, _value(raw)), tokens[3:]


def _value(raw: str) -> str | float:
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    try:
        return float(raw)
    except ValueError:
        return raw


def _comparison(key: str, op: str, value: str | float) -> Rule:
    def test(meta: dict[str, Any]) -> bool:
        if key not in meta:
            return False
        have = meta[key]
        if isinstance(have, list):
            found = str(value) in [str(v) for v in have]
            return found if op in ("=", ":") else (not found if op == "!=" else False)
        if isinstance(have, int | float) and not isinstance(have, bool):
            try:
                want = float(value)
            except ValueError:
                return False
            return _ordered(float(have), op, want)
        if op == ":":
            return str(value).lower() in str(have).lower()
        if op in ("=", "!="):
            return (str(have) == str(value)) == (op == "=")
        return _ordered(str(have), op, str(value))

    return test


def _ordered(have: Any, op: str, want: Any) -> bool:
    return {
        "=": have == want,
        ":": have == want,
        "!=": have != want,
        "<": have < want,
        "<=": have <= want,
        ">": have > want,
        ">=": have >= want,
    }[op]
