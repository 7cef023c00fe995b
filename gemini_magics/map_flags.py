"""The flags of ``%%gemini --map`` (one prompt over the rows of a table), kept beside ``options.py``.

Only grammar and the rules that need no data: ``mapping/`` does the rest.
"""

from __future__ import annotations

import argparse

MAX_CONCURRENCY = 256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", dest="map_source", metavar="DATA", help="run the body once per row of DATA")
    p.add_argument("--into", metavar="NAME", help="--map: the answer column's name (default: answer)")
    p.add_argument("--concurrency", type=int, metavar="N", help="--map: requests at once (default 8)")
    p.add_argument("--limit", type=int, metavar="N", help="--map: only the first N rows")
    p.add_argument("--sample", type=int, metavar="N", help="--map: N rows drawn at random (seed 0)")
    p.add_argument("--fresh", action="store_true", help="--map: ignore the rows an earlier run finished")
    p.add_argument("--yes", action="store_true", help="--map: run even above map_confirm_over USD")
    p.add_argument("--store", dest="store_rows", action="store_true", help="--map: store every row's answer")
    p.add_argument(
        "--batch", action="store_true", help="--map: one Batch API job (batch prices, returns at once)"
    )


def check(ns: argparse.Namespace) -> None:
    """One line per mistake; raises ``ValueError``."""
    if not ns.map_source:
        for flag, used in (
            ("--into", ns.into),
            ("--concurrency", ns.concurrency is not None),
            ("--limit", ns.limit is not None),
            ("--sample", ns.sample is not None),
            ("--fresh", ns.fresh),
            ("--yes", ns.yes),
            ("--store", ns.store_rows),
            ("--batch", ns.batch),
        ):
            if used:
                raise ValueError(f"{flag} applies to --map")
        return
    if not ns.map_source.isidentifier():
        raise ValueError(f"--map {ns.map_source}: name a notebook variable (a DataFrame, Series or list)")
    if ns.into is not None and not ns.into.isidentifier():
        raise ValueError(f"--into {ns.into}: a column name made of letters, digits and _")
    if ns.concurrency is not None and not 1 <= ns.concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    for flag, value in (("--limit", ns.limit), ("--sample", ns.sample)):
        if value is not None and value <= 0:
            raise ValueError(f"{flag} must be a positive number of rows")
    if ns.batch and ns.concurrency is not None:
        raise ValueError("--batch runs on the service's own engine: --concurrency does not apply")
    if ns.batch and ns.store_rows:
        raise ValueError("--batch requests are not stored interactions: --store does not apply")
    if ns.limit is not None and ns.sample is not None:
        raise ValueError("--limit and --sample both choose rows: pick one")
    if not ns.store and ns.store_rows:
        raise ValueError("--store and --no-store contradict each other")
    for flag, used in (
        ("--research", ns.research),
        ("--agent", ns.agent),
        ("--tool", ns.functions),
        ("--chain", ns.chain),
        ("--from", ns.branch_from),
        ("--new", ns.new),
        ("--wait", ns.wait),
        ("--plan", ns.plan),
    ):
        if used:
            raise ValueError(f"--map sends one independent request per row: {flag} does not apply")
