"""What this notebook spent — tokens and estimated dollars per model, per chain and in all — and the budget
that stops it.

Everything is read from what the stores already keep, so a restarted kernel (or another kernel on the same
notebook) sees the same figures: every turn's usage as the service reported it (cells, tool loops and
research runs alike: ``chain/``), every answered ``--map`` row (``mapping/store.py``), and ``--no-store``
cells, which have no turn, in a small table of their own here (``stateless_usage``, in the same SQLite
file). Dollars are ``prices.py``'s table (with ``GeminiMagics.prices`` on top) times that usage. Answers of
the offline emulator and of a cassette are priced as Gemini would have charged for them: the figures — and
the budget — can be tried offline, and they say what the same notebook costs with a key.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import ChainStore
from .prices import PRICES_DATED, PriceTable, Tokens, money
from .render.static import escape

STATELESS = """
CREATE TABLE IF NOT EXISTS stateless_usage (
    notebook TEXT NOT NULL,
    model TEXT NOT NULL,
    usage TEXT NOT NULL,
    created REAL NOT NULL
)
"""
MAP_ROWS = ("map", "")  # the keys of the per-chain table's rows that are no chain
NO_STORE = ("no-store", "")
COLUMNS = ("answers", "input", "output", "thought", "cached", "tool", "est. cost")


class SpendError(Exception):
    """The notebook's budget is spent, or ``%gemini usage`` was misused; one line."""


@dataclass
class Tally:
    """Tokens and dollars of some answers."""

    answers: int = 0
    input: int = 0
    output: int = 0
    thought: int = 0
    cached: int = 0
    tool: int = 0
    usd: float = 0.0

    def add(self, tokens: Tokens, usd: float) -> None:
        self.answers += 1
        self.input += tokens.input
        self.output += tokens.output
        self.thought += tokens.thought
        self.cached += tokens.cached
        self.tool += tokens.tool
        self.usd += usd

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.thought + self.tool

    def cells(self) -> list[str]:
        counts = (self.answers, self.input, self.output, self.thought, self.cached, self.tool)
        return [f"{n:,}" for n in counts] + [money(self.usd)]


@dataclass
class Report:
    """``%gemini usage``: the notebook's tallies, shown as Markdown tables (and text)."""

    notebook: str
    prices: PriceTable
    total: Tally = field(default_factory=Tally)
    by_model: dict[str, Tally] = field(default_factory=dict)
    by_chain: dict[tuple[str, str], Tally] = field(default_factory=dict)
    budget: float | None = None

    @property
    def usd(self) -> float:
        return self.total.usd

    def add(self, where: tuple[str, str], model: str, usage: dict[str, Any], factor: float = 1.0) -> None:
        tokens, usd = Tokens.of(usage), self.prices.cost(model, usage, factor)
        self.total.add(tokens, usd)
        self.by_model.setdefault(model or "?", Tally()).add(tokens, usd)
        self.by_chain.setdefault(where, Tally()).add(tokens, usd)

    def __repr__(self) -> str:
        return f"<gemini usage: {self.total.tokens:,} tokens, about {money(self.usd)}>"

    def _tables(self, markdown: bool) -> list[tuple[str, list[list[str]]]]:
        """(title, rows) of the per-model and per-chain tables, the total last in each; first cells as the
        format shows them (Markdown: names escaped, the rows that are no chain in italics)."""
        name = escape if markdown else str
        models = [[name(model), *tally.cells()] for model, tally in sorted(self.by_model.items())]
        chains = [[_place(where, name), *tally.cells()] for where, tally in self.by_chain.items()]
        total = ["**all**" if markdown else "all", *self.total.cells()]
        return [("model", [*models, total]), ("chain", [*chains, total])]

    def summary(self) -> list[str]:
        """The lines above the tables: the total, the budget, the prices used."""
        lines = [f"{self.total.tokens:,} tokens, about {money(self.usd)} at the prices of {PRICES_DATED}"]
        if self.budget is not None:
            left = max(0.0, self.budget - self.usd)
            lines.append(f"budget {money(self.budget)}: {money(left)} left")
        unknown = sorted(m for m in self.by_model if not self.prices.known(m))
        if unknown:
            lines.append(
                f"not in the price table, priced as the dearest model ({self.prices.fallback.line()} per 1M "
                f"tokens): {', '.join(unknown)} — set GeminiMagics.prices"
            )
        for model in sorted(self.prices.overrides):
            lines.append(
                f"GeminiMagics.prices[{model!r}]: {self.prices.overrides[model].line()} per 1M tokens"
            )
        return lines

    def markdown(self) -> str:
        if not self.total.answers:
            return "No answers with usage in this notebook yet."
        top = ["**Usage of this notebook**: " + escape(self.summary()[0])]
        top += [f"*{escape(line)}*" for line in self.summary()[1:]]
        parts = ["\n\n".join(top)]
        for title, rows in self._tables(markdown=True):
            table = [_md_row([title, *COLUMNS]), "|---|" + "---:|" * len(COLUMNS)]
            parts.append("\n".join(table + [_md_row(row) for row in rows]))
        return "\n\n".join(parts)

    def plain(self) -> str:
        if not self.total.answers:
            return "No answers with usage in this notebook yet."
        blocks = ["\n".join(self.summary())]
        blocks += [_text_table([[title, *COLUMNS], *rows]) for title, rows in self._tables(markdown=False)]
        return "\n\n".join(blocks)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"gemini": {"usage_report": True, "usd": round(self.usd, 8), "prices_dated": PRICES_DATED}}
        return {"text/markdown": self.markdown(), "text/plain": self.plain()}, meta


