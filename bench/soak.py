"""Soak: a long chain of streamed ``%%gemini`` turns (every 10th with an image) in ONE real kernel.

What a notebook left open all day does: hundreds of turns on one chain in one ipykernel, each cell's iopub
messages read as a front end reads them. It runs the soak twice, each time in a fresh kernel against a
fresh emulator process and chain store:

1. tracemalloc off: the headline, what every turn costs the kernel's real memory (RSS), whether that
   growth is linear or flattens (RSS samples), whether turns get slower;
2. tracemalloc on (``--frames``, default 1) for the whole measured run: the Python heap's growth per turn
   and who holds it (IPython's caches of each cell's result, ipywidgets' registry of every widget, or
   something else), and this pass's own RSS per turn, to show what tracemalloc itself adds (its tables are
   in the RSS, and it makes every cell several times slower).

Both passes check that the chain store still agrees with the kernel at the end.

The emulator runs in its own process (``bench/emulator_process.py``), so its memory is not counted.
Run: ``python bench/soak.py`` (500 turns a pass, about two minutes in all; ``--turns 50 --no-record`` for
a trial, ``--frames 0 --no-record`` for the untraced pass alone). It records its figures with
``tests/reliability_figures.py`` (``docs/reliability.md``) and exits non-zero if a cell failed or a chain
is inconsistent.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from emulator_process import start_emulator  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(_path))

NOTEBOOK = "soak.ipynb"
IMAGE_MODEL = "gemini-3-pro-image-preview"  # gemini_magics/emulator/catalog.py: answers with a PNG
MIB = 1024 * 1024

# Defined once in the kernel, by cells kept out of its history. Every probe collects garbage first, so a
# sample counts what is still referenced, not what merely waits for the collector.
KERNEL_SETUP = """
import gc as _soak_gc, json as _soak_json, os as _soak_os, tracemalloc as _soak_tm
from ipywidgets import Widget as _soak_Widget
from ipywidgets.widgets import widget as _soak_widget

def _soak_probe():
    _soak_gc.collect()
    return _soak_json.dumps({
        "traced": _soak_tm.get_traced_memory()[0] if _soak_tm.is_tracing() else 0,
        "overhead": _soak_tm.get_tracemalloc_memory(),
        "widgets": len(_soak_widget._instances),
    })

def _soak_snapshot(path):
    # Dumped to a file and dropped at once: a snapshot kept in the kernel would itself be traced growth.
    _soak_tm.take_snapshot().dump(path)
    return "true"

def _soak_trim():
    # Hand the allocator's free memory back to the system (glibc), so RSS shows what is in use.
    _soak_gc.collect()
    try:
        import ctypes
        return _soak_json.dumps(bool(ctypes.CDLL("libc.so.6").malloc_trim(0)))
    except (OSError, AttributeError):
        return "null"
