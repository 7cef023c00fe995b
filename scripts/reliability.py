"""Regenerate docs/reliability.md: run the hardening tests (fuzzing, fault matrix) and, with ``--large``,
ten times the fuzz cases and the 500-turn soak; the page is written from the figures they record.

    python scripts/reliability.py            # the suite's sizes, about two minutes
    python scripts/reliability.py --large    # 10x the fuzz cases, random (new) cases, and bench/soak.py
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
    "tests/shell/test_fault_matrix.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="10x the fuzz cases (random ones) and the soak")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.large:
        env.update(
            GEMINI_MAGICS_FUZZ_EXAMPLES="6000",
            GEMINI_MAGICS_FUZZ_EXAMPLES_REPLIES="1500",
            GEMINI_MAGICS_FUZZ_RANDOM="1",
        )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "timeout=0", *TESTS]
    status = subprocess.call(command, cwd=ROOT, env=env)
    soak = ROOT / "bench" / "soak.py"
    if args.large and soak.exists():
        status = subprocess.call([sys.executable, str(soak)], cwd=ROOT, env=env) or status
    sys.path.insert(0, str(ROOT / "tests"))
    from reliability_figures import PAGE, render

    render()
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
