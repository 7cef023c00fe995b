#!/usr/bin/env bash
# The README's test command (.ci/run calls it): set up everything on a fresh machine, then run the whole
# suite — tests/ (unit, shell, conformance, notebooks, browser) and the example notebooks under strict
# nbval (notebooks/conftest.py adds the sanitize file). Extra arguments go to pytest. pytest exits
# non-zero when a test fails and 5 when none ran, and so does this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "Installing Debian's chromium for the browser tests (about a minute)..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The test extra includes the lab extra: JupyterLab, ipykernel, nbclient; and nbval, Playwright.
.venv/bin/python -m pip install -q -e '.[test]'

# testpaths (pyproject.toml) are tests/ and notebooks/; --nbval makes the notebooks tests too.
exec .venv/bin/python -m pytest -p no:cacheprovider --nbval "$@"
