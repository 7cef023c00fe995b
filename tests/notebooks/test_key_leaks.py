"""Every example notebook, run in a real kernel with a recognisable fake key, leaves the key nowhere.

Each notebook of ``notebooks/`` runs unchanged with nbclient (as ``gemini-magics run`` does, widget state
saved) in its own ipykernel whose environment has ``GEMINI_API_KEY=FAKE``. The kernels' IPython directory
is a temporary one whose ``ipython_kernel_config.py`` points ``GeminiMagics.backend`` at an emulator that
requires a key and accepts only FAKE, so every answer proves the key travelled; it also sends the kernels'
Python logging, at DEBUG, to a file per kernel. Then the key (and its base64 forms) is looked for in: every
output and every error text of every executed notebook, each notebook as written by nbformat (widget state
included), the chain store's files, the kernels' stdout/stderr and logs, the IPython directory (history)
the emulator's own logs (uvicorn and the app, DEBUG, access log on), and the cassette each notebook
recorded beside itself (the kernels run with ``GEMINI_MAGICS_REPLAY=record``). The figures go to
``docs/reliability.md`` as ``key_leaks_notebooks``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from leak_scan import Tally

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FAKE = "AIzaFAKE-gm-notebooks-0123456789abcdef"
# The research notebook's agent runs this long, as under nbval (notebooks/conftest.py): its cells that run
# while it works (three seconds of the user's own work, the panel, %gemini wait) still see it running.
AGENT_SECONDS = 7.0
PARALLEL = 3  # kernels at once (most of a notebook's time is waiting: kernel start, the agent)
KERNEL_LOG = "GEMINI_MAGICS_TEST_KERNEL_LOG"

KERNEL_CONFIG = """\
# Written by tests/notebooks/test_key_leaks.py: the keyed emulator, and the kernel's logging at DEBUG.
import logging
import os

c = get_config()  # noqa: F821
c.GeminiMagics.backend = {backend!r}
logging.basicConfig(
    level=logging.DEBUG,
    filename=os.environ[{log!r}],
    format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s",
    force=True,
)
"""


@dataclass
class Run:
    """One notebook's run: the executed notebook, where it was written, its kernel's files, the error."""

    name: str
    nb: Any
    path: Path
    logs: list[Path]
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (cell, execute_reply content)
    seconds: float = 0.0
    error: str | None = None


def kernel_environment(root: Path, ipython_dir: Path, notebook: Path, log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(
        GEMINI_API_KEY=FAKE,
        IPYTHONDIR=str(ipython_dir),
        GEMINI_MAGICS_CHAIN_DB=str(root / "chains.sqlite3"),
        GEMINI_MAGICS_AGENT_SECONDS=str(AGENT_SECONDS),  # only the in-kernel emulator's; unused here
        JPY_SESSION_NAME=str(notebook),  # what the Jupyter server tells a kernel: one chain per notebook
        GEMINI_MAGICS_REPLAY="record",  # and each notebook records its cassette beside it, scanned too
        PYTHONUNBUFFERED="1",
    )
    env[KERNEL_LOG] = str(log)
    return env


async def execute(source: Path, root: Path, ipython_dir: Path, limit: asyncio.Semaphore) -> Run:
    import nbclient

    name = source.stem
    nb = nbformat.read(source, as_version=4)
    logs = [root / "logs" / f"{name}.{kind}" for kind in ("stdout", "stderr", "log")]
    run = Run(name, nb, root / "executed" / source.name, logs)
    client = nbclient.NotebookClient(
        nb,
        timeout=240,
        kernel_name="python3",
        allow_errors=False,  # only the cells tagged raises-exception may fail
        store_widget_state=True,
        record_timing=False,
        ipython_hist_file=str(ipython_dir / "profile_default" / "history.sqlite"),
        resources={"metadata": {"path": str(source.parent)}},
        on_cell_executed=lambda cell, cell_index, execute_reply: run.replies.append(
            (cell_index, execute_reply.get("content", {}))
        ),
    )
    env = kernel_environment(root, ipython_dir, source, logs[2])
    async with limit:
        started = time.monotonic()
        with logs[0].open("wb") as stdout, logs[1].open("wb") as stderr:
            try:
                await client.async_execute(env=env, stdout=stdout, stderr=stderr)
            except Exception as exc:  # a cell that failed: reported with the notebook's name, after the scan
                run.error = f"{type(exc).__name__}: {exc}"[-3000:]
        run.seconds = time.monotonic() - started
    nbformat.write(nb, run.path)
    return run


async def execute_all(sources: list[Path], root: Path, ipython_dir: Path) -> list[Run]:
    limit = asyncio.Semaphore(PARALLEL)
    sources = sorted(sources, key=lambda s: ("research" not in s.stem, s.name))  # the longest first
    return list(await asyncio.gather(*(execute(s, root, ipython_dir, limit) for s in sources)))


@pytest.fixture
def emulator_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Everything the emulator (in this process) logs, at DEBUG and with uvicorn's access log, in a file."""
    import uvicorn

    path = tmp_path / "emulator.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    config = uvicorn.Config
    monkeypatch.setattr(
        uvicorn, "Config", lambda app, **kw: config(app, **{**kw, "log_level": "debug", "access_log": True})
    )
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "gemini_magics", "starlette")
    levels = {name: logging.getLogger(name).level for name in names}

    def attach() -> None:  # after uvicorn configured its loggers (``uvicorn`` and its access log do not
        for name in names:  # propagate): the same file for all, DEBUG
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.DEBUG)

    yield path, attach
    for name in names:
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).setLevel(levels[name])
    handler.close()


