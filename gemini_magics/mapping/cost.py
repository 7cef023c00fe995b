"""What a ``--map`` job will cost, before it sends anything, and what it cost so far.

Input tokens are estimated with the usual heuristic for Gemini's tokenizer on English text — about four
characters a token — plus 258 tokens per image part (the service's fixed charge for an image up to
384×384; larger ones cost more, so this is a floor). Output is estimated at ``--max-tokens`` a row, else
``OUTPUT_GUESS``. Prices come from the dated table in ``gemini_magics/prices.py`` (with the notebook's
``GeminiMagics.prices`` overrides); a model not in it is priced as the most expensive one, so an estimate
errs high.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..prices import DEFAULT, PriceTable

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 258
OUTPUT_GUESS = 256
BATCH_DISCOUNT = 0.5  # the Batch API's prices are half the interactive ones


@dataclass(frozen=True)
class Estimate:
    rows: int
    input_tokens: int
    output_tokens: int
    usd: float

    def line(self) -> str:
        return (
            f"{self.rows:,} rows, about {self.input_tokens:,} input and {self.output_tokens:,} output "
            f"tokens, about ${self.usd:,.2f}"
        )


def price(model: str, table: PriceTable | None = None) -> tuple[float, float]:
    """(input, output) USD per million tokens."""
    found = (table or DEFAULT).price(model)
    return found.input, found.output


def tokens_of(blocks: Any) -> int:
    """Input tokens of one row's ``input`` (a string, or content blocks)."""
    if isinstance(blocks, str):
        return max(1, len(blocks) // CHARS_PER_TOKEN)
    total = 0
    for block in blocks if isinstance(blocks, list) else ():
        if isinstance(block, dict) and block.get("type") == "text":
            total += len(str(block.get("text", ""))) // CHARS_PER_TOKEN
        else:
            total += IMAGE_TOKENS
    return max(1, total)


def estimate(
    inputs: list[Any],
    model: str,
    max_tokens: int | None,
    factor: float = 1.0,
    table: PriceTable | None = None,
) -> Estimate:
    """``factor``: ``BATCH_DISCOUNT`` for a ``--batch`` job."""
    input_tokens = sum(tokens_of(i) for i in inputs)
    output_tokens = len(inputs) * (max_tokens or OUTPUT_GUESS)
    usd = spent(model, input_tokens, output_tokens, factor, table)
    return Estimate(len(inputs), input_tokens, output_tokens, usd)


def spent(
    model: str, input_tokens: int, output_tokens: int, factor: float = 1.0, table: PriceTable | None = None
) -> float:
    return (table or DEFAULT).spent(model, input_tokens, output_tokens, factor)


def usage_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(input, output) tokens of an interaction's usage; thoughts are billed as output."""
    inp = int(usage.get("total_input_tokens") or 0)
    out = int(usage.get("total_output_tokens") or 0) + int(usage.get("total_thought_tokens") or 0)
    return inp, out
