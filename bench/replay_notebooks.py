"""Replaying the example notebooks from their cassettes ÷ running them on the in-kernel emulator.

Side by side in one run, on copies of notebooks 01–10 in a temporary folder, executed headless by
``gemini-magics run`` (nbclient, a fresh ipykernel per notebook) exactly as a user or CI would:

1. on the in-kernel emulator (``--offline``): the baseline;
2. recording (``--replay record``): the same, writing ``NAME.gemini.jsonl`` (reported, not in the ratio);
3. replaying (``--replay replay``): answers from the cassettes, nothing sent, no emulator started.

The headline is the whole wall time of one ``gemini-magics run`` over the 10 notebooks in each mode (the
runner boots the next kernel while a notebook runs), replay ÷ emulator (goal ≤ 0.5×). A second table runs
one command per notebook (a kernel start, imports and shutdown each), the floor every such run pays.
The emulator's research agent runs ``--agent-seconds`` (7 s, as under nbval).
Run: ``.venv/bin/python bench/replay_notebooks.py`` (``--rounds 2`` takes the best of two).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results import append_section, table

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


FLOOR = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "a",
                "metadata": {},
                "outputs": [],
                "source": "%load_ext gemini_magics\nimport google.genai, ipywidgets",
            },
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


def run(notebooks: list[Path], mode: str | None, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """One ``gemini-magics run`` over ``notebooks``: its wall time, and each notebook's (from its output)."""
    command = [sys.executable, "-m", "gemini_magics.cli", "run", *map(str, notebooks), "--offline"]
    command += ["--no-widget-state", "--inplace"]
    if mode:
        command += ["--replay", mode]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=notebooks[0].parent)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{mode or 'emulator'} run failed:\n{done.stderr[-2000:]}")
    each = {
        Path(m[1]).stem: float(m[2]) for m in re.finditer(r"^Wrote (.+) \(([\d.]+) s\)$", done.stdout, re.M)
    }
    return seconds, each


def fresh(work: Path, sources: list[Path]) -> list[Path]:
    """Unexecuted copies of the notebooks in ``work`` (cassettes and chain stores are kept)."""
    copies = []
    for source in sources:
        shutil.copyfile(source, work / source.name)
        copies.append(work / source.name)
    return copies


def best(rounds: int, work: Path, sources: list[Path], mode: str | None, env: dict[str, str]) -> Any:
    return min((run(fresh(work, sources), mode, env) for _ in range(rounds)), key=lambda r: r[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=1, help="runs per mode (best taken)")
    parser.add_argument("--agent-seconds", type=float, default=7.0)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gemini-replay-bench-"))
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))[:10]
    try:
        shutil.copytree(ROOT / "notebooks" / "data", work / "data")
        env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("GEMINI_MAGICS")}
        env["GEMINI_MAGICS_AGENT_SECONDS"] = str(args.agent_seconds)
        env["GEMINI_MAGICS_CHAIN_DB"] = str(work / "chains.sqlite3")
        emulator, emulator_each = best(args.rounds, work, sources, None, env)
        recording, _ = run(fresh(work, sources), "record", env)
        replay, replay_each = best(args.rounds, work, sources, "replay", env)
        sizes = {s.stem: (work / f"{s.stem}.gemini.jsonl").stat().st_size for s in sources}
        print(
            f"one run over 10: emulator {emulator:.1f} s, record {recording:.1f} s, replay {replay:.1f} s: "
            f"{replay / emulator:.2f}× (goal ≤ 0.5×)",
            flush=True,
        )
        floor_nb = work / "floor.ipynb"  # what a one-notebook command pays before its first answer
        floor_nb.write_text(FLOOR, encoding="utf-8")
        floor = min(run([floor_nb], None, env)[0] for _ in range(2))
        single = [
            (
                s.stem,
                min(run(fresh(work, [s]), None, env)[0] for _ in range(args.rounds)),
                min(run(fresh(work, [s]), "replay", env)[0] for _ in range(args.rounds)),
            )
            for s in sources
        ]
        for name, e, r in single:
            print(f"{name:24} alone: emulator {e:6.2f} s  replay {r:6.2f} s  ({r / e:.2f}×)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    single_e, single_r = sum(r[1] for r in single), sum(r[2] for r in single)
    print(
        f"one command per notebook: emulator {single_e:.1f} s, replay {single_r:.1f} s: "
        f"{single_r / single_e:.2f}×; floor {floor:.2f} s a command"
    )
    if not args.no_record:
        rows = [
            [
                s.stem,
                f"{emulator_each.get(s.stem, 0):.2f}",
                f"{replay_each.get(s.stem, 0):.2f}",
                f"{sizes[s.stem] / 1024:.0f} KB",
            ]
            for s in sources
        ]
        rows.append(
            [
                f"**one run over all 10** (wall time; record {recording:.1f} s)",
                f"**{emulator:.1f}**",
                f"**{replay:.1f}**",
                f"**{replay / emulator:.2f}×** (goal ≤ 0.5×)",
            ]
        )
        lines = [
            "`python bench/replay_notebooks.py`: notebooks 01–10 (a fresh kernel each), research agent "
            f"{args.agent_seconds:g} s, best of {args.rounds}. `gemini-magics run NB01 … NB10` in each mode:",
            "",
            *table(["notebook", "emulator (s)", "replay (s)", "cassette"], rows),
            "",
            f"One command per notebook instead (each pays a floor of {floor:.2f} s: interpreter, nbclient, "
            f"kernel start and shutdown, `%load_ext`, google.genai and ipywidgets imported): emulator "
            f"{single_e:.1f} s, replay {single_r:.1f} s, **{single_r / single_e:.2f}×**.",
        ]
        append_section("Replaying the example notebooks", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
