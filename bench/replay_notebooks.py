"""Replaying the example notebooks from their cassettes ÷ running them on the in-kernel emulator.

Side by side in one run, on copies of notebooks 01–10 in a temporary folder, each executed headless by
``gemini-magics run`` (nbclient, a fresh ipykernel per notebook) exactly as a user would:

1. on the in-kernel emulator (``--offline``): the baseline, whole wall time per notebook;
2. recording (``--replay record``): the same, writing ``NAME.gemini.jsonl`` (reported, not in the ratio);
3. replaying (``--replay replay``): answers from the cassettes, nothing sent, no emulator started.

The ratio is total replay time ÷ total emulator time (goal ≤ 0.5×). Kernel start-up is in both (it is
what a re-run costs); the emulator's research agent runs ``--agent-seconds`` (7 s, as under nbval).
Run: ``.venv/bin/python bench/replay_notebooks.py`` (``--rounds 2`` takes the best of two per notebook).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
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


def run(notebook: Path, mode: str | None, env: dict[str, str]) -> float:
    command = [
        sys.executable,
        "-m",
        "gemini_magics.cli",
        "run",
        str(notebook),
        "--offline",
        "--no-widget-state",
    ]
    command += ["-o", str(notebook.with_suffix(f".{mode or 'emulator'}.out.ipynb"))]
    if mode:
        command += ["--replay", mode]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=notebook.parent)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{notebook.name} ({mode or 'emulator'}) failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=1, help="runs per notebook and mode (best taken)")
    parser.add_argument("--agent-seconds", type=float, default=7.0)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gemini-replay-bench-"))
    try:
        shutil.copytree(ROOT / "notebooks" / "data", work / "data")
        notebooks = []
        for source in sorted((ROOT / "notebooks").glob("*.ipynb"))[:10]:
            shutil.copyfile(source, work / source.name)
            notebooks.append(work / source.name)
        env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("GEMINI_MAGICS")}
        env["GEMINI_MAGICS_AGENT_SECONDS"] = str(args.agent_seconds)
        floor_nb = work / "floor.ipynb"  # what every run pays before its first answer
        floor_nb.write_text(FLOOR, encoding="utf-8")
        env["GEMINI_MAGICS_CHAIN_DB"] = str(work / "floor.sqlite3")
        floor = min(run(floor_nb, None, env) for _ in range(max(2, args.rounds)))
        print(
            f"floor (kernel start, %load_ext, google.genai and ipywidgets imported): {floor:.2f} s",
            flush=True,
        )
        rows = []
        for notebook in notebooks:
            env["GEMINI_MAGICS_CHAIN_DB"] = str(work / f"{notebook.stem}.sqlite3")
            emulator = min(run(notebook, None, env) for _ in range(args.rounds))
            recording = run(notebook, "record", env)
            replay = min(run(notebook, "replay", env) for _ in range(args.rounds))
            size = (work / f"{notebook.stem}.gemini.jsonl").stat().st_size
            rows.append((notebook.stem, emulator, recording, replay, size))
            print(
                f"{notebook.stem:24} emulator {emulator:6.2f} s  record {recording:6.2f} s  "
                f"replay {replay:6.2f} s  ({replay / emulator:.2f}×)  cassette {size / 1024:.0f} KB",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total_emulator = sum(r[1] for r in rows)
    total_replay = sum(r[3] for r in rows)
    ratio = total_replay / total_emulator
    net = (total_replay - 10 * floor) / (total_emulator - 10 * floor)
    print(
        f"\nall 10: emulator {total_emulator:.1f} s, replay {total_replay:.1f} s: "
        f"ratio {ratio:.2f}× (goal ≤ 0.5×); above the floor of {floor:.2f} s a notebook: {net:.2f}×"
    )
    if not args.no_record:
        lines = [
            "",
            f"## Replaying the example notebooks ({datetime.date.today().isoformat()})",
            "",
            "`python bench/replay_notebooks.py`: notebooks 01–10 run headless by `gemini-magics run` "
            f"(a fresh kernel each), research agent {args.agent_seconds:g} s, best of {args.rounds}.",
            "",
            "| notebook | emulator (s) | record (s) | replay (s) | replay ÷ emulator | cassette |",
            "|---|---|---|---|---|---|",
            *(
                f"| {n} | {e:.2f} | {r:.2f} | {p:.2f} | {p / e:.2f}× | {s / 1024:.0f} KB |"
                for n, e, r, p, s in rows
            ),
            f"| **all 10** | **{total_emulator:.1f}** | {sum(r[2] for r in rows):.1f} | "
            f"**{total_replay:.1f}** | **{ratio:.2f}×** (goal ≤ 0.5×) | |",
            "",
            f"Every run pays a floor of {floor:.2f} s (kernel start, `%load_ext`, google.genai, ipywidgets "
            f"imported; best of {max(2, args.rounds)}); above it, replay ÷ emulator is **{net:.2f}×**.",
        ]
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
