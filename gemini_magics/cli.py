"""``gemini-magics``: open JupyterLab on the example notebooks, run a notebook headless, check autoload.

    gemini-magics lab [DIR] [--port N] [--no-browser] [-- JUPYTER LAB ARGS...]
    gemini-magics run NOTEBOOK... [-o OUT | --inplace] [--offline] [--replay MODE] [--no-widget-state]
                      [--allow-errors]
    gemini-magics autoload [status|on|off]

Without GEMINI_API_KEY / GOOGLE_API_KEY every answer comes from the offline emulator, in JupyterLab and in
``run`` alike. Nothing here imports google.genai; ``run`` needs nbclient, ``lab`` needs JupyterLab (both in
the ``lab`` extra: ``pip install 'gemini-magics[lab]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from .runner import backend_name

AUTOLOAD_FILE = "ipython_kernel_config.py"
AUTOLOAD_MARK = "gemini-magics: ``%%gemini`` and ``%gemini`` in every IPython kernel"
AUTOLOAD_OFF = ("0", "false", "no", "off")


# -- autoload ----------------------------------------------------------------------------------------


def autoload_path(prefix: str | None = None) -> Path:
    """Where pip installs the autoload config: ``<sys.prefix>/etc/ipython/ipython_kernel_config.py``."""
    return Path(prefix or sys.prefix) / "etc" / "ipython" / AUTOLOAD_FILE


def autoload_source() -> Path | None:
    """The config file in a source checkout (editable installs do not install data files)."""
    source = Path(__file__).resolve().parent.parent / "jupyter-config" / "ipython" / AUTOLOAD_FILE
    return source if source.is_file() else None


def autoload_state() -> tuple[bool, str]:
    """(active, one line explaining why) for kernels started from this environment."""
    path = autoload_path()
    if os.environ.get("GEMINI_MAGICS_AUTOLOAD", "1").strip().lower() in AUTOLOAD_OFF:
        return False, "off: GEMINI_MAGICS_AUTOLOAD is set to turn it off"
    if not path.is_file():
        return False, f"off: {path} is missing (editable install?): run `gemini-magics autoload on`"
    if AUTOLOAD_MARK not in path.read_text(encoding="utf-8", errors="replace"):
        return False, f"unknown: {path} belongs to something else"
    return True, f"on: {path} declares %%gemini lazily for every kernel of this environment"


def autoload(action: str) -> int:
    path = autoload_path()
    if action == "status":
        active, why = autoload_state()
        print(f"autoload {why}")
        return 0 if active else 1
    if action == "on":
        if path.is_file():
            if AUTOLOAD_MARK in path.read_text(encoding="utf-8", errors="replace"):
                print(f"autoload is already on: {path}")
                return 0
            print(f"{path} exists and is not gemini-magics' file: not overwritten", file=sys.stderr)
            return 1
        source = autoload_source()
        if source is None:
            print("the autoload config is not in this installation: reinstall gemini-magics", file=sys.stderr)
            return 1
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        print(f"autoload on: wrote {path}")
        return 0
    # off
    if path.is_file() and AUTOLOAD_MARK in path.read_text(encoding="utf-8", errors="replace"):
        path.unlink()
        print(f"autoload off: removed {path} (`gemini-magics autoload on` puts it back)")
    else:
        print("autoload is already off")
    return 0


# -- lab -----------------------------------------------------------------------------------------------


def default_notebooks() -> Path:
    """``./notebooks`` when it exists, else the checkout's ``notebooks/``, else the current directory."""
    for candidate in (Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    return Path.cwd()


def lab_command(root: Path, port: int | None, no_browser: bool, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")  # containers and CI machines run as root
    return command + extra


def lab(args: argparse.Namespace) -> int:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        print("JupyterLab is not installed: pip install 'gemini-magics[lab]'", file=sys.stderr)
        return 1
    root = Path(args.dir).resolve() if args.dir else default_notebooks()
    if not root.is_dir():
        print(f"no such directory: {root}", file=sys.stderr)
        return 1
    print(f"Backend: {backend_name()}")
    active, why = autoload_state()
    print(f"Autoload {why}" + ("" if active else "; notebooks can still run %load_ext gemini_magics"))
    print(f"Opening JupyterLab on {root}", flush=True)
    command = lab_command(root, args.port, args.no_browser, args.jupyter_args)
    if os.name == "posix":
        os.execv(command[0], command)  # JupyterLab owns the terminal (and its Ctrl-C) from here
    import subprocess

    return subprocess.call(command)


# -- run -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from .runner import run as run_notebooks

    return run_notebooks(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gemini-magics", description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="command", required=True)

    lab_p = sub.add_parser("lab", help="open JupyterLab on the example notebooks with %%gemini ready")
    lab_p.add_argument("dir", nargs="?", help="directory to open (default: ./notebooks or the checkout's)")
    lab_p.add_argument("--port", type=int, help="port for JupyterLab (default: 8888 or the next free one)")
    lab_p.add_argument("--no-browser", action="store_true", help="do not open a web browser")

    run_p = sub.add_parser(
        "run", help="execute notebooks headless (nbclient, a fresh kernel each) and save the executed copies"
    )
    run_p.add_argument("notebook", nargs="+", help="one or more notebooks, run one after another")
    run_p.add_argument("-o", "--output", help="the executed copy (default: NAME.executed.ipynb)")
    run_p.add_argument("--inplace", action="store_true", help="overwrite the notebook with the executed copy")
    run_p.add_argument("--timeout", type=int, default=600, help="seconds one cell may take (default 600)")
    run_p.add_argument("--kernel", help="kernel name (default: the notebook's)")
    run_p.add_argument(
        "--offline", action="store_true", help="ignore API keys: answers come from the offline emulator"
    )
    run_p.add_argument(
        "--replay",
        choices=("record", "replay", "auto"),
        help="record to, replay from (no key, nothing sent) or both with the notebook's NAME.gemini.jsonl",
    )
    run_p.add_argument("--allow-errors", action="store_true", help="keep going after a failing cell")
    run_p.add_argument(
        "--no-widget-state",
        dest="widget_state",
        action="store_false",
        help="do not save widget state (outputs keep their static Markdown/PNG views)",
    )

    auto_p = sub.add_parser("autoload", help="%%gemini in every kernel of this environment: status, on, off")
    auto_p.add_argument("action", nargs="?", choices=("status", "on", "off"), default="status")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["lab"] and "--" in argv:  # everything after -- goes to jupyter lab unchanged
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser().parse_args(argv)
    if args.command == "lab":
        args.jupyter_args = extra
        return lab(args)
    if args.command == "run":
        return run(args)
    return autoload(args.action)


if __name__ == "__main__":
    sys.exit(main())
