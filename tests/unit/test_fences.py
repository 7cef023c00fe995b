"""``render/fences.pairs`` is JupyterLab's fence expression (``fences.FENCED``) run in one pass: the same
matches on any text, and linear time where the expression is quadratic (the replies fuzzer hung a cell on
a long answer of unclosed fence lines)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from gemini_magics.render import escaping, fences

# Texts made of what the expression looks at, after the math pass doubled each ~ into ~T.
PIECES = st.sampled_from(["`", "```", "````", "~T", "~T~T~T", "~T~T~T~T", "$", "\n", "x", " ", "T", "\r"])
TEXTS = st.lists(PIECES, max_size=60).map("".join)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(TEXTS)
def test_the_pairs_are_the_expressions_matches(text: str) -> None:
    assert fences.pairs(text) == [m.span() for m in fences.FENCED.finditer(text)]
    assert fences.hide_dollars(text) == fences.FENCED.sub(lambda m: m.group(0).replace("$", "~D"), text)


def test_known_shapes() -> None:
    text = "```py\n$a$\n```\nprose $b$\n~T~T~T~T\n$c$\n~T~T~T\n~T~T~T~T``\n````\n```\n"
    assert [text[s:e] for s, e in fences.pairs(text)] == [
        "```py\n$a$\n```",
        "~T~T~T~T\n$c$\n~T~T~T\n~T~T~T~T``",
    ]


def test_unclosed_fences_take_linear_time() -> None:
    """8,000 unclosed fence lines took 4 s through the expression; 16 times as many take well under one."""
    text = "```x$\n" * 128_000
    started = time.process_time()
    escaping.safe_markdown(text)
    assert time.process_time() - started < 5.0
