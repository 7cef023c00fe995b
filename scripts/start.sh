#!/usr/bin/env bash
# The main job: set up .venv with the package and JupyterLab, then open JupyterLab on notebooks/ with
# %%gemini ready in every kernel. With GEMINI_API_KEY / GOOGLE_API_KEY set the notebooks talk to Gemini,
# otherwise to the offline emulator. Extra arguments go to `gemini-magics lab` (--no-browser, --port N, and
# after -- anything for jupyter lab). For a terminal tour instead: .venv/bin/python scripts/demo.py
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[lab]'
# An editable install carries no data files: put the autoload config where pip would have (docs/autoload.md).
.venv/bin/gemini-magics autoload on >/dev/null || true
exec .venv/bin/gemini-magics lab notebooks "$@"