"""

# What the kernel keeps of every cell by design, released one by one at the end to see what each held.
# Memory two holders share counts for the one released last.
HOLDERS = (
    ("IPython's Out/_oh/_N (the Result objects)", "get_ipython().displayhook.flush()"),
    (
        "IPython's history_manager.outputs (bundles)",
        "_soak_hm = get_ipython().history_manager; _soak_hm.outputs.clear(); "
        "_soak_hm.output_hist_reprs.clear(); del _soak_hm",
    ),
    ("ipywidgets' registry and comms (the views)", "_soak_Widget.close_all()"),
)


class SoakError(RuntimeError):
    """A cell failed or the kernel misbehaved: the soak is void."""


@dataclass
class Cell:
    """What a front end saw of one executed cell."""

    reply: dict[str, Any]
    seconds: float = 0.0
    messages: int = 0
    errors: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None  # content of the execute_result message


class Kernel:
    """One ipykernel driven as a front end drives it: every iopub message of a cell is read before the next
    cell is sent, so nothing piles up in the kernel's send queue."""

    def __init__(self, env: dict[str, str], cwd: Path, timeout: float) -> None:
        from jupyter_client.manager import start_new_kernel

        self.timeout = timeout
        self.log = cwd / "kernel.log"  # its stderr: shown when a cell fails, not mixed into the table
        with self.log.open("wb") as log:
            self.km, self.kc = start_new_kernel(
                kernel_name="python3", env=env, cwd=str(cwd), stdout=log, stderr=log
            )

    def run(self, code: str, *, history: bool = True, expressions: dict[str, str] | None = None) -> Cell:
        """Execute ``code``; raise ``SoakError`` unless it ended ``ok`` with no error or stderr output."""
        seen = Cell(reply={})

        def hook(msg: dict[str, Any]) -> None:
            seen.messages += 1
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "error":
                seen.errors.append(f"{content.get('ename')}: {content.get('evalue')}")
            elif kind == "stream" and content.get("name") == "stderr":
                seen.errors.append(f"stderr: {content.get('text', '').strip()}")
            elif kind == "execute_result":
                seen.result = content

        started = time.perf_counter()
        seen.reply = self.kc.execute_interactive(
            code,
            store_history=history,
            user_expressions=expressions or {},
            timeout=self.timeout,
            output_hook=hook,
            allow_stdin=False,
        )
        seen.seconds = time.perf_counter() - started
        status = seen.reply["content"].get("status")
        if status != "ok" or seen.errors:
            detail = "; ".join(seen.errors) or seen.reply["content"].get("evalue", "")
            log = self.log.read_text(errors="replace")[-2000:]
            raise SoakError(
                f"cell failed ({status}): {detail}\n--- the cell ---\n{code}\n--- kernel log ---\n{log}"
            )
        return seen

    def value(self, expression: str) -> Any:
        """The value of a kernel expression that returns JSON text (evaluated outside the history)."""
        reply = self.run("pass", history=False, expressions={"v": expression}).reply
        found = reply["content"]["user_expressions"]["v"]
        if found.get("status") != "ok":
            raise SoakError(f"{expression}: {found.get('ename')}: {found.get('evalue')}")
        return json.loads(ast.literal_eval(found["data"]["text/plain"]))

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


@dataclass
class Figures:
    """Everything one soak measured; ``report`` prints it, ``record_figures`` keeps it for the docs."""

    turns: int
    warmup: int
    image_every: int
    frames: int  # tracemalloc's frames during the measured turns; 0: tracemalloc off
    images: int = 0
    messages: int = 0
    ids: list[str] = field(default_factory=list)  # every turn's interaction id, as the cells showed it
    times: list[float] = field(default_factory=list)  # wall seconds of each measured cell
    kernel_cpu: list[float] = field(default_factory=list)  # CPU seconds of the kernel in each cell
    emulator_cpu: list[float] = field(default_factory=list)  # ... and of the emulator process
    samples: list[list[float]] = field(default_factory=list)  # [turn, RSS MiB]
    start: dict[str, Any] = field(default_factory=dict)  # probe after warm-up (+ "rss")
    end: dict[str, Any] = field(default_factory=dict)  # probe after the last turn (+ "rss")
    rss_trimmed: float | None = None  # RSS at the end after malloc_trim(0), None without glibc
    rss_released: float = 0.0  # ... after releasing the HOLDERS too
    held: list[tuple[str, float]] = field(default_factory=list)  # holder → KiB a turn
    seconds: float = 0.0
    last_id: str = ""
    problems: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)

    @property
    def growth(self) -> float:
        return self.end["rss"] - self.start["rss"]

    @property
    def per_turn_kib(self) -> float:
        return self.growth * 1024 / self.turns

    @property
    def traced_per_turn_kib(self) -> float:
        return (self.end["traced"] - self.start["traced"]) / 1024 / self.turns

    @property
    def residual_kib(self) -> float:
        """Traced growth per turn that none of the HOLDERS accounted for."""
        return self.traced_per_turn_kib - sum(kib for _, kib in self.held)

    @property
    def overhead_mib(self) -> float:
        """Growth of tracemalloc's own memory (part of the RSS) over the measured turns."""
        return (self.end["overhead"] - self.start["overhead"]) / MIB

    def halves(self) -> list[float]:
        """RSS growth per turn (KiB) in the first and the second half of the measured turns."""
        samples, half = self.samples, len(self.samples) // 2
        return [
            (b[1] - a[1]) * 1024 / (b[0] - a[0])
            for a, b in ((samples[0], samples[half]), (samples[half], samples[-1]))
            if b[0] > a[0]
        ]


