"""``%gemini usage``, ``GeminiMagics.budget`` and ``GeminiMagics.prices`` through real cells against the
emulator, and the provenance metadata every answer's output carries.

Expected figures are computed here from what the stores kept — each turn's usage as the chain store has it,
each ``--map`` row's as the map store has it — and from the published prices written out below, not with
the code under test, so a wrong sum or a wrong price fails.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from shell_checks import failed, ok

from gemini_magics.chain import ChainStore
from gemini_magics.prices import PRICES_DATED
from gemini_magics.spend import Report

QUICK = "[emulator: duration=0.3]"
# USD per 1M tokens as published (input, output, cached input): the table must say the same.
FLASH = (0.50, 3.00, 0.05)
RESEARCH = (2.00, 12.00, 0.20)
FIELDS = ("total_input_tokens", "total_output_tokens", "total_thought_tokens", "total_cached_tokens")
FIELDS += ("total_tool_use_tokens",)


def report(kernel: Any) -> Report:
    run = kernel.run("%gemini usage")
    assert run.success, run.error_in_exec
    assert isinstance(run.result, Report)
    return run.result


def stored_usages(kernel: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(chain, model, usage) of every turn of the notebook, read from the chain store's turns."""
    with ChainStore(kernel.db) as store:
        out = []
        for info in store.chains(kernel.notebook):
            for turn in store.chain(kernel.notebook, info.name).turns():
                if turn.usage:
                    out.append((info.name, turn.model, turn.usage))
    return out


def map_usages(kernel: Any) -> list[tuple[str, float, dict[str, Any]]]:
    """(model, price factor, usage) of the notebook's ``--map`` rows, straight from the SQLite file."""
    import json

    with sqlite3.connect(kernel.db) as db:
        rows = db.execute(
            "SELECT model, factor, usage FROM map_rows WHERE notebook = ?", (kernel.notebook,)
        ).fetchall()
    return [(model, factor, json.loads(usage)) for model, factor, usage in rows]


def usd(usage: dict[str, Any], price: tuple[float, float, float], factor: float = 1.0) -> float:
    """The pricing page's rule: fresh input and tool-use prompts at the input price, cached input at the
    cached price, output and thoughts at the output price."""
    inp, out, thought, cached, tool = (int(usage.get(f, 0)) for f in FIELDS)
    return factor * ((inp - cached + tool) * price[0] + cached * price[2] + (out + thought) * price[1]) / 1e6


def test_usage_totals_are_the_sum_of_the_turns_and_rows_at_the_table_prices(kernel: Any) -> None:
    ok(kernel.run("%%gemini\nHi, my name is Phil."))
    ok(kernel.run("%%gemini --no-stream\nWhat is my name?"))
    ok(kernel.run("%%gemini --chain side --thinking low\nTell me a joke"))
    ok(kernel.run("%%gemini --no-store\nSay hello"))
    ok(kernel.run(f"%%gemini --research --wait\nBees {QUICK}"))
    kernel.run("cities = ['Paris', 'Oslo', 'Lima']")
    assert kernel.run("%%gemini out --map cities\nDescribe {text}").success
    handle = kernel.run("%%gemini later --map cities --batch\nName a river in {text}").result
    handle.wait(60)

    turns = stored_usages(kernel)
    rows = map_usages(kernel)
    assert {chain for chain, _, _ in turns} == {"default", "side"}
    assert len(turns) == 4 and len(rows) == 6 and sorted(f for _, f, _ in rows) == [0.5] * 3 + [1.0] * 3
    shown = report(kernel)
    stateless = shown.by_chain[("no-store", "")]
    assert stateless.answers == 1 and stateless.output > 0

    usages = [u for _, _, u in turns] + [u for _, _, u in rows]
    for name, field in zip(("input", "output", "thought", "cached", "tool"), FIELDS, strict=True):
        summed = sum(int(u.get(field, 0)) for u in usages) + getattr(stateless, name)
        assert getattr(shown.total, name) == summed, name
    assert shown.total.answers == len(turns) + len(rows) + 1
    expected = sum(usd(u, RESEARCH if m.startswith("deep-research") else FLASH) for _, m, u in turns)
    expected += sum(usd(u, FLASH, factor) for _, factor, u in rows)
    names = ("input", "output", "thought", "cached", "tool")
    expected += usd(
        {field: getattr(stateless, name) for name, field in zip(names, FIELDS, strict=True)}, FLASH
    )
    assert shown.usd == pytest.approx(expected, rel=1e-9) and shown.usd > 0
    research = shown.by_model["deep-research-pro-preview-12-2025"]
    assert research.answers == 1 and research.usd == pytest.approx(
        sum(usd(u, RESEARCH) for _, m, u in turns if m.startswith("deep-research")), rel=1e-9
    )
    assert shown.by_chain[("map", "")].answers == 6
    assert shown.by_chain[("chain", "side")].answers == 1

    data, meta = shown._repr_mimebundle_()
    table = data["text/markdown"]
    assert f"at the prices of {PRICES_DATED}" in table and "| **all** | 11 |" in table
    assert "| deep-research-pro-preview-12-2025 | 1 |" in table and "*--map rows*" in table
    assert "| side | 1 |" in table and "*--no-store cells*" in table
    assert re.search(r"\| &dollar;0\.\d+ \|", table), table  # dollars escaped: "$" would start TeX
    assert "est. cost" in data["text/plain"] and "\n--map rows " in data["text/plain"]
    assert meta["gemini"]["usd"] == pytest.approx(shown.usd)


