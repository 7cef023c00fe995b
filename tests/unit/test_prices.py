"""The price table and how a usage is billed: cached input at its discount, tool-use prompts as input,
thoughts as output, image models' image tokens at their own price; unknown models at the dearest price."""

from __future__ import annotations

import pytest

from gemini_magics.mapping import cost
from gemini_magics.prices import PRICES, Price, PriceError, PriceTable, money, parse_overrides

USAGE = {
    "total_input_tokens": 1_000_000,  # 200k of them from the cache
    "total_cached_tokens": 200_000,
    "total_tool_use_tokens": 100_000,
    "total_output_tokens": 300_000,
    "total_thought_tokens": 50_000,
    "total_tokens": 1_450_000,
}


def test_a_usage_is_billed_as_the_pricing_page_says() -> None:
    table = PriceTable()
    # Gemini 3 Flash: $0.50 in, $3 out, $0.05 cached input.
    expected = 0.8 * 0.50 + 0.2 * 0.05 + 0.1 * 0.50 + (0.3 + 0.05) * 3.00
    assert table.cost("gemini-3-flash-preview", USAGE) == pytest.approx(expected)
    assert table.cost("models/gemini-3-flash-preview", USAGE) == pytest.approx(expected)
    assert table.cost("gemini-3-flash-preview", USAGE, factor=0.5) == pytest.approx(expected / 2)
    assert (
        table.cost("gemini-3-flash-preview", {}) == 0.0 and table.cost("gemini-3-flash-preview", None) == 0.0
    )


def test_image_output_tokens_cost_the_image_price_when_the_usage_names_them() -> None:
    usage = {"total_input_tokens": 1000, "total_output_tokens": 1290 + 10}
    usage["output_tokens_by_modality"] = [
        {"modality": "image", "tokens": 1290},
        {"modality": "text", "tokens": 10},
    ]
    found = PriceTable().cost("gemini-3-pro-image-preview", usage)
    assert found == pytest.approx((1000 * 2.00 + 10 * 12.00 + 1290 * 120.00) / 1e6)
    del usage["output_tokens_by_modality"]  # without the split every output token is billed as text
    assert PriceTable().cost("gemini-3-pro-image-preview", usage) == pytest.approx(
        (1000 * 2 + 1300 * 12) / 1e6
    )


def test_unknown_models_cost_the_dearest_prices_and_overrides_win() -> None:
    table = PriceTable()
    assert not table.known("gemini-9-ultra") and table.known("agents/deep-research-pro-preview-12-2025")
    dearest = Price(max(p.input for p in PRICES.values()), max(p.output for p in PRICES.values()))
    assert table.price("gemini-9-ultra") == dearest
    cheap = PriceTable({"gemini-9-ultra": [0.1, 0.2], "gemini-3-flash-preview": (1, 2, 0.5)})
    assert cheap.price("gemini-9-ultra") == Price(0.1, 0.2) and cheap.known("gemini-9-ultra")
    assert cheap.cost("gemini-3-flash-preview", USAGE) == pytest.approx(0.8 + 0.2 * 0.5 + 0.1 + 0.35 * 2)
    assert cheap.cost("gemini-2.5-pro", USAGE) == PriceTable().cost("gemini-2.5-pro", USAGE)
    assert (
        cost.price("gemini-9-ultra", cheap) == (0.1, 0.2) and cost.price("gemini-9-ultra")[0] == dearest.input
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"m": [1]},
        {"m": [1, 2, 3, 4]},
        {"m": [1, -1]},
        {"m": [1, "2"]},
        {"m": "1,2"},
        {"": [1, 2]},
        {"m": [1, True]},
    ],
)
def test_bad_overrides_are_one_line(bad: dict) -> None:
    with pytest.raises(PriceError) as raised:
        parse_overrides(bad)
    assert str(raised.value).startswith("prices") and "\n" not in str(raised.value)


def test_money_keeps_two_significant_digits_below_a_dollar() -> None:
    assert [money(x) for x in (0, 1.234, 1234.5, 0.5, 0.05, 0.000123, 0.0000001)] == [
        "$0.00",
        "$1.23",
        "$1,234.50",
        "$0.50",
        "$0.050",
        "$0.00012",
        "$0.00000010",
    ]


def test_map_estimates_use_the_same_table() -> None:
    estimate = cost.estimate(["x" * 4000], "gemini-3-flash-preview", 1000)
    assert estimate.input_tokens == 1000 and estimate.output_tokens == 1000
    assert estimate.usd == pytest.approx((1000 * 0.50 + 1000 * 3.00) / 1e6)
    table = PriceTable({"gemini-3-flash-preview": [5, 5]})
    assert cost.estimate(["x" * 4000], "gemini-3-flash-preview", 1000, table=table).usd == pytest.approx(0.01)
