"""Regenerate docs/reliability.md: run the hardening tests (fuzzing, fault matrix, killed and concurrent
kernels, key leaks) and the 500-turn soak; the page is written from the figures this run records only.

    python scripts/reliability.py            # the suite's sizes and the soak, about five minutes
    python scripts/reliability.py --large    # over 10,000 fuzzed inputs, random (new) ones
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/shell/test_fuzz_cells.py",
    "tests/shell/test_fuzz_replies.py",
    "tests/shell/test_fuzz_map.py",
    "tests/shell/test_fuzz_replay.py",
    "tests/shell/test_fault_matrix.py",
    "tests/shell/test_fault_matrix_map_replay.py",
    "tests/kernels",
    "tests/shell/test_secrets.py",
    "tests/notebooks/test_key_leaks.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="over 10,000 fuzzed inputs (new random ones)")
    parser.add_argument("--turns", type=int, default=500, help="turns of the soak (default 500)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from reliability_figures import FIGURES, PAGE, render

    for stale in FIGURES.glob("*.json"):  # the page shows this run's figures, nothing older
        stale.unlink()
    env = dict(os.environ)
    if args.large:
        env.update(
            GEMINI_MAGICS_FUZZ_EXAMPLES="7000",
            GEMINI_MAGICS_FUZZ_EXAMPLES_REPLIES="2000",
            GEMINI_MAGICS_FUZZ_EXAMPLES_MAP="2000",
            GEMINI_MAGICS_FUZZ_EXAMPLES_REPLAY="1000",
            GEMINI_MAGICS_FUZZ_RANDOM="1",
        )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "timeout=0", *TESTS]
    status = subprocess.call(command, cwd=ROOT, env=env)
    soak = [sys.executable, str(ROOT / "bench" / "soak.py"), "--turns", str(args.turns)]
    status = subprocess.call(soak, cwd=ROOT, env=env) or status
    render()
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
