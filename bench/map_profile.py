"""Where a ``--map`` row's CPU goes: cProfile of the job's own thread (where rows are sent and read).

``.venv/bin/python bench/map_profile.py [--rows 600] [--concurrency 32]``: the emulator in its own process,
the rows of ``map_throughput.py`` (about 0.2 s a request), then the functions with the most time of their
own and the callers of pydantic's model building. bench/RESULTS.md quotes it for the 10,000-row run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

import map_throughput as bench
from emulator_process import start_emulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    from gemini_magics.mapping import job

    profile = cProfile.Profile()
    run = job.MapJob._run

    def profiled(self: job.MapJob) -> None:
        profile.enable()
        try:
            run(self)
        finally:
            profile.disable()

    job.MapJob._run = profiled  # type: ignore[method-assign]
    proc, url = start_emulator()
    try:
        ip = bench.shell(url)
        seconds, cpu, _ = bench.map_cell(ip, args.rows, args.concurrency, "profile")
    finally:
        proc.terminate()
    print(f"{args.rows / seconds:.1f} rows/s, {cpu / args.rows * 1000:.2f} ms of CPU a row (profiled)")
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats("google|gemini_magics", 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
