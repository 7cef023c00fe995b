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

# The install below builds the JupyterLab extension from src/ (hatch-jupyter-builder: jlpm install, then
# TypeScript and rspack, about 3 minutes with a cold package cache); that needs Node.js 20.19+ and npm's
# registry. The browser tests load that build (tests/browser/conftest.py links it).
if ! command -v node >/dev/null; then
  echo "scripts/test.sh: Node.js 20.19 or newer is needed to build the JupyterLab extension (src/)" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The test extra includes the lab extra: JupyterLab, ipykernel, nbclient; and nbval, Playwright. The
# editable install builds the JupyterLab extension (a development build; skipped while it is newer than
# src/) and installs it, with the server extension's config, into .venv.
.venv/bin/python -m pip install -q -e '.[test]'

# testpaths (pyproject.toml) are tests/ and notebooks/; --nbval makes the notebooks tests too.
exec .venv/bin/python -m pytest -p no:cacheprovider --nbval "$@"
