"""A notebook shared with its cassette, opened in JupyterLab without a key: Run All replays it.

The test records a copy of notebooks/02_conversations.ipynb with ``gemini-magics run --replay record``
(the offline emulator answers), which writes ``shared.gemini.jsonl`` beside it in JupyterLab's root. Opened
in JupyterLab — whose kernels have no key, and learn their notebook's path from the server — Run All
answers every prompt from the cassette: each answer's widget view says *replayed* with the recording's
date and model, none says *offline emulator*, and the first says why it replays.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "shared.ipynb"
SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "02_conversations.ipynb"


def record(root: Path, tmp_path: Path) -> Path:
    notebook = root / NAME
    shutil.copyfile(SOURCE, notebook)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_MAGICS")}
    env["GEMINI_MAGICS_CHAIN_DB"] = str(tmp_path / "recording.sqlite3")
    command = [sys.executable, "-m", "gemini_magics.cli", "run", str(notebook), "--inplace", "--offline"]
    command += ["--replay", "record", "--no-widget-state"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "shared.gemini.jsonl"


def test_a_shared_notebook_replays_from_its_cassette_in_jupyterlab(
    open_notebook: Any, lab: Any, tmp_path: Path, artifacts: Path
) -> None:
    cassette = record(lab.root, tmp_path)
    assert cassette.is_file()
    nb = open_notebook(NAME)
    nb.run_all()
    nb.wait_until_done()
    prompts = [
        i for i, c in enumerate(nb.nb.cells) if c.cell_type == "code" and c.source.startswith("%%gemini")
    ]
    assert len(prompts) >= 5
    for index in prompts:
        view = nb.outputs(index).locator(".jupyter-widgets").first
        expect(view).to_be_visible()
        expect(view.get_by_text(re.compile(r"recorded \d{4}-\d\d-\d\d with gemini-"))).to_be_visible()
        expect(nb.outputs(index).get_by_text("offline emulator")).to_have_count(0)
    first = nb.outputs(prompts[0])
    expect(first.get_by_text(re.compile("no API key is set, so answers are replayed"))).to_be_visible()
    assert nb.problems() == []
    nb.screenshot(artifacts, "replayed")
