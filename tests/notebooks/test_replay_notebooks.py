"""An example notebook recorded once, then re-run under strict nbval from its cassette alone.

``gemini-magics run --replay record`` executes a copy of the notebook against the in-kernel emulator and
writes ``NAME.gemini.jsonl`` beside it. Then ``pytest --nbval`` re-runs the saved notebook with
``GEMINI_MAGICS_REPLAY=replay``, no key, and the kernel's backend pointed at a port where nothing listens
(an IPython profile says so): every answer must come from the cassette, and strict nbval must find the
outputs as recorded — the plugin (gemini_magics/pytest_plugin.py) finds the cassette and treats only
the line that says where an answer came from as volatile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gemini_magics import cli, runner

REPO = Path(__file__).resolve().parents[2]
SANITIZE = Path(__file__).with_name("sanitize.cfg")
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def environment(tmp_path: Path, backend: str | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in KEY_VARIABLES and not k.startswith("GEMINI_MAGICS")
    }
    env["GEMINI_MAGICS_CHAIN_DB"] = str(tmp_path / f"chains-{backend is None}.sqlite3")
    env["GEMINI_MAGICS_AGENT_SECONDS"] = "1"
    profile = tmp_path / f"ipython-{backend is None}" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    if backend:
        (profile / "ipython_kernel_config.py").write_text(f"c.GeminiMagics.backend = {backend!r}\n")
    env["IPYTHONDIR"] = str(profile.parent)
    return env


@pytest.mark.parametrize("name", ["02_conversations", "08_function_calling"])
def test_a_recorded_notebook_passes_strict_nbval_from_its_cassette_alone(tmp_path: Path, name: str) -> None:
    notebook = tmp_path / f"{name}.ipynb"
    shutil.copyfile(REPO / "notebooks" / f"{name}.ipynb", notebook)
    if (REPO / "notebooks" / "data").is_dir():
        shutil.copytree(REPO / "notebooks" / "data", tmp_path / "data")
    record = [sys.executable, "-m", "gemini_magics.cli", "run", str(notebook), "--inplace"]
    record += ["--replay", "record", "--no-widget-state"]
    done = subprocess.run(
        record, env=environment(tmp_path, None), capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cassette = tmp_path / f"{name}.gemini.jsonl"
    lines = cassette.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 3 and json.loads(lines[0])["format"] == "gemini-magics cassette"
    saved = nbformat.read(notebook, as_version=4)
    outputs = [o for cell in saved.cells if cell.cell_type == "code" for o in cell.outputs]
    assert "offline emulator" in json.dumps(outputs)

    env = environment(tmp_path, "http://127.0.0.1:9")  # nothing listens: any request sent would fail
    env["GEMINI_MAGICS_REPLAY"] = "replay"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "-p", "no:randomly"]
    command += ["--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(tmp_path), str(notebook)]
    checked = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert " passed" in checked.stdout and "failed" not in checked.stdout


def test_the_cli_names_the_cassette(tmp_path: Path) -> None:
    assert runner.cassette_of(tmp_path / "analysis.ipynb") == tmp_path.resolve() / "analysis.gemini.jsonl"
    args = cli.parser().parse_args(["run", "x.ipynb", "--replay", "auto"])
    assert args.replay == "auto"
