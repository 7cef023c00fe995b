"""What tokens cost: a dated table of USD per million tokens for each model and agent, and the sums over an
interaction's ``usage``.

The service reports tokens, never money, so every dollar figure of the magics (``%gemini usage``, the
``budget``, the ``--map`` estimate) is this table times the usage the service reported. Prices are the
paid tier's for prompts up to 200k tokens, as published on ai.google.dev/gemini-api/docs/pricing when the
table was dated (``PRICES_DATED``); they change, so ``GeminiMagics.prices`` overrides any entry. How usage
is billed, as that page describes it:

* input tokens at the input price, except the part served from the context cache (``total_cached_tokens``,
  which is included in ``total_input_tokens``) at the cached price where the table has one;
* tool-use prompt tokens (``total_tool_use_tokens``: search results, fetched pages the model reads) as input;
* output and thought tokens (``total_thought_tokens``) at the output price — thinking is billed as output;
* for image models, output tokens the usage reports as images at the image-output price.

A model or agent not in the table is priced as the most expensive one, so an estimate errs high. Agents are
billed as the model under them (Deep Research: Gemini 3 Pro); their search queries are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRICES_DATED = "2026-12"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached: float | None = None  # cached input; None: billed as input
    image_output: float | None = None  # image models' image tokens; None: billed as output

    def line(self) -> str:
        extra = f", cached ${self.cached:g}" if self.cached is not None else ""
        extra += f", image output ${self.image_output:g}" if self.image_output is not None else ""
        return f"${self.input:g} in, ${self.output:g} out{extra}"


PRICES: dict[str, Price] = {
    "gemini-3.1-pro-preview": Price(2.00, 12.00, cached=0.20),
    "gemini-3-pro-preview": Price(2.00, 12.00, cached=0.20),
    "gemini-3-flash-preview": Price(0.50, 3.00, cached=0.05),
    "gemini-3.1-flash-lite-preview": Price(0.25, 1.50, cached=0.025),
    "gemini-3-pro-image-preview": Price(2.00, 12.00, image_output=120.00),
    "gemini-3.1-flash-image-preview": Price(0.50, 3.00, image_output=60.00),
    "gemini-2.5-pro": Price(1.25, 10.00, cached=0.125),
    "gemini-2.5-flash": Price(0.30, 2.50, cached=0.03),
    "gemini-2.5-flash-lite": Price(0.10, 0.40, cached=0.01),
    "deep-research-pro-preview-12-2025": Price(2.00, 12.00, cached=0.20),
}


class PriceError(ValueError):
    """A price override that cannot be used; one line."""


def parse_overrides(value: Mapping[str, Any]) -> dict[str, Price]:
    """``{"model": [input, output]}`` or ``[input, output, cached]`` (USD per 1M tokens) → prices."""
    out: dict[str, Price] = {}
    for model, numbers in value.items():
        if not isinstance(model, str) or not model.strip():
            raise PriceError(f"prices: a model ID must be a non-empty string, not {model!r}")
        if isinstance(numbers, Price):
            out[_key(model)] = numbers
            continue
        if not isinstance(numbers, list | tuple) or len(numbers) not in (2, 3):
            raise PriceError(
                f"prices[{model!r}]: give [input, output] or [input, output, cached] in USD per 1M tokens"
            )
        if not all(_amount(n) for n in numbers):
            raise PriceError(f"prices[{model!r}]: prices must be numbers >= 0, got {list(numbers)!r}")
        out[_key(model)] = Price(*(float(n) for n in numbers))
    return out


def _amount(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    )


def _key(model: str) -> str:
    """``models/gemini-…`` and ``agents/…`` (as the service may name them) → the bare ID."""
    return model.strip().removeprefix("models/").removeprefix("agents/")


class PriceTable:
    """The dated table with the notebook's overrides on top."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.overrides = parse_overrides(overrides or {})
        self._prices = {**PRICES, **self.overrides}
        self.fallback = Price(
            max(p.input for p in self._prices.values()), max(p.output for p in self._prices.values())
        )

    def known(self, model: str) -> bool:
        return _key(model) in self._prices

    def price(self, model: str) -> Price:
        return self._prices.get(_key(model)) or self.fallback

    def spent(self, model: str, input_tokens: int, output_tokens: int, factor: float = 1.0) -> float:
        """USD for plain counts (``--map`` estimates): input and output (thoughts included) tokens."""
        price = self.price(model)
        return factor * (input_tokens * price.input + output_tokens * price.output) / 1_000_000

    def cost(self, model: str, usage: Mapping[str, Any] | None, factor: float = 1.0) -> float:
        """USD for one interaction's ``usage`` (see the module docstring); ``factor``: the Batch discount."""
        if not usage:
            return 0.0
        price = self.price(model)
        tokens = Tokens.of(usage)
        cached = min(tokens.cached, tokens.input) if price.cached is not None else 0
        images = min(_image_output(usage), tokens.output) if price.image_output is not None else 0
        usd = (tokens.input - cached + tokens.tool) * price.input
        usd += cached * (price.cached or 0.0)
        usd += (tokens.output - images + tokens.thought) * price.output
        usd += images * (price.image_output or 0.0)
        return factor * usd / 1_000_000


@dataclass(frozen=True)
class Tokens:
    """The token counts of one ``usage`` that the magics report."""

    input: int = 0
    output: int = 0
    thought: int = 0
    cached: int = 0
    tool: int = 0

    @classmethod
    def of(cls, usage: Mapping[str, Any] | None) -> Tokens:
        usage = usage or {}
        return cls(
            _count(usage.get("total_input_tokens")),
            _count(usage.get("total_output_tokens")),
            _count(usage.get("total_thought_tokens")),
            _count(usage.get("total_cached_tokens")),
            _count(usage.get("total_tool_use_tokens")),
        )


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def _image_output(usage: Mapping[str, Any]) -> int:
    listed = usage.get("output_tokens_by_modality")
    if not isinstance(listed, list):
        return 0
    return sum(
        _count(m.get("tokens")) for m in listed if isinstance(m, dict) and m.get("modality") == "image"
    )


def money(usd: float) -> str:
    """``$1.25``, ``$0.0031``: two significant digits below a dollar, so small spends do not read as $0.00."""
    if usd <= 0:
        return "$0.00"
    if usd >= 0.995:
        return f"${usd:,.2f}"
    decimals = min(8, max(2, 1 - math.floor(math.log10(usd))))
    return f"${usd:.{decimals}f}"


DEFAULT = PriceTable()
