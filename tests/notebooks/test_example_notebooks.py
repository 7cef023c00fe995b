"""The example notebooks as committed, and the headless runner that executes them.

``pytest --nbval notebooks/`` re-executes every notebook and compares its outputs (see notebooks/conftest.py
and sanitize.cfg beside this file). These tests check what nbval cannot: that the committed copies are
complete runs of the offline emulator with nothing emulator-only or secret in them, that
``gemini-magics run`` writes executed copies, and that a notebook it saved passes strict nbval — the
streamed live view included, which nbclient and nbval record differently unless it ends as it began.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest

from gemini_magics import cli
from gemini_magics.options import SUBCOMMANDS

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SANITIZE = Path(__file__).with_name("sanitize.cfg")
BADGE = "`offline emulator`"


def load(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def is_prompt(source: str) -> bool:
    if source.startswith("%%gemini"):
        return True
    words = source.split()
    return len(words) > 1 and words[0] == "%gemini" and words[1] not in SUBCOMMANDS


def is_map(source: str) -> bool:
    """A ``--map`` cell: its answers are the rows of a DataFrame under a summary line, not one answer."""
    return source.startswith("%%gemini") and "--map" in source.split("\n", 1)[0].split()


def expects_error(cell: Any) -> bool:
    return "raises-exception" in cell.metadata.get("tags", [])


def failures(cell: Any) -> list[Any]:
    """Error outputs, and the stderr line a UsageError leaves (the magics' one-line messages)."""
    return [
        o
        for o in cell.outputs
        if o.output_type == "error" or (o.output_type == "stream" and o.text.startswith("UsageError:"))
    ]


def test_there_are_notebooks() -> None:
    names = [p.stem for p in NOTEBOOKS]
    wanted_names = ("quick_start", "conversations", "thinking", "streaming", "image_generation")
    wanted_names += ("code_execution", "image_input", "function_calling", "structured_output")
    wanted_names += ("deep_research", "audio")
    wanted_names += ("grounding", "replay", "map_over_data", "assistant")
    for wanted in wanted_names:
        assert any(name.endswith(wanted) for name in names), f"no notebook for {wanted}: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_the_outputs_of_one_emulator_run(path: Path) -> None:
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata, "saved widget state: run with gemini-magics run --no-widget-state"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not one Run All in order"
    for cell in code:
        assert bool(failures(cell)) == expects_error(cell), f"unexpected error state in: {cell.source[:60]}"
        assert "execution" not in cell.metadata, "timestamps: run with gemini-magics run"
        if is_prompt(cell.source) and not expects_error(cell):
            shown = [o.data["text/markdown"] for o in cell.outputs if "text/markdown" in o.get("data", {})]
            if is_map(cell.source):  # the summary over the DataFrame; with --background, the job's handle
                plain = [o.data.get("text/plain", "") for o in cell.outputs if "data" in o]
                summary = bool(shown) and shown[-1].startswith(BADGE) and "\n**--map** " in shown[-1]
                handle = any(p.startswith("<MapJob") for p in plain)
                assert summary or handle, f"no --map result: {cell.source[:60]}"
                continue
            replayed = "`replayed` — " if path.stem == "13_replay" else BADGE  # replayed emulator answers
            assert shown and shown[-1].startswith((BADGE, replayed)), (
                f"not an emulator answer: {cell.source[:60]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_run_unchanged_against_gemini(path: Path) -> None:
    """No emulator-only directive, setting or address in any cell: a key alone switches to Gemini."""
    for cell in load(path).cells:
        if cell.cell_type != "code":
            continue
        for forbidden in (
            "[emulator:",
            "emulator_directives",
            "GeminiMagics.backend",
            "127.0.0.1",
            "localhost",
        ):
            assert forbidden not in cell.source, f"{forbidden!r} in {path.name}: {cell.source[:60]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_secret_or_local_path_in_a_notebook(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"AIza[0-9A-Za-z_\-]{20,}", text), "something that looks like an API key"
    assert "emulator-no-key" not in text
    for private in (str(Path.home()), "/tmp/", str(REPO)):
        assert private not in text, f"a local path in {path.name}: {private}"


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def nbval(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval"]
    command += ["--nbval-sanitize-with", str(SANITIZE), str(path)]
    return subprocess.run(command, cwd=path.parent, capture_output=True, text=True, timeout=180)


def test_run_saves_an_executed_copy_that_strict_nbval_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(tmp_path / "chains.sqlite3"))
    source = write_notebook(
        tmp_path / "chat.ipynb",
        [
            "%load_ext gemini_magics",
            "%%gemini\nHi, my name is Phil.",  # streamed: a live view, then the final view
            "%%gemini --no-stream\nWhat is my name?",
            "%gemini history",
        ],
    )
    out = tmp_path / "executed" / "chat.ipynb"
    assert cli.main(["run", str(source), "-o", str(out), "--offline", "--no-widget-state"]) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    assert not load(source).cells[1].outputs, "the source notebook was changed"

    cells = load(out).cells
    streamed = cells[1].outputs
    # The live view (a display that was updated while streaming) is saved as it was first displayed,
    # empty — which is also what nbval, ignoring display updates, records — then the final view.
    assert streamed[0].output_type == "display_data" and dict(streamed[0].data) == {"text/plain": ""}
    assert streamed[1].output_type == "execute_result"
    assert "Your name is **Phil**." in cells[2].outputs[0].data["text/markdown"]
    assert "◀ head" in cells[3].outputs[0].data["text/markdown"]

    checked = nbval(out)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "4 passed" in checked.stdout


def test_run_reports_a_failing_cell_and_keeps_what_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(tmp_path / "chains.sqlite3"))
    source = write_notebook(
        tmp_path / "broken.ipynb",
        ["%load_ext gemini_magics", "%%gemini --no-stream\nHello [emulator: error=400]", "print('after')"],
    )
    assert cli.main(["run", str(source), "--offline"]) == 1
    err = capsys.readouterr().err
    assert "A cell failed" in err and "HTTP 400" in err
    saved = load(tmp_path / "broken.executed.ipynb")
    [error] = failures(saved.cells[1])
    assert error.text.startswith("UsageError: rate limit") or "HTTP 400" in error.text, error.text
    assert "Traceback" not in error.text
    assert not saved.cells[2].outputs  # the run stopped at the failing cell


def test_run_takes_several_notebooks_each_in_its_own_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each notebook gets a fresh kernel (nothing leaks from one to the next), its own working directory,
    and a failing one does not stop the others; the exit status says something failed."""
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(tmp_path / "chains.sqlite3"))
    (tmp_path / "b").mkdir()
    first = write_notebook(tmp_path / "a.ipynb", ["import os, sys\nleaked = 42\nprint(os.getpid())"])
    broken = write_notebook(tmp_path / "b" / "broken.ipynb", ["1 / 0"])
    chat = write_notebook(
        tmp_path / "b" / "chat.ipynb",
        [
            "import os\nprint(os.getpid(), os.path.basename(os.getcwd()), 'leaked' in globals())",
            "%load_ext gemini_magics",
            "%%gemini --no-stream\nHi, my name is Phil.",
        ],
    )
    assert cli.main(["run", str(first), str(broken), str(chat), "--offline"]) == 1
    shown = capsys.readouterr()
    assert "1 of 3 notebooks failed: broken.ipynb" in shown.err
    assert shown.out.count("Wrote ") == 2
    pid = load(tmp_path / "a.executed.ipynb").cells[0].outputs[0].text.strip()
    other, folder, leaked = load(tmp_path / "b" / "chat.executed.ipynb").cells[0].outputs[0].text.split()
    assert other != pid and folder == "b" and leaked == "False"
    answer = load(tmp_path / "b" / "chat.executed.ipynb").cells[2].outputs[0].data["text/markdown"]
    assert "Phil" in answer
    assert failures(load(tmp_path / "b" / "broken.executed.ipynb").cells[0])
    assert cli.main(["run", str(first), str(chat), "-o", "x.ipynb"]) == 2
    assert "-o/--output names one notebook" in capsys.readouterr().err


def test_run_and_lab_refuse_what_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(tmp_path / "missing.ipynb")]) == 1
    assert cli.main(["lab", str(tmp_path / "missing")]) == 1
    assert cli.main(["run", str(tmp_path / "x.ipynb"), "-o", "y.ipynb", "--inplace"]) in (1, 2)
    err = capsys.readouterr().err
    assert "no such notebook" in err and "no such directory" in err


def test_lab_command_line(tmp_path: Path) -> None:
    command = cli.lab_command(tmp_path, 8899, True, ["--ServerApp.token=abc"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert "--ServerApp.port=8899" in command and "--no-browser" in command
    assert command[-1] == "--ServerApp.token=abc"
    assert (
        cli.default_notebooks() == REPO / "notebooks" or Path.cwd() / "notebooks" == cli.default_notebooks()
    )


def test_lab_serves_the_notebooks(tmp_path: Path) -> None:
    """``gemini-magics lab`` (the main job's command) starts JupyterLab on notebooks/."""
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "c"), JUPYTER_RUNTIME_DIR=str(tmp_path / "r"))
    command = [sys.executable, "-m", "gemini_magics.cli", "lab", "--no-browser", "--port", str(port)]
    command += ["--", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=t", "--ServerApp.port_retries=0"]
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token=t"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    listing = json.load(answer)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.3)
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in NOTEBOOKS} <= names
        printed = log.read_text()
        assert "Backend: the offline emulator" in printed and "Opening JupyterLab on" in printed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_console_script_is_declared() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'gemini-magics = "gemini_magics.cli:main"' in text
    shared = tomllib.loads(text)["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    # the autoload config travels with the wheel, into the environment's etc/ipython
    assert shared["jupyter-config/ipython/ipython_kernel_config.py"] == "etc/ipython/ipython_kernel_config.py"
