"""``gemini-magics run``: execute notebooks headless, each in a fresh kernel, and save the executed copies.

Several notebooks run one after another, and the kernel of the next one boots while the current one runs
(and the finished one shuts down while the next one runs), so a set of notebooks costs about the time of
its cells — what CI re-running replayed notebooks pays. Each notebook still gets its own new kernel, its
own environment (its cassette) and its own working directory, exactly as a single run would.

Nothing here imports google.genai; nbclient comes with the ``lab`` extra.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
STOP_WAIT = 5.0  # seconds a finished notebook's kernel gets to exit by itself


@dataclass
class Job:
    """One notebook to run: where it is, where its executed copy goes, and its kernel's environment."""

    source: Path
    target: Path
    env: dict[str, str]
    kernel: str = "python3"
    notebook: Any = None  # the nbformat notebook, read before its kernel starts
    manager: Any = None  # its kernel manager, started early


def cassette_of(notebook: Path) -> Path:
    """``NAME.ipynb`` → ``NAME.gemini.jsonl`` beside it (what ``replay.cassette.path_for`` says; not
    imported, to keep the CLI free of the package's imports)."""
    name = notebook.name[: -len(".ipynb")] if notebook.name.endswith(".ipynb") else notebook.name
    return notebook.resolve().with_name(name + ".gemini.jsonl")


def backend_name(offline: bool = False) -> str:
    if not offline and any(os.environ.get(name, "").strip() for name in KEY_VARIABLES):
        return "Gemini (an API key is set in the environment)"
    return "the offline emulator (no GEMINI_API_KEY): answers are simulated"


def plan(args: Any) -> list[Job] | str:
    """The jobs of ``args`` (the ``run`` subcommand's), or the one-line reason they cannot run."""
    sources = [Path(n) for n in args.notebook]
    missing = [s for s in sources if not s.is_file()]
    if missing:
        return f"no such notebook: {missing[0]}"
    if args.inplace and args.output:
        return "use either -o/--output or --inplace"
    if args.output and len(sources) > 1:
        return "-o/--output names one notebook's copy; with several, use --inplace or NAME.executed.ipynb"
    jobs = []
    for source in sources:
        env = dict(os.environ)
        if args.offline:
            for name in KEY_VARIABLES:
                env.pop(name, None)
        if args.replay:  # the kernel records to / replays from the notebook's cassette
            env["GEMINI_MAGICS_REPLAY"] = args.replay
            env.setdefault("GEMINI_MAGICS_CASSETTE", str(cassette_of(source)))
        target = source if args.inplace else Path(args.output or source.with_suffix(".executed.ipynb"))
        jobs.append(Job(source, target, env))
    return jobs


def run(args: Any) -> int:
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        print("nbclient is not installed: pip install 'gemini-magics[lab]'", file=sys.stderr)
        return 1
    jobs = plan(args)
    if isinstance(jobs, str):
        print(jobs, file=sys.stderr)
        return 2 if "either" in jobs or "-o/--output" in jobs else 1
    failed: list[Path] = []
    closing: list[Any] = []  # kernels asked to shut down, finished while the next notebook runs
    try:
        _boot(jobs[0], args)
        for number, job in enumerate(jobs):
            if number + 1 < len(jobs):
                _boot(jobs[number + 1], args)  # boots while this notebook runs
            print(f"Running {job.source} against {_against(job, args)}", flush=True)
            if not _execute(job, args):
                failed.append(job.source)
            closing.append(job.manager)
            while len(closing) > 1:
                _finish(closing.pop(0))
    finally:
        for job in jobs:  # a notebook that never ran (Ctrl-C) still has its kernel stopped
            if job.manager is not None and job.manager not in closing:
                closing.append(job.manager)
        for manager in closing:
            _finish(manager)
    if failed and len(jobs) > 1:
        names = ", ".join(p.name for p in failed)
        print(f"{len(failed)} of {len(jobs)} notebooks failed: {names}", file=sys.stderr)
    return 1 if failed else 0


def _against(job: Job, args: Any) -> str:
    if args.replay == "replay":
        return f"its cassette {cassette_of(job.source).name} (replay: nothing is sent)"
    against = backend_name(args.offline)
    if args.replay:
        against += f", {args.replay} with the cassette {cassette_of(job.source).name}"
    return against


def _boot(job: Job, args: Any) -> None:
    """Read the notebook and start its kernel process (not waiting for it: it boots in the background)."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.util import run_sync

    job.notebook = nbformat.read(job.source, as_version=4)
    job.kernel = args.kernel or job.notebook.metadata.get("kernelspec", {}).get("name", "python3")
    manager = AsyncKernelManager(kernel_name=job.kernel)
    extra = ["--HistoryManager.hist_file=:memory:"] if manager.ipykernel else []
    cwd = str(job.source.resolve().parent)
    run_sync(manager.start_kernel)(extra_arguments=extra, env=job.env, cwd=cwd)
    job.manager = manager


def _execute(job: Job, args: Any) -> bool:
    """Run every cell of ``job`` in its kernel and save the executed copy; False when a cell failed."""
    import nbclient
    import nbformat

    nb = job.notebook
    if not args.widget_state:
        nb.metadata.pop("widgets", None)  # what an earlier run saved
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings an earlier run saved
    client = nbclient.NotebookClient(
        nb,
        km=job.manager,
        timeout=args.timeout,
        kernel_name=job.kernel,
        allow_errors=args.allow_errors,
        store_widget_state=args.widget_state,
        record_timing=False,  # no timestamps in cell metadata: reruns differ only where outputs do
        resources={"metadata": {"path": str(job.source.resolve().parent)}},
    )
    failed, started = None, time.monotonic()
    try:
        client.execute()
    except (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError) as exc:
        failed = exc
    finally:
        if client.kc is not None:
            client.kc.shutdown()  # the kernel exits by itself (its atexit hooks run) while we go on
            client.kc.stop_channels()
    job.target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, job.target)
    if failed is not None:
        first = str(failed).strip().splitlines()
        print(f"A cell failed; what ran is saved in {job.target}\n" + "\n".join(first[-12:]), file=sys.stderr)
        return False
    print(f"Wrote {job.target} ({time.monotonic() - started:.2f} s)", flush=True)
    return True


def _finish(manager: Any) -> None:
    """Wait for a kernel asked to shut down (it usually has exited already), kill it after ``STOP_WAIT``
    seconds, and free its connection file."""
    from nbclient.util import run_sync

    run_sync(_stop)(manager)


async def _stop(manager: Any) -> None:
    deadline = time.monotonic() + STOP_WAIT
    while await manager.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if await manager.is_alive():
        await manager.shutdown_kernel(now=True)
    else:
        await manager.cleanup_resources()