def interaction_ids(nb: Any) -> list[str]:
    """The interaction ids the notebook's answers name in their metadata (``--no-store`` turns and
    ``%gemini fix`` answers aside: sent with store=false, the service keeps nothing of them)."""
    ids = []
    for cell in nb.cells:
        first = cell.source.partition("\n")[0]
        if "--no-store" in first or first.split()[:2] == ["%gemini", "fix"]:
            continue
        for output in cell.get("outputs", []):
            gemini = output.get("metadata", {}).get("gemini", {})
            if gemini.get("interaction_id"):
                ids.append(gemini["interaction_id"])
    return ids


def raised(cell: Any) -> str:
    """What a committed cell tagged raises-exception raised: its error output's name (a real exception, such
    as 15_assistant's ZeroDivisionError before ``%gemini fix``), else the magics' one-line UsageError."""
    return next((o.ename for o in cell.outputs if o.output_type == "error"), "UsageError")


def outputs_text(nb: Any) -> str:
    return json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)


def failed_cells(nb: Any) -> list[int]:
    """Cells with an error output, or the stderr line a UsageError leaves (the magics' one-line messages)."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if any(
            o.output_type == "error" or (o.output_type == "stream" and o.text.startswith("UsageError:"))
            for o in cell.get("outputs", [])
        )
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(sys.platform == "win32", reason="kernels with redirected stdout: POSIX only")
def test_no_notebook_leaks_the_key(tmp_path: Path, emulator_log: Any) -> None:
    from gemini_magics.emulator import EmulatorServer, Settings

    assert len(NOTEBOOKS) >= 10, NOTEBOOKS
    log_path, attach = emulator_log
    # A copy of notebooks/ (the notebooks read data/ relatively; nothing is written into the checkout).
    work = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", work, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for folder in ("executed", "logs"):
        (tmp_path / folder).mkdir()
    ipython_dir = tmp_path / "ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)

    keyed = EmulatorServer(
        Settings(require_key=True, api_keys=frozenset({FAKE}), agent_seconds=AGENT_SECONDS)
    )
    keyed.start()
    try:
        attach()
        config = KERNEL_CONFIG.format(backend=keyed.base_url, log=KERNEL_LOG)
        (profile / "ipython_kernel_config.py").write_text(config, encoding="utf-8")
        started = time.monotonic()
        # A loop of its own in a thread: earlier tests of the session (Playwright's sync API) may leave one
        # running in this thread, where asyncio.run refuses to start.
        with ThreadPoolExecutor(1) as pool:
            work_list = sorted(work.glob("*.ipynb"))
            runs = pool.submit(asyncio.run, execute_all(work_list, tmp_path, ipython_dir)).result()
        seconds = time.monotonic() - started
        known = {
            i for run in runs for i in interaction_ids(run.nb) if keyed.emulator.store.get(i) is not None
        }
    finally:
        keyed.stop()

    # -- the scan ---------------------------------------------------------------------------------------
    tally = Tally(
        FAKE,
        "key_leaks_notebooks",
        f"All {len(runs)} example notebooks run unchanged by nbclient in real kernels with a fake "
        "GEMINI_API_KEY against a keyed emulator; outputs, error texts, saved notebooks and widget state, "
        "chain store, recorded cassettes, kernel stdout/stderr/DEBUG logs, IPython history and emulator logs "
        "scanned.",
    )
    for run in runs:
        for number, cell in enumerate(run.nb.cells):
            for i, output in enumerate(cell.get("outputs", [])):
                where = f"{run.name} cell {number} output {i}"
                tally.scan(where, json.dumps(output, ensure_ascii=False))
                if output.output_type == "error":
                    text = "\n".join([output.ename, output.evalue, *output.traceback])
                    tally.scan(f"{where}: the error's name, value and traceback", text)
        for number, reply in run.replies:  # what the kernel said of each cell (a UsageError leaves no
            if reply.get("status") == "error":  # error output, only a line on stderr and this reply)
                text = "\n".join(
                    [reply.get("ename", ""), reply.get("evalue", ""), *reply.get("traceback", [])]
                )
                tally.scan(f"{run.name} cell {number}: the exception's name, value and traceback", text)
        widgets = run.nb.metadata.get("widgets")
        if widgets:
            tally.scan(f"{run.name}: saved widget state", json.dumps(widgets, ensure_ascii=False))
        tally.scan(f"{run.name}: the executed notebook file", run.path.read_bytes())
        for log in run.logs:
            tally.scan(f"{run.name}: kernel {log.suffix[1:]}", log.read_bytes() if log.exists() else b"")
    cassettes = sorted(work.glob("*.gemini.jsonl"))
    for cassette in cassettes:
        tally.scan(f"cassette {cassette.name}", cassette.read_bytes())
    stores = sorted(tmp_path.glob("chains.sqlite3*"))
    for store in stores:
        tally.scan(f"chain store {store.name}", store.read_bytes())
    for path in sorted(p for p in ipython_dir.rglob("*") if p.is_file()):
        tally.scan(f"IPython directory: {path.relative_to(ipython_dir)}", path.read_bytes())
    tally.scan("the emulator's log", log_path.read_bytes())
    tally.record(notebooks={run.name: round(run.seconds, 1) for run in runs}, seconds=round(seconds, 1))

    # -- the scan could have found something ----------------------------------------------------------
    failed = {run.name: run.error for run in runs if run.error}
    assert not failed, f"notebooks that failed with a key: {failed}"
    assert len(cassettes) >= 10 and all(c.stat().st_size > 1000 for c in cassettes), cassettes
    for run in runs:
        # The same cells failed as in the committed run of the offline emulator (the ones meant to).
        committed = nbformat.read(REPO / "notebooks" / run.path.name, as_version=4)
        assert failed_cells(run.nb) == failed_cells(committed), run.name
        ids = interaction_ids(run.nb)
        assert ids, f"{run.name}: no answer with an interaction id"
        # Every answer came from the keyed emulator, which refuses any other key: the key travelled.
        missing = [i for i in ids if i not in known]
        assert not missing, f"{run.name}: answers the keyed emulator never gave: {missing}"
        assert "`offline emulator`" not in outputs_text(run.nb), f"{run.name} used the in-kernel emulator"
        kernel_log = run.logs[2].read_text(encoding="utf-8", errors="replace")
        assert f"HTTP Request: POST {keyed.base_url}/" in kernel_log, (
            f"{run.name}: no DEBUG log of the kernel"
        )
    by_name = {run.name: run for run in runs}
    executed = {name: outputs_text(run.nb) for name, run in by_name.items()}
    assert "Your name is **Phil**" in executed["02_conversations"]
    errors = {
        (run.name, n): reply.get("ename") for run in runs for n, reply in run.replies if "ename" in reply
    }
    meant = {  # the cells tagged raises-exception, the only ones meant to fail, and what each raised
        (path.stem, number): raised(cell)
        for path in NOTEBOOKS
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if "raises-exception" in cell.metadata.get("tags", [])
    }
    assert errors == meant, errors
    assert "in_progress" in executed["10_deep_research"]  # its cells ran while the agent worked
    research = by_name["10_deep_research"].nb.metadata.get("widgets", {})
    state = json.dumps(research)
    assert "application/vnd.jupyter.widget-state+json" in research and "Research report" in state
    assert stores and any(b"Phil" in p.read_bytes() for p in stores), "the chain store holds no turn"
    emulator_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert '"POST /v1' in emulator_text, "the emulator's access log is missing"
    assert tally.places > 100 and tally.scanned_bytes > 1_000_000, (tally.places, tally.scanned_bytes)

    # -- and found nothing ----------------------------------------------------------------------------
    tally.check()