def test_price_overrides_change_the_costs_and_bad_ones_are_refused(
    kernel: Any, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ok(kernel.run("%%gemini\nHi, my name is Phil."))
    [(_, _, usage)] = stored_usages(kernel)
    assert report(kernel).usd == pytest.approx(usd(usage, FLASH), rel=1e-9)
    kernel.run(
        "%config GeminiMagics.prices = {'gemini-3-flash-preview': [1, 10]}"
    )  # no cached price: as input
    overridden = report(kernel)
    assert overridden.usd == pytest.approx(usd(usage, (1.0, 10.0, 1.0)), rel=1e-9)
    assert "GeminiMagics.prices['gemini-3-flash-preview']: $1 in, $10 out" in overridden.plain()
    kernel.run("%config GeminiMagics.prices = {'models/gemini-3-flash-preview': [1, 10, 0.1]}")
    assert report(kernel).usd == pytest.approx(usd(usage, (1.0, 10.0, 0.1)), rel=1e-9)
    for bad in ("{'gemini-3-flash-preview': [1]}", "{'x': [1, -2]}", "{'x': 'cheap'}", "{'': [1, 2]}"):
        caplog.clear()
        kernel.run(f"%config GeminiMagics.prices = {bad}")  # %config shows a trait's error in one line
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert errors and all(e.startswith("prices") and "\n" not in e for e in errors), errors
        assert report(kernel).usd == pytest.approx(usd(usage, (1.0, 10.0, 0.1)), rel=1e-9)  # unchanged
    ok(kernel.run("%%gemini -m gemini-3.5-flash\nHi"))  # not in the table: the dearest price, and said so
    shown = report(kernel)
    assert "not in the price table" in shown.plain() and "gemini-3.5-flash —" in shown.plain()
    [(_, _, newer)] = [u for u in stored_usages(kernel) if u[1] == "gemini-3.5-flash"]
    assert shown.by_model["gemini-3.5-flash"].usd == pytest.approx(usd(newer, (2.0, 12.0, 2.0)), rel=1e-9)
    failed(kernel.run("%gemini usage now"), capsys, "takes no argument")


def test_a_budget_refuses_cells_and_map_jobs_once_spent_until_raised(kernel: Any, capsys: Any) -> None:
    kernel.run("%config GeminiMagics.budget = 0.0000001")
    ok(kernel.run("%%gemini\nHi, my name is Phil."))  # nothing spent yet
    spent = report(kernel).usd
    assert spent > 0.0000001
    message = failed(kernel.run("%%gemini\nWhat is my name?"), capsys)
    said = re.fullmatch(
        r"budget of \$0\.00000010 reached \((\$0\.0+\d\d) spent\): raise GeminiMagics\.budget to go on",
        message,
    )
    assert said and float(said[1][1:]) == pytest.approx(spent, rel=0.05), message
    kernel.run("cities = ['Paris', 'Oslo']")
    failed(kernel.run("%%gemini --map cities\nDescribe {text}"), capsys, "budget of $0.00000010 reached")
    failed(kernel.run(f"%%gemini --research\nBees {QUICK}"), capsys, "raise GeminiMagics.budget")
    failed(kernel.run("%gemini What is my name?"), capsys, "budget of")
    assert len(stored_usages(kernel)) == 1 and not map_usages(kernel)  # nothing was sent
    assert "budget $0.00000010: $0.00 left" in report(kernel).plain()
    kernel.run("%config GeminiMagics.budget = 1.0")
    assert "Your name is **Phil**" in ok(kernel.run("%%gemini --no-stream\nWhat is my name?")).text
    assert kernel.run("%%gemini --map cities\nDescribe {text}").success
    kernel.run("%config GeminiMagics.budget = None")
    ok(kernel.run("%%gemini\nThanks"))


CELLS = {
    "map": "%%gemini other --map cities\nDescribe {text}",
    "research": f"%%gemini --research --wait\nBees {QUICK}",
    "no-store": "%%gemini --no-store\nSay hello",
}


@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_what_map_jobs_research_and_stateless_cells_spend_counts_toward_the_budget(
    kernel: Any, cell: str, capsys: Any
) -> None:
    kernel.run("cities = ['Paris', 'Oslo']")
    assert kernel.run(cell).success
    spent = report(kernel).usd
    assert spent > 0 and report(kernel).total.answers in (1, 2)
    kernel.run(f"%config GeminiMagics.budget = {spent!r}")
    failed(kernel.run("%%gemini\nHello"), capsys, "reached", "raise GeminiMagics.budget to go on")


# -- provenance -------------------------------------------------------------------------------------------


def provenance(result: Any) -> dict[str, Any]:
    _, meta = result._repr_mimebundle_()
    assert set(meta) == {"gemini"}
    return meta["gemini"]


def test_every_answer_says_where_it_came_from_in_its_output_metadata(kernel: Any, tmp_path: Any) -> None:
    streamed = ok(kernel.run("%%gemini\nHi, my name is Phil."))
    found = provenance(streamed)
    assert found == {
        "interaction_id": streamed.id,
        "model": "gemini-3-flash-preview",
        "status": "completed",
        "usage": streamed.usage,
        "backend": "endpoint",  # the tests' emulator is a URL backend; its address is not repeated
        "chain": "default",
        "replayed": False,
    }
    assert found["usage"]["total_tokens"] > 0 and "http" not in str(found)
    waited = ok(kernel.run("%%gemini --chain side --no-stream\nHello"))
    assert provenance(waited)["chain"] == "side" and provenance(waited)["interaction_id"] == waited.id
    assert provenance(ok(kernel.run("%%gemini --no-store\nHello")))["chain"] is None
    report_ = kernel.run(f"%%gemini --research --wait\nBees {QUICK}").result
    found = provenance(report_)
    assert found["agent"] == "deep-research-pro-preview-12-2025" and "model" not in found
    assert found["chain"] == "default" and found["usage"]["total_output_tokens"] > 0

    kernel.run(f"%config GeminiMagics.cassette = {str(tmp_path / 'nb.gemini.jsonl')!r}")
    kernel.run("%config GeminiMagics.replay = 'record'")
    recorded = ok(kernel.run("%%gemini --no-store\nA recorded answer"))
    assert provenance(recorded)["replayed"] is False
    kernel.run("%config GeminiMagics.replay = 'replay'")
    replayed = ok(kernel.run("%%gemini --no-store\nA recorded answer"))
    found = provenance(replayed)
    assert found["replayed"] is True and found["backend"] == "cassette" and found["usage"] == recorded.usage
