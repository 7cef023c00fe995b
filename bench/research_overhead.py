"""What following background research costs the kernel, and how soon a finished report shows.

Side by side in one run, against the emulator in its own process (so its work is not the kernel's):

1. A CPU-bound cell (pure Python) timed with no research running, then while 5 research runs
   (``%%gemini --research``, ``duration=30``) stream their thought summaries, each with a live progress
   widget, then again with none running. Ratio of medians (target ≤ 1.10).
2. From the agent's completion (the interaction's ``updated`` time, set by the emulator when it ends) to
   the report put in place in the widget (its ``report.children`` trait set): with healthy streams
   (target ≤ 1 s), and when every stream breaks (``cut=3, half_resume=1``: each resume sends one event
   and hangs, so the tracker polls) (target ≤ the polling cap).

Without a front end the widgets' comms are ipywidgets' ``DummyComm``: state is still serialised on every
trait change, only the socket write is missing.
Run: ``.venv/bin/python bench/research_overhead.py`` (``--quick`` for a shorter run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emulator_process import start_emulator

RESULTS = Path(__file__).with_name("RESULTS.md")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

BUSY = """
def busy(n=4_000_000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""


def shell(url: str, stall: float, poll_max: float) -> Any:
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "gemini_magics")
    for line in (
        f"GeminiMagics.backend = {url!r}",
        f"GeminiMagics.chain_db = {str(Path(tempfile.mkdtemp()) / 'c.sqlite3')!r}",
        "GeminiMagics.notebook = 'bench-research.ipynb'",
        f"GeminiMagics.research_stall = {stall}",
        f"GeminiMagics.research_poll_max = {poll_max}",
    ):
        ip.run_line_magic("config", line)
    ip.run_cell(BUSY, silent=True)
    return ip


def cell_seconds(ip: Any) -> float:
    started = time.perf_counter()
    result = ip.run_cell("busy()", silent=True)
    assert result.success, result.error_in_exec
    return time.perf_counter() - started


def start_runs(ip: Any, count: int, directives: str, tag: str) -> list[tuple[Any, Any]]:
    from gemini_magics.research.progress import ProgressWidget

    runs = []
    for i in range(count):
        run = ip.run_cell_magic("gemini", "--research --new", f"{tag} topic {i} [emulator: {directives}]")
        runs.append((run, ProgressWidget(run.tracker)))
    return runs


def latencies(runs: list[tuple[Any, Any]]) -> list[float]:
    from gemini_magics.research.tracker import _epoch

    out = []
    for run, widget in runs:
        assert run.tracker.wait(120), run
        deadline = time.monotonic() + 5
        while widget.report_shown_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        result = run.result
        assert result is not None and result.status == "completed", result
        ended = _epoch(result.interaction.updated)
        assert ended is not None and widget.report_shown_at is not None
        out.append(widget.report_shown_at - ended)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10-second runs instead of 30")
    parser.add_argument("--no-save", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    duration = 10 if args.quick else 30
    stall, broken_stall, poll_max = 30.0, 1.0, 2.0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    proc, url = start_emulator()
    try:
        ip = shell(url, stall, poll_max)
        ip.run_cell_magic("gemini", "--no-stream", "warm up")  # import the SDK, open the chain store
        for _ in range(3):
            cell_seconds(ip)
        idle = [cell_seconds(ip) for _ in range(12)]

        runs = start_runs(ip, 5, f"duration={duration}", "Healthy")
        busy_times = []
        deadline = time.monotonic() + duration - 3
        while time.monotonic() < deadline:
            busy_times.append(cell_seconds(ip))
        events = sum(r.tracker.snapshot().events for r, _ in runs)
        thoughts = sum(len(r.tracker.snapshot().thoughts) for r, _ in runs)
        healthy = latencies(runs)
        idle += [cell_seconds(ip) for _ in range(12)]

        # Broken streams: a shorter stall window so the runs spend most of their time polling; their
        # lengths are staggered so that their ends fall at different points of the polling cycle.
        ip.run_line_magic("config", f"GeminiMagics.research_stall = {broken_stall}")
        broken_runs = []
        for i in range(5):
            directives = f"duration={12 + 0.45 * i:g}, cut=3, half_resume=1"
            broken_runs += start_runs(ip, 1, directives, f"Broken {i}")
        broken = latencies(broken_runs)
        polls = sum(r.tracker.snapshot().polls for r, _ in broken_runs)
        stalls = sum(r.tracker.snapshot().stalls for r, _ in broken_runs)
    finally:
        proc.terminate()
        proc.wait(10)

    ratio = statistics.median(busy_times) / statistics.median(idle)
    lines = [
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, research duration {duration} s, "
        f"stall window {stall:g} s, polling cap {poll_max:g} s",
        f"CPU-bound cell: idle median {statistics.median(idle) * 1000:.1f} ms ({len(idle)} runs), "
        f"with 5 runs streaming {statistics.median(busy_times) * 1000:.1f} ms ({len(busy_times)} runs) "
        f"-> ratio {ratio:.3f} (target <= 1.10); the trackers read {events} events, {thoughts} thoughts",
        f"completion -> report in the widget, healthy streams: max {max(healthy):.3f} s, "
        f"median {statistics.median(healthy):.3f} s (target <= 1 s)",
        f"completion -> report in the widget, every resume hangs (stall window {broken_stall:g} s; "
        f"{polls} polls, {stalls} stalls): "
        f"max {max(broken):.3f} s, median {statistics.median(broken):.3f} s (target <= {poll_max:g} s)",
    ]
    print("\n".join(lines))
    if not args.no_save:
        save(lines, ratio, healthy, broken, poll_max, busy_times, idle)
    return 0


def save(
    lines: list[str],
    ratio: float,
    healthy: list[float],
    broken: list[float],
    poll_max: float,
    busy_times: list[float],
    idle: list[float],
) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    table = [
        "",
        f"# Background research: the kernel's cost and the report's delay — {stamp}",
        "",
        "**How to run:** `python bench/research_overhead.py` (venv active, repository root); the emulator",
        "runs in its own process. Five `%%gemini --research` runs, each with a live progress widget.",
        "",
        "    " + "\n    ".join(lines),
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| CPU-bound cell while 5 runs stream ÷ with none running (medians of {len(busy_times)} and "
        f"{len(idle)} runs) | {ratio:.3f}× | ≤ 1.10× |",
        f"| agent's completion → report in the widget, streams healthy (worst of 5) | {max(healthy):.3f} s "
        "| ≤ 1 s |",
        f"| the same when every stream breaks and the tracker polls (worst of 5) | {max(broken):.3f} s "
        f"| ≤ {poll_max:g} s (the polling cap) |",
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n".join(table))


if __name__ == "__main__":
    sys.exit(main())
