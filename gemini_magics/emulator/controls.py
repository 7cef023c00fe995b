"""Generation controls the fake model honours: ``tool_choice``, ``seed``/``temperature``/``top_p``,
``stop_sequences`` and ``max_output_tokens``.

A real model's sampling is random; the emulator's stays deterministic (same request → same answer) so
that tests and notebooks are reproducible, yet the controls are *visible*: another seed rewords the
default answer, a stop sequence ends the text before it, a token limit cuts it and the interaction
ends ``incomplete`` (the status the SDK's ``Interaction.status`` lists for a truncated answer).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from .usage import count_tokens

if TYPE_CHECKING:
    from .turn import Turn

# -- tool_choice ----------------------------------------------------------------------------------------

MODES = ("auto", "any", "none", "validated")


def choice(turn: Turn) -> tuple[str, set[str] | None]:
    """The tool-choice mode and the names ``allowed_tools`` permits (None: every declared function).

    ``tool_choice`` is either a mode (``"auto"``, ``"any"``, ``"none"``, ``"validated"``) or
    ``{"allowed_tools": {"mode": ..., "tools": [names]}}``; naming tools without a mode means the model
    must call one of them (``any``), as function calling's ``allowed_function_names`` does.
    """
    raw = turn.generation_config.get("tool_choice")
    if isinstance(raw, str):
        return (raw if raw in MODES else "auto"), None
    if isinstance(raw, dict):
        allowed = raw.get("allowed_tools") or {}
        names = allowed.get("tools")
        mode = allowed.get("mode") or ("any" if names else "auto")
        return (mode if mode in MODES else "auto"), (set(names) if names is not None else None)
    return "auto", None


def permitted(turn: Turn, names: list[str]) -> list[str]:
    """The function names among ``names`` the model may call under ``tool_choice`` (in order)."""
    mode, allowed = choice(turn)
    if mode == "none":
        return []
    return [n for n in names if allowed is None or n in allowed]


def settle(
    turn: Turn, candidates: list[dict[str, Any]], chosen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The functions to call: ``chosen`` (those the prompt asks for) as the mode allows.

    ``candidates`` are already restricted to the permitted ones; ``any`` forces a call even when the prompt
    names no function (the first permitted one), ``auto``/``validated`` call only what the prompt asks for.
    """
    mode, _ = choice(turn)
    if mode == "none":
        return []
    if not chosen and mode == "any":
        return candidates[:1]
    return chosen


WORD = re.compile(r"[a-z0-9]+")
_VERBS = {"get", "set", "do", "run", "make", "the", "a"}


def name_words(name: str) -> set[str]:
    """The words of a function name (``getStockPrice``/``get_stock_price`` → {stock, price})."""
    return set(WORD.findall(re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())) - _VERBS


def asks_for(name: str, prompt: str) -> bool:
    """Whether ``prompt`` asks for what the function ``name`` does (it shares a word with the name)."""
    words = set(WORD.findall(prompt.lower()))
    return bool(name_words(name) & words) or name.lower() in words


# -- sampling: seed, temperature, top_p -----------------------------------------------------------------

# The default answer's phrases and their alternative wordings; variant 0 is the canonical one.
_WORDINGS: list[tuple[str, ...]] = [
    ("Here is a short answer about", "A brief answer on", "In short, on", "Quick take on"),
    (
        "is the subject of your request",
        "is what you asked about",
        "is the topic here",
        "is your question's focus",
    ),
    ("The key idea:", "The main point:", "In essence:", "At its core:"),
    (
        "Keep the answer short and concrete; follow up with a narrower question for detail.",
        "A narrower follow-up question gets a more detailed answer.",
        "For detail, ask again about one part of it.",
        "This stays brief; a more specific question goes deeper.",
    ),
]


def sampled(turn: Turn) -> bool:
    config = turn.generation_config
    return any(config.get(key) is not None for key in ("seed", "temperature", "top_p"))


def variant(turn: Turn) -> int:
    """Which wording (0 … 4**slots - 1): the seed picks it, temperature and top_p shift it.

    Seeds that differ by less than the number of wordings always give different text; temperature 0
    is greedy decoding, so it always gives the canonical wording whatever the seed.
    """
    config = turn.generation_config
    if config.get("temperature") == 0:
        return 0
    mix = f"{config.get('temperature')}|{config.get('top_p')}"
    shift = int(hashlib.sha256(mix.encode()).hexdigest()[:8], 16) if mix != "None|None" else 0
    seed = config.get("seed")
    return (int(seed) if isinstance(seed, int) else 0) + shift


def reword(turn: Turn, text: str) -> str:
    """The default answer in the wording the sampling controls select (unchanged without them)."""
    if not sampled(turn):
        return text
    pick = variant(turn)
    for phrases in _WORDINGS:
        pick, digit = divmod(pick, len(phrases))
        if digit:
            text = text.replace(phrases[0], phrases[digit])
    return text


# -- stop sequences and the output token limit ----------------------------------------------------------


def limit(turn: Turn, block: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``block`` (a text block) ended at the first stop sequence and cut at ``max_output_tokens``.

    Returns the block and whether the token limit cut it (the interaction is then ``incomplete``).
    Annotations that pointed past the new end are dropped; their offsets are UTF-8 bytes.
    """
    config = turn.generation_config
    text = str(block.get("text", ""))
    original = text
    stops = [s for s in config.get("stop_sequences") or [] if isinstance(s, str) and s]
    found = [text.find(s) for s in stops if s in text]
    if found:
        text = text[: min(found)]
    cut = False
    budget = config.get("max_output_tokens")
    if isinstance(budget, int) and budget >= 0 and count_tokens(text) > budget:
        text = _cut(text, budget * 4)  # count_tokens is about four characters a token
        cut = True
    if text == original:
        return block, False
    size = len(text.encode("utf-8"))
    out = dict(block, text=text)
    kept = [a for a in block.get("annotations") or [] if int(a.get("end_index") or 0) <= size]
    if kept:
        out["annotations"] = kept
    else:
        out.pop("annotations", None)
    return out, cut


def _cut(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, at a word boundary when there is one."""
    if len(text) <= chars:
        return text
    head = text[:chars]
    space = head.rfind(" ")
    return head[:space] if space > chars // 2 else head


__all__ = ["asks_for", "choice", "limit", "name_words", "permitted", "reword", "settle", "variant"]
