"""The flags of the notebook-aware assistant, ``--code [all]`` and ``--context KIND``, kept beside
``options.py`` (as ``map_flags.py`` is); ``assistant/`` does the work.

``--code`` takes an optional value, so ``%%gemini --code answer`` would read ``answer`` as the value: a
name that is neither ``first`` nor ``all`` is the cell's variable instead (when it has none yet).
"""

from __future__ import annotations

import argparse

CONTEXTS = ("cells", "vars", "all", "none")  # --context: the cells run before, the variables, both


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--code",
        nargs="?",
        const="first",
        metavar="all",
        help="put the answer's first Python block in a new cell below, not run (--code all: every block)",
    )
    p.add_argument(
        "--context",
        metavar="KIND",
        help=f"tell the model about the notebook: {', '.join(CONTEXTS[:-1])} or none (default: the setting)",
    )


def check(ns: argparse.Namespace) -> None:
    """One line per mistake; raises ``ValueError``. ``--context`` is normalised (``ALL`` → ``all``)."""
    if ns.code not in (None, "first", "all"):
        if ns.variable is None and ns.code.isidentifier():
            ns.variable, ns.code = ns.code, "first"  # %%gemini --code answer: answer is the variable
        else:
            raise ValueError(f"--code {ns.code}: write --code (the first Python block) or --code all")
    if ns.context is not None:
        if ns.context.strip().lower() not in CONTEXTS:
            raise ValueError(f"--context {ns.context!r}: choose one of {', '.join(CONTEXTS)}")
        ns.context = ns.context.strip().lower()
    for flag, used in (("--code", ns.code), ("--context", ns.context)):
        if used and ns.map_source:
            raise ValueError(f"{flag} applies to one answer: not with --map")
    if ns.code and (ns.background or ns.agent or ns.research) and not ns.wait:
        raise ValueError("--code needs the answer when the cell ends: with a background run, add --wait")