def _place(where: tuple[str, str], name: Any) -> str:
    """A per-chain row's first cell: the chain's name, or what the answers were that have no chain."""
    if where in (MAP_ROWS, NO_STORE):
        return f"*{'--map rows' if where == MAP_ROWS else '--no-store cells'}*"
    return str(name(where[1]))


def _md_row(cells: list[str]) -> str:
    """A table row; the first cell is ready (escaped), the figures are escaped here (``$`` starts TeX)."""
    return "| " + " | ".join([cells[0], *(escape(c) for c in cells[1:])]) + " |"


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].strip("*").ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# -- reading the stores --------------------------------------------------------------------------------


def gather(store: ChainStore, notebook: str, prices: PriceTable, budget: float | None = None) -> Report:
    """Every answer of ``notebook`` with usage: turns by chain, ``--map`` rows, ``--no-store`` cells."""
    from .mapping.store import MapStore

    report = Report(notebook, prices, budget=budget)
    for name, model, usage in store.usages(notebook):
        report.add(("chain", name), model, usage)
    mapped = MapStore(store.path)
    try:
        for model, factor, usage in mapped.usages(notebook):
            report.add(MAP_ROWS, model, usage, factor)
    finally:
        mapped.close()
    for model, usage in _stateless(store.path, notebook):
        report.add(NO_STORE, model, usage)
    return report


def record_stateless(path: Path, notebook: str, model: str, usage: dict[str, Any]) -> None:
    """Keep a ``--no-store`` cell's usage (it has no turn in the chain store)."""
    with _connect(path) as db:
        db.execute(STATELESS)
        db.execute(
            "INSERT INTO stateless_usage (notebook, model, usage, created) VALUES (?, ?, ?, ?)",
            (notebook, model, json.dumps(usage), time.time()),
        )


def _stateless(path: Path, notebook: str) -> list[tuple[str, dict[str, Any]]]:
    with _connect(path) as db:
        db.execute(STATELESS)
        rows = db.execute(
            "SELECT model, usage FROM stateless_usage WHERE notebook = ? ORDER BY rowid", (notebook,)
        ).fetchall()
    return [(model, json.loads(usage or "{}")) for model, usage in rows]


class _connect:
    """A short-lived connection to the chain store's file, committed and closed on exit (WAL, as the
    other stores; ``sqlite3``'s own context manager commits but never closes)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), timeout=30.0)
        self.db.execute("PRAGMA busy_timeout=30000")

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, kind: Any, *rest: Any) -> None:
        try:
            if kind is None:
                self.db.commit()
        finally:
            self.db.close()


# -- the budget ----------------------------------------------------------------------------------------


def check_budget(store: ChainStore, notebook: str, budget: float | None, prices: PriceTable) -> None:
    """Refuse to send once the notebook's estimated spend reached ``budget`` (None: no budget)."""
    if budget is None:
        return
    spent = gather(store, notebook, prices).usd
    if spent >= budget:
        raise SpendError(
            f"budget of {money(budget)} reached ({money(spent)} spent): raise GeminiMagics.budget to go on"
        )


def command(store: ChainStore, notebook: str, prices: PriceTable, budget: float | None, rest: str) -> Report:
    """``%gemini usage``."""
    if rest.strip():
        raise SpendError("%gemini usage takes no argument: it reports the whole notebook")
    return gather(store, notebook, prices, budget)
