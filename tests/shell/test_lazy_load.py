"""``%load_ext gemini_magics`` is cheap: the SDK, widgets and the emulator's server stack load on first use.

Each check runs in a fresh interpreter (``python -c``), since this test process has imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

HEAVY = ("google.genai", "ipywidgets", "starlette", "uvicorn", "gemini_magics.emulator")

PRELUDE = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
HEAVY = {heavy!r}
report = {{}}

def loaded():
    return sorted(name for name in HEAVY if name in sys.modules)

def configure():
    shell.run_line_magic("config", "GeminiMagics.chain_db = {db!r}")
    shell.run_line_magic("config", "GeminiMagics.notebook = 'lazy.ipynb'")

def ask(prompt):
    outcome = shell.run_cell("%%gemini\\n" + prompt)
    result = outcome.result
    return {{
        "success": outcome.success,
        "error": repr(outcome.error_in_exec),
        "text": getattr(result, "text", None),
        "backend": getattr(result, "backend", None),
    }}
"""


def run_fresh(body: str, tmp_path: Path) -> dict[str, Any]:
    """Run ``body`` after the prelude in a new interpreter without any API key; the dict it reports."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    prelude = PRELUDE.format(heavy=HEAVY, db=str(tmp_path / "chains.sqlite3"))
    source = prelude + textwrap.dedent(body) + '\nprint("REPORT:" + json.dumps(report))\n'
    done = subprocess.run(
        [sys.executable, "-c", source], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT:")]
    assert done.returncode == 0 and lines, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("REPORT:"))


def test_load_ext_imports_nothing_heavy_until_first_cell(tmp_path: Path) -> None:
    report = run_fresh(
        """
        report["before"] = loaded()
        shell.run_line_magic("load_ext", "gemini_magics")
        configure()
        report["after_load"] = loaded()
        report["magics"] = sorted(k for k in ("line", "cell") if "gemini" in shell.magics_manager.magics[k])
        shell.run_line_magic("gemini", "help")
        report["after_help"] = loaded()
        report["cell"] = ask("Hello, my name is Ada.")
        report["after_cell"] = loaded()
        """,
        tmp_path,
    )
    assert report["before"] == [] and report["magics"] == ["cell", "line"]
    assert report["after_load"] == [], f"%load_ext imported {report['after_load']}"
    assert report["after_help"] == [], f"%gemini help imported {report['after_help']}"
    cell = report["cell"]
    assert cell["success"], cell["error"]
    assert cell["backend"] == "offline emulator"  # no key: auto → the in-process emulator
    assert "Nice to meet you, Ada" in cell["text"]
    assert "google.genai" in report["after_cell"] and "gemini_magics.emulator" in report["after_cell"]


def test_load_twice_and_unload_then_load(tmp_path: Path) -> None:
    report = run_fresh(
        """
        shell.run_line_magic("load_ext", "gemini_magics")
        configure()
        report["first"] = ask("Hello, my name is Ada.")
        registered = shell.magics_manager.registry["GeminiMagics"]
        shell.run_line_magic("load_ext", "gemini_magics")
        report["again"] = shell.extension_manager.load_extension("gemini_magics")
        report["same_magics"] = shell.magics_manager.registry["GeminiMagics"] is registered
        report["after_again"] = ask("What is my name?")
        shell.run_line_magic("unload_ext", "gemini_magics")
        report["unloaded"] = sorted(k for k in ("line", "cell") if "gemini" in shell.magics_manager.magics[k])
        report["cell_while_unloaded"] = shell.run_cell("%%gemini\\nHi").success
        shell.run_line_magic("load_ext", "gemini_magics")
        configure()
        report["reloaded"] = ask("What is my name?")
        shell.run_line_magic("reload_ext", "gemini_magics")
        configure()
        report["after_reload_ext"] = ask("What is my name?")
        """,
        tmp_path,
    )
    for step in ("first", "after_again", "reloaded", "after_reload_ext"):
        assert report[step]["success"], (step, report[step]["error"])
    assert report["again"] == "already loaded" and report["same_magics"]
    assert report["unloaded"] == [] and report["cell_while_unloaded"] is False
    # The chain lives in the SQLite store, so it continues across unload/load (a simulated restart).
    assert "Ada" in report["after_again"]["text"]
    assert "Ada" in report["reloaded"]["text"]
    assert "Ada" in report["after_reload_ext"]["text"]
