"""What the magics cost on top of the SDK, measured side by side in one run.

1. ``%load_ext gemini_magics`` in a fresh IPython (median of fresh processes), next to loading
   jupysql's ``%load_ext sql`` when it is installed (an anchor).
2. A warm, non-streamed ``%%gemini`` cell against the emulator vs a raw ``client.interactions.create``
   on the same chain shape, alternating A/B so drift hits both alike; ratio of medians (target ≤ 1.10).
3. Kernel CPU per event while ``%%gemini`` streams 10,000 deltas, rendering included (target ≤ 0.1 ms).

The emulator runs in its own process so its work is not counted as the kernel's.
Run: ``.venv/bin/python bench/magics_overhead.py``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator_process import start_emulator  # bench/ is on sys.path when run as a script

LOAD_SNIPPET = """
import time
from IPython.testing.globalipapp import start_ipython

ip = start_ipython()
t = time.perf_counter()
ip.run_line_magic("load_ext", "{ext}")
print(time.perf_counter() - t)
"""


def load_ext_seconds(ext: str, runs: int = 9) -> float | None:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET.format(ext=ext)],
            capture_output=True,
            text=True,
            env={**os.environ, "IPYTHONDIR": tempfile.mkdtemp()},
        )
        if out.returncode != 0:
            return None
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def shell():
    """The one IPython shell of this process, with the extension loaded."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    ip = get_ipython() or start_ipython()
    if "gemini" not in ip.magics_manager.magics["cell"]:
        ip.run_line_magic("load_ext", "gemini_magics")
    return ip


def warm_overhead(url: str, rounds: int = 60) -> tuple[float, float]:
    from google import genai
    from google.genai import types

    ip = shell()
    ip.run_line_magic("config", f"GeminiMagics.backend = {url!r}")
    ip.run_line_magic("config", f"GeminiMagics.chain_db = {str(Path(tempfile.mkdtemp()) / 'c.sqlite3')!r}")
    ip.run_line_magic("config", "GeminiMagics.notebook = 'bench.ipynb'")
    # The raw call runs as a cell too, as a notebook user would run it, on a chain of the same length.
    ip.user_ns["client"] = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=url))
    ip.user_ns["previous"] = None
    raw_cell = (
        "previous = client.interactions.create(model='gemini-3-flash-preview', input='Tell me a joke.', "
        "generation_config={'thinking_summaries': 'auto'}, previous_interaction_id=previous).id"
    )
    raw, magic = [], []
    for i in range(rounds + 5):
        t = time.perf_counter()
        result = ip.run_cell(raw_cell, silent=True)
        a = time.perf_counter() - t
        assert result.success, result.error_in_exec
        t = time.perf_counter()
        result = ip.run_cell("%%gemini --no-stream\nTell me a joke.", silent=True)
        b = time.perf_counter() - t
        assert result.success, result.error_in_exec
        if i >= 5:  # warm-up rounds
            raw.append(a)
            magic.append(b)
    return statistics.median(raw), statistics.median(magic)


def streaming_cpu(url: str, deltas: int = 10_000) -> tuple[float, int]:
    ip = shell()
    ip.run_line_magic("config", "GeminiMagics.notebook = 'bench-stream.ipynb'")
    magics = ip.magics_manager.registry["GeminiMagics"]
    magics.runner().live = True  # render the live view as in a notebook (≤30 updates a second)
    samples = []
    for _ in range(3):
        cpu = time.process_time()
        result = ip.run_cell(
            f"%%gemini --stream --new\nA long story [emulator: deltas={deltas}]", silent=True
        )
        samples.append(time.process_time() - cpu)
        assert result.success, result.error_in_exec
    return statistics.median(samples), deltas


def main() -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    ours = load_ext_seconds("gemini_magics")
    anchor = load_ext_seconds("sql")
    print(f"%load_ext gemini_magics: {ours * 1000:.1f} ms (median of 9 fresh processes; target <= 20 ms)")
    if anchor is not None:
        print(
            f"%load_ext sql (jupysql, anchor): {anchor * 1000:.1f} ms  -> ours/anchor = {ours / anchor:.3f}"
        )
    proc, url = start_emulator()
    try:
        raw, magic = warm_overhead(url)
        print(
            f"warm create: raw SDK {raw * 1000:.2f} ms, %%gemini --no-stream {magic * 1000:.2f} ms "
            f"-> ratio {magic / raw:.3f} (target <= 1.10)"
        )
        cpu, events = streaming_cpu(url)
        print(
            f"streaming {events} deltas through %%gemini: {cpu:.3f} s kernel CPU "
            f"-> {cpu / events * 1000:.4f} ms/event (target <= 0.1)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
