#!/usr/bin/env bash
# Set up a virtual environment with the package and its test extras, then run the whole test suite.
# This is the README's test command; .ci/run calls it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# pytest exits 5 when it collected no test: that is a failure here too, like any other non-zero code.
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
