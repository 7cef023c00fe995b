"""The ``legacy_python`` fixture: a Python with the pre-GA google-genai 1.55.0.

Test modules load it with ``pytest_plugins = ["legacy_venv"]``. It is not in a conftest.py because a
second ``conftest`` module would shadow tests/conftest.py for the modules that import ``conftest``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LEGACY_SDK_VERSION = "1.55.0"


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gemini-magics"


def _sdk_version(python: Path) -> str | None:
    if not python.exists():
        return None
    code = "from google.genai import version; print(version.__version__)"
    probe = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    return probe.stdout.strip() if probe.returncode == 0 else None


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    """A Python with google-genai==1.55.0, built once under the user's cache dir (needs PyPI once).

    1.x and the project's 3.x cannot share one environment, so the 1.x checks run in this venv.
    """
    target = _cache_dir() / "genai155"
    python = target / "bin" / "python"
    if _sdk_version(python) == LEGACY_SDK_VERSION:
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "genai155.lock", "w") as lock:  # parallel sessions build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _sdk_version(python) == LEGACY_SDK_VERSION:
            return python
        shutil.rmtree(target, ignore_errors=True)
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(target)],
                check=True, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run(
                [*pip, f"google-genai=={LEGACY_SDK_VERSION}"],
                check=True, capture_output=True, text=True, timeout=280,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            lines = str(getattr(exc, "stderr", None) or exc).strip().splitlines() or [repr(exc)]
            pytest.skip(
                f"cannot build a venv with google-genai=={LEGACY_SDK_VERSION} "
                f"(PyPI unreachable?): {lines[-1][-300:]}"
            )
    assert _sdk_version(python) == LEGACY_SDK_VERSION
    return python
