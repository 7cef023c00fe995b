"""``%%gemini --map`` against a hand-tuned asyncio loop, and what a background map costs the kernel.

Side by side in one run, against the emulator in its own process, every request answered after a
realistic latency (``[emulator: deltas=10, rate=50]``: ten text deltas at 50/s, about 0.2 s a request):

1. For each concurrency (8, 32, 64): ``--rows`` rows (10,000) sent by a plain ``asyncio`` loop —
   ``client.aio.interactions.create`` under a semaphore, SDK retries off — then by a real
   ``%%gemini out --map rows --concurrency N`` cell in an IPython shell. Throughput ratio map ÷ loop
   (goal ≥ 0.9×), the process's CPU time per row during the map (kernel CPU per row) and the peak of
   Python allocations during it (tracemalloc), scaled to 10,000 rows.
2. A CPU-bound cell timed alone, then while a ``--background`` map of 2,000 rows (concurrency 8, each
   request ~1 s: ``deltas=10, rate=10``) runs, then alone again: ratio of medians (goal ≤ 1.10×).

Run: ``.venv/bin/python bench/map_throughput.py`` (``--rows 2000`` for a shorter run).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from emulator_process import start_emulator
from results import append_section, table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
LATENCY = "[emulator: deltas=10, rate=50]"
SLOW = "[emulator: deltas=10, rate=10]"
BUSY = """
def busy(n=3_000_000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""


def sdk_client(url: str) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="bench", http_options=options)


async def plain_loop(client: Any, prompts: list[str], concurrency: int) -> int:
    """What a careful user writes by hand: a semaphore, one task per row, nothing else."""
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> str:
        async with gate:
            interaction = await client.aio.interactions.create(
                model="gemini-3-flash-preview", input=prompt, store=False
            )
            return interaction.status

    answers = await asyncio.gather(*(one(p) for p in prompts))
    return sum(1 for a in answers if a == "completed")


def shell(url: str) -> Any:
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "gemini_magics")
    folder = tempfile.mkdtemp(prefix="gemini-map-bench-")
    for line in (
        f"GeminiMagics.backend = {url!r}",
        f"GeminiMagics.chain_db = {str(Path(folder) / 'chains.sqlite3')!r}",
        "GeminiMagics.notebook = 'map-bench'",
        "GeminiMagics.thoughts = False",
    ):
        ip.run_line_magic("config", line)
    ip.run_cell(BUSY)
    return ip


def map_cell(
    ip: Any, rows: int, concurrency: int, tag: str, traced: bool = False
) -> tuple[float, float, int]:
    """(seconds, CPU seconds, peak traced bytes) of one --map cell over ``rows`` fresh prompts; tracemalloc
    (which slows allocation several times) only in a ``traced`` pass of its own."""
    ip.user_ns["rows"] = [f"{tag} row {i} {LATENCY}" for i in range(rows)]
    if traced:
        tracemalloc.start()
    cpu, started = time.process_time(), time.perf_counter()
    result = ip.run_cell_magic("gemini", f"out --map rows --concurrency {concurrency} --yes", "Echo {text}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    assert result.summary.startswith(f"{rows:,} answers"), result.summary
    return seconds, cpu, peak


def busy_seconds(ip: Any) -> float:
    started = time.perf_counter()
    ip.run_cell("_ = busy()")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    proc, url = start_emulator()
    try:
        ip = shell(url)
        rows = []
        for n in args.concurrency:
            # A fresh client each time: a pooled connection left idle since the last stage may have been
            # closed by the server (keep-alive timeout), and the loop, like the map, has no SDK retries.
            client = sdk_client(url)
            prompts = [f"loop {n} row {i} {LATENCY}" for i in range(args.rows)]
            started = time.perf_counter()
            answered = asyncio.run(plain_loop(client, prompts, n))
            loop_seconds = time.perf_counter() - started
            assert answered == args.rows, answered
            seconds, cpu, _ = map_cell(ip, args.rows, n, f"map{n}")
            sample = min(args.rows, 2000)
            peak = map_cell(ip, sample, n, f"traced{n}", traced=True)[2] * args.rows / sample
            loop_rate, map_rate = args.rows / loop_seconds, args.rows / seconds
            row = (
                n,
                loop_rate,
                map_rate,
                map_rate / loop_rate,
                cpu / args.rows * 1000,
                peak * 10_000 / args.rows,
            )
            rows.append(row)
            print(
                f"concurrency {n:3}: loop {loop_rate:7.1f} rows/s, --map {map_rate:7.1f} rows/s "
                f"({row[3]:.2f}×), kernel CPU {row[4]:.2f} ms/row, "
                f"peak {row[5] / 2**20:.1f} MiB per 10k rows",
                flush=True,
            )
        alone = [busy_seconds(ip) for _ in range(5)]
        ip.user_ns["slow"] = [f"background row {i} {SLOW}" for i in range(2000)]
        handle = ip.run_cell_magic(
            "gemini", "bg --map slow --concurrency 8 --background --yes", "Echo {text}"
        )
        time.sleep(1.0)
        during = [busy_seconds(ip) for _ in range(5)]
        done_during = handle.snapshot().done
        handle.cancel()
        handle.wait(60)
        after = [busy_seconds(ip) for _ in range(5)]
    finally:
        proc.terminate()
    baseline = statistics.median(alone + after)
    slowdown = statistics.median(during) / baseline
    print(
        f"CPU-bound cell: {baseline:.3f} s alone, {statistics.median(during):.3f} s while a background map "
        f"ran ({done_during} rows meanwhile): {slowdown:.3f}× (goal ≤ 1.10×)"
    )
    if not args.no_record:
        lines = [
            f"`python bench/map_throughput.py`: {args.rows:,} rows per run, emulator in its own process, "
            f"each request ~0.2 s (`{LATENCY}`).",
            "",
            *table(
                [
                    "concurrency",
                    "asyncio loop (rows/s)",
                    "`--map` (rows/s)",
                    "ratio (goal ≥ 0.9×)",
                    "kernel CPU per row",
                    "peak memory per 10k rows",
                ],
                [
                    [str(n), f"{lr:.1f}", f"{mr:.1f}", f"**{r:.2f}×**", f"{c:.2f} ms", f"{p / 2**20:.1f} MiB"]
                    for n, lr, mr, r, c, p in rows
                ],
            ),
            "",
            "A CPU-bound cell while a `--background` map of 2,000 rows (concurrency 8, ~1 s a request) "
            f"ran: **{slowdown:.3f}×** its time alone ({baseline:.3f} s; goal ≤ 1.10×).",
        ]
        append_section("--map throughput and overhead", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