class Soak:
    """The turns and the probes, against one kernel and one emulator process."""

    def __init__(self, kernel: Kernel, emulator_pid: int, figures: Figures) -> None:
        import psutil

        self.kernel = kernel
        self.figures = figures
        self.process = psutil.Process(kernel.value("_soak_json.dumps(_soak_os.getpid())"))
        self.emulator = psutil.Process(emulator_pid)

    def rss(self) -> float:
        """The kernel's resident memory now, in MiB."""
        return self.process.memory_info().rss / MIB

    def probe(self) -> dict[str, Any]:
        """After a garbage collection in the kernel: RSS (MiB), traced heap, tracemalloc's own memory
        (bytes) and the number of live widgets."""
        found = self.kernel.value("_soak_probe()")
        found["rss"] = self.rss()
        return found

    def turn(self, label: str, image: bool, last: bool = False, measured: bool = True) -> None:
        """One ``%%gemini`` cell on the notebook's chain; checks what came back, as a reader would."""
        line = "%%gemini" + (f" -m {IMAGE_MODEL}" if image else "") + (" last" if last else "")
        prompt = (
            f"Soak turn {label}: draw an owl on a branch at night."
            if image
            else f"Soak turn {label}: tell me one short fact about owls."
        )
        cpu = _cpu(self.process), _cpu(self.emulator)
        cell = self.kernel.run(f"{line}\n{prompt}")
        result = cell.result or {}
        gemini = (result.get("metadata") or {}).get("gemini") or {}
        if gemini.get("status") != "completed" or not gemini.get("interaction_id"):
            raise SoakError(f"turn {label}: no completed result ({gemini or 'no execute_result'})")
        if image and "image/png" not in result.get("data", {}):
            raise SoakError(f"turn {label}: the image model's answer has no image/png")
        fig = self.figures
        fig.ids.append(gemini["interaction_id"])
        if measured:
            fig.images += image
            fig.messages += cell.messages
            fig.times.append(cell.seconds)
            fig.kernel_cpu.append(_cpu(self.process) - cpu[0])
            fig.emulator_cpu.append(_cpu(self.emulator) - cpu[1])


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return times.user + times.system


def soak(
    kernel: Kernel, emulator_pid: int, url: str, args: argparse.Namespace, frames: int, tmp: Path
) -> Figures:
    """Warm up, then run the measured turns (with tracemalloc on if ``frames``), then release what the
    kernel keeps of every cell (with tracemalloc: and see who held the growth)."""
    kernel.run(KERNEL_SETUP, history=False)
    for line in (
        "%load_ext gemini_magics",
        f"%config GeminiMagics.backend = {url!r}",
        f"%config GeminiMagics.notebook = {NOTEBOOK!r}",
    ):
        kernel.run(line)
    fig = Figures(args.turns, args.warmup, args.image_every, frames)
    run = Soak(kernel, emulator_pid, fig)
    for n in range(1, args.warmup + 1):  # the last warm-up turn is an image turn
        run.turn(f"w{n}", image=n == args.warmup or n % args.image_every == 0, measured=False)

    # The baseline: (in the traced pass) tracing on and a snapshot to compare the end against. No
    # malloc_trim here: the allocator would re-grow what it gave back, and the turns would be charged for it.
    if frames:
        kernel.run(f"_soak_tm.start({frames})", history=False)
        kernel.value(f"_soak_snapshot({str(tmp / 'start.snapshot')!r})")
    fig.start = run.probe()
    fig.samples.append([0, round(fig.start["rss"], 2)])
    print(f"  warm-up {args.warmup} turns; RSS {fig.start['rss']:.1f} MiB", flush=True)

    started = time.perf_counter()
    for n in range(1, args.turns + 1):
        run.turn(str(n), image=n % args.image_every == 0, last=n == args.turns)
        if n % args.sample_every == 0 and n != args.turns:
            fig.samples.append([n, round(run.probe()["rss"], 2)])
            print(f"  turn {n}: RSS {fig.samples[-1][1]:.1f} MiB", flush=True)
    fig.seconds = time.perf_counter() - started
    fig.end = run.probe()
    fig.samples.append([args.turns, round(fig.end["rss"], 2)])
    fig.last_id = kernel.value("_soak_json.dumps(last.id)")
    if kernel.value("_soak_trim()") is not None:
        fig.rss_trimmed = run.rss()

    # Release what IPython and ipywidgets keep of every cell, one holder at a time. Every turn since the
    # kernel started is held, the warm-up's too: per turn is what was released / all turns.
    before = fig.end["traced"]
    for name, code in HOLDERS:
        kernel.run(code, history=False)
        now = run.probe()["traced"]
        if frames:
            fig.held.append((name, (before - now) / 1024 / (args.turns + args.warmup)))
        before = now
    kernel.value("_soak_trim()")
    fig.rss_released = run.rss()
    if frames:
        kernel.value(f"_soak_snapshot({str(tmp / 'end.snapshot')!r})")
        fig.sites = sites(tmp / "start.snapshot", tmp / "end.snapshot", frames)
    return fig


