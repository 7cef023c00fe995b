#!/usr/bin/env bash
# Set up a virtual environment with the package, then run the demo: the seed's samples against Gemini
# when GEMINI_API_KEY / GOOGLE_API_KEY is set, else against the local emulator (started in-process).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python scripts/demo.py "$@"