def check_chain(db: Path, ids: list[str], last_id: str) -> list[str]:
    """What is wrong with the chain store after the soak (empty: consistent). It must hold exactly the
    turns sent, all completed, each sent after the one before, and its head must be the last turn."""
    from gemini_magics.chain import ChainStore

    problems = []
    with ChainStore(db) as store:
        chain = store.chain(NOTEBOOK, store.active_name(NOTEBOOK))
        turns, head = chain.turns(), chain.head
    if len(turns) != len(ids):
        problems.append(f"{len(turns)} turns stored, {len(ids)} sent")
    if any(t.status != "completed" for t in turns):
        problems.append(f"{sum(t.status != 'completed' for t in turns)} turns not completed")
    if [t.interaction_id for t in turns] != ids:
        problems.append("the stored interaction ids differ from those the cells showed")
    if len(set(ids)) != len(ids):
        problems.append("an interaction id repeats")
    if [t.parent_id for t in turns] != [None, *ids[:-1]]:
        problems.append("a turn was not sent after the turn before it")
    if not ids or head != last_id or last_id != ids[-1]:
        problems.append(f"head {head}, the kernel's last result {last_id}, the last cell showed {ids[-1:]}")
    return problems


def sites(before: Path, after: Path, frames: int, top: int = 12) -> list[str]:
    """The allocation sites whose live memory grew most between two kernel snapshots; with more than one
    frame, also the innermost gemini_magics line that asked for it."""
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    lines = []
    for stat in new.compare_to(old, "lineno")[:top]:
        frame = stat.traceback[0]
        lines.append(
            f"{stat.size_diff / 1024:+10.0f} KiB {stat.count_diff:+8d} blocks  "
            f"{_short(frame.filename)}:{frame.lineno}"
        )
    if frames > 1:
        ours: dict[str, int] = {}
        for stat in new.compare_to(old, "traceback"):
            mine = [f for f in stat.traceback if "gemini_magics" in f.filename]  # oldest frame first
            key = f"{_short(mine[-1].filename)}:{mine[-1].lineno}" if mine else "(not under gemini_magics)"
            ours[key] = ours.get(key, 0) + stat.size_diff
        lines.append("  by the innermost gemini_magics frame:")
        lines += [
            f"{size / 1024:+10.0f} KiB  {key}"
            for key, size in sorted(ours.items(), key=lambda kv: -kv[1])[:top]
        ]
    return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", "gemini_magics/", "lib/python3"):
        if marker in filename:
            return filename[filename.index(marker) :]
    return filename


def versions() -> str:
    found = [f"Python {platform.python_version()}"]
    for name in ("google-genai", "ipykernel", "ipython", "ipywidgets"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def kernel_env(db: Path, ipython_dir: Path) -> dict[str, str]:
    """The kernel's environment: no API key (the emulator answers), the chain store and IPython's profile
    (history database) in the soak's temp dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env["GEMINI_MAGICS_CHAIN_DB"] = str(db)
    env["IPYTHONDIR"] = str(ipython_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def report(passes: list[Figures]) -> None:
    """The table on stdout: one column a pass (untraced, then traced)."""
    n = passes[0].turns
    w = min(50, n)
    traced = next((fig for fig in passes if fig.frames), None)

    def first_last(values: list[float], average: Any = statistics.median) -> str:
        return f"{average(values[:w]) * 1000:.1f} → {average(values[-w:]) * 1000:.1f} ms"

    def trimmed(fig: Figures) -> str:
        return "(no glibc)" if fig.rss_trimmed is None else f"{fig.rss_trimmed:.1f} MiB"

    rows: list[tuple[str, ...]] = [
        ("", *(f"tracemalloc on ({f.frames} frame(s))" if f.frames else "tracemalloc off" for f in passes)),
        (
            "turns measured (after warm-up)",
            *(f"{f.turns} ({f.images} image), warm-up {f.warmup}" for f in passes),
        ),
        ("iopub messages read", *(f"{f.messages:,} ({f.messages / n:.0f} a turn)" for f in passes)),
        ("kernel RSS start → end", *(f"{f.start['rss']:.1f} → {f.end['rss']:.1f} MiB" for f in passes)),
        ("RSS growth", *(f"{f.growth:.2f} MiB" for f in passes)),
        ("RSS growth per turn", *(f"{f.per_turn_kib:.1f} KiB" for f in passes)),
        ("  first half → second half", *(" → ".join(f"{s:.1f} KiB" for s in f.halves()) for f in passes)),
        ("RSS at the end after malloc_trim(0)", *(trimmed(f) for f in passes)),
        ("RSS after releasing the holders (+ trim)", *(f"{f.rss_released:.1f} MiB" for f in passes)),
        ("live widgets start → end", *(f"{f.start['widgets']:,} → {f.end['widgets']:,}" for f in passes)),
        (
            "wall time of the measured turns",
            *(f"{f.seconds:.1f} s, {f.seconds / n * 1000:.0f} ms a turn" for f in passes),
        ),
        (f"cell wall time, median of the first → last {w}", *(first_last(f.times) for f in passes)),
        (
            f"kernel CPU a cell, mean of the first → last {w}",
            *(first_last(f.kernel_cpu, statistics.fmean) for f in passes),
        ),
        (
            f"emulator CPU a cell, mean of the first → last {w}",
            *(first_last(f.emulator_cpu, statistics.fmean) for f in passes),
        ),
        (
            "chain consistent (head = last turn, all completed)",
            *("yes" if not f.problems else "NO" for f in passes),
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"\nSoak: {versions()}, {os.cpu_count()} CPUs")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for fig in passes:
        label = "traced" if fig.frames else "untraced"
        print(f"RSS samples, {label} (turn: MiB): " + ", ".join(f"{t}: {m:.1f}" for t, m in fig.samples))
    if traced is not None:
        untraced = passes[0] if passes[0] is not traced else None
        heap = [
            ("Python heap (tracemalloc) growth per turn", f"{traced.traced_per_turn_kib:.1f} KiB"),
            *((f"  of it held by {name}", f"{kib:.1f} KiB") for name, kib in traced.held),
            ("  the rest (IPython's input history, caches...)", f"{traced.residual_kib:.1f} KiB"),
            (
                "tracemalloc's own memory growth (in the RSS)",
                f"{traced.overhead_mib:.2f} MiB, {traced.overhead_mib * 1024 / n:.1f} KiB per turn",
            ),
        ]
        if untraced is not None:
            cpu_ratio = statistics.fmean(traced.kernel_cpu) / statistics.fmean(untraced.kernel_cpu)
            heap.append(
                (
                    "RSS per turn, traced − untraced",
                    f"{traced.per_turn_kib - untraced.per_turn_kib:+.1f} KiB "
                    f"({traced.per_turn_kib:.1f} vs {untraced.per_turn_kib:.1f})",
                )
            )
            heap.append(
                (
                    "wall time of the turns, traced ÷ untraced",
                    f"{traced.seconds / untraced.seconds:.2f}× (kernel CPU a cell {cpu_ratio:.2f}×)",
                )
            )
        width = max(len(k) for k, _ in heap)
        print(f"\nThe traced pass ({traced.frames} frame(s)):")
        print("\n".join(f"{k.ljust(width)}  {v}" for k, v in heap))
        if traced.sites:
            print("\nWhat the rest is: the largest heap growth by allocation site, the holders released:")
            print("\n".join(traced.sites))
    for fig in passes:
        for problem in fig.problems:
            print(f"INCONSISTENT ({'traced' if fig.frames else 'untraced'}): {problem}", file=sys.stderr)


def record_figures(untraced: Figures, traced: Figures) -> Path:
    """The headline from the untraced pass, the heap's breakdown (and what tracemalloc costs) from the
    traced one."""
    from reliability_figures import record

    return record(
        "soak",
        {
            "turns": untraced.turns,
            "image_every": untraced.image_every,
            "python": versions(),
            "warmup": untraced.warmup,
            # Pass 1, tracemalloc off: the kernel's real memory and time.
            "rss_start_mib": round(untraced.start["rss"], 2),
            "rss_end_mib": round(untraced.end["rss"], 2),
            "growth_mib": round(untraced.growth, 3),
            "per_turn_kib": round(untraced.per_turn_kib, 2),
            "per_turn_halves_kib": [round(kib, 2) for kib in untraced.halves()],
            "samples": untraced.samples,
            "rss_end_trimmed_mib": None if untraced.rss_trimmed is None else round(untraced.rss_trimmed, 2),
            "seconds": round(untraced.seconds, 1),
            # Pass 2, tracemalloc on: who holds the heap's growth, and what tracing adds to the RSS.
            "frames": traced.frames,
            "traced_per_turn_kib": round(traced.traced_per_turn_kib, 2),
            "held_per_turn_kib": {
                name: round(kib, 2) for name, kib in [*traced.held, ("the rest", traced.residual_kib)]
            },
            "traced_rss_per_turn_kib": round(traced.per_turn_kib, 2),
            "tracemalloc_own_mib": round(traced.overhead_mib, 2),
            "traced_seconds": round(traced.seconds, 1),
            "consistent": not untraced.problems and not traced.problems,
        },
    )


def run_pass(args: argparse.Namespace, frames: int) -> Figures:
    """One soak in a fresh kernel against a fresh emulator process and chain store, then the store's check."""
    tmp = Path(tempfile.mkdtemp(prefix="gemini-soak-"))
    db = tmp / "chains.sqlite3"
    emulator = kernel = None
    try:
        emulator, url = start_emulator()
        kernel = Kernel(kernel_env(db, tmp / "ipython"), tmp, args.timeout)
        fig = soak(kernel, emulator.pid, url, args, frames, tmp)
        fig.problems = check_chain(db, fig.ids, fig.last_id)
        return fig
    finally:
        try:
            if kernel is not None:
                kernel.close()
        finally:
            if emulator is not None:
                emulator.terminate()
                emulator.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500, help="measured turns of each pass (default 500)")
    parser.add_argument("--image-every", type=int, default=10, help="every Nth turn uses the image model")
    parser.add_argument("--warmup", type=int, default=10, help="turns before measuring (default 10)")
    parser.add_argument("--sample-every", type=int, default=50, help="an RSS sample every N turns")
    parser.add_argument(
        "--frames",
        type=int,
        default=1,
        help="tracemalloc frames of the traced pass (more: slower, finds our lines; "
        "0: no traced pass, RSS and time only)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a cell may take")
    parser.add_argument("--no-record", action="store_true", help="do not record the figures (a trial run)")
    args = parser.parse_args()
    if min(args.turns, args.image_every, args.warmup, args.sample_every) < 1 or args.frames < 0:
        parser.error("--turns, --image-every, --warmup and --sample-every must be at least 1")
    if args.frames == 0 and not args.no_record:
        parser.error("--frames 0 measures no heap growth, which the recorded figures need: add --no-record")

    started = time.perf_counter()
    plan = [0, args.frames] if args.frames else [0]
    passes: list[Figures] = []
    print(versions(), flush=True)
    for number, frames in enumerate(plan, 1):
        tracing = f"tracemalloc on ({frames} frame(s))" if frames else "tracemalloc off"
        print(f"pass {number} of {len(plan)}: {tracing}, fresh kernel and emulator", flush=True)
        try:
            passes.append(run_pass(args, frames))
        except (SoakError, TimeoutError) as exc:  # a cell that never ends is a failure too
            print(f"\nSOAK ABORTED (pass {number}): {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    report(passes)
    turns = ", ".join(str(len(fig.ids)) for fig in passes)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s ({turns} turns on the chains)")
    if not args.no_record:
        print(f"recorded {record_figures(*passes).relative_to(ROOT)}")
    return 0 if not any(fig.problems for fig in passes) else 1


if __name__ == "__main__":
    sys.exit(main())
