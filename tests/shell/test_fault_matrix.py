"""The fault matrix: every emulator fault × every way a cell talks to the service, through real cells.

Each cell of the matrix starts a conversation on its own notebook (so there is a head to keep), runs one
faulted ``%%gemini`` cell, and then asks "What is my name?" to prove the kernel and the chain still work.
It *survived* when the faulted cell gave an answer or one ``UsageError`` line (no other exception, no
traceback), a failure left the head where it was, and the next cell continued the conversation. The
outcomes become the table in ``docs/reliability.md`` (``reliability_figures``); the test fails when a
cell of the matrix did not survive.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.error import UsageError
from reliability_figures import record

from gemini_magics.chain import ChainStore
from gemini_magics.emulator import EmulatorServer

MODES = {
    "sync": "--no-stream",
    "streaming": "",
    "background": "--background --wait",
    "tool loop": "--tool get_weather",
}
PROMPT = {"tool loop": "What is the weather in Paris?"}
RESUMED = ("stream cut after 3 events", "cut, then the resume replays 2 events and hangs")
HANG_LIMIT = 5.0  # seconds before the test presses Ctrl-C on a cell that waits for ever


@dataclass
class Fault:
    name: str
    directives: str = ""
    retries: int = 0
    expire_head: bool = False
    refused_key: bool = False


FAULTS = [
    Fault("429 with Retry-After: 1 (retries = 1)", "error=429x1, retry_after=1", retries=1),
    Fault("429, no retries left", "error=429"),
    Fault("500", "error=500"),
    Fault("503 once (retries = 1)", "error=503x1", retries=1),
    Fault("503, no retries left", "error=503"),
    Fault("stream cut after 3 events", "cut=3"),
    Fault("stream stalls after 3 events", "stall=3"),
    Fault("cut, then the resume replays 2 events and hangs", "cut=3, half_resume=2"),
    Fault("the model fails", "fail=the model gave up"),
    Fault("expired chain head", expire_head=True),
    Fault("refused API key", refused_key=True),
]


def sigint_after(seconds: float) -> threading.Timer:
    """Jupyter's interrupt: SIGINT to the kernel's main thread, unless the cell ended first."""
    timer = threading.Timer(seconds, signal.pthread_kill, (threading.main_thread().ident or 0, signal.SIGINT))
    timer.start()
    return timer


def heads(kernel: Any) -> dict[str, str | None]:
    with ChainStore(kernel.db) as store:
        return {info.name: info.head for info in store.chains(kernel.notebook)}


def run_cell(kernel: Any, line: str, body: str) -> tuple[Any, str | None, float, bool]:
    """(result, UsageError message, seconds, Ctrl-C pressed); other exceptions propagate."""
    started = time.monotonic()
    timer = sigint_after(HANG_LIMIT)
    try:
        value, message = kernel.cell(line, body), None
    except UsageError as exc:
        value, message = None, str(exc)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    return value, message, elapsed, elapsed >= HANG_LIMIT


def describe(value: Any, message: str | None, elapsed: float, pressed: bool) -> str:
    if message is None:
        notes = " ".join(getattr(value, "notes", []) or [])
        how = "answer"
        if "re-sent" in notes:
            how = "answer; the transcript was re-sent"
        return how + (f" after {elapsed:.0f} s" if elapsed >= 0.95 else "")
    if pressed:
        return "waits until Ctrl-C: interrupted, one line" + (
            ", partial kept" if "shown above" in message else ""
        )
    kinds = [
        ("HTTP 429", "quota"),
        ("HTTP 50", "unavailable"),
        ("API key", "refused key"),
        ("stream ended", "cut"),
        ("gave up", "model failure"),
        ("HTTP 404", "not found"),
    ]
    kind = next((k for needle, k in kinds if needle in message), "error")
    return f"one line ({kind})" + (", partial kept" if "shown above" in message else "")


@pytest.fixture
def weather(shell: Any) -> Callable[[str], str]:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    shell.user_ns["get_weather"] = get_weather
    return get_weather


@pytest.mark.slow
def test_fault_matrix(
    make_kernel: Any,
    make_emulator: Callable[..., EmulatorServer],
    emulator: EmulatorServer,
    weather: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    strict = make_emulator(api_keys=frozenset({"the-right-key"}))
    rows, problems = [], []
    for fault in FAULTS:
        cells = {}
        for mode, flags in MODES.items():
            kernel = make_kernel(
                f"matrix-{uuid.uuid4().hex[:6]}.ipynb",
                base_url=strict.base_url if fault.refused_key else None,
            )
            kernel.shell.user_ns["get_weather"] = weather  # a kernel start resets the namespace
            for setting in (
                f"GeminiMagics.retries = {fault.retries}",
                "GeminiMagics.research_stall = 1.0",
                "GeminiMagics.research_poll_max = 0.5",
            ):
                kernel.shell.run_line_magic("config", setting)
            survived, why = True, ""
            if not fault.refused_key:
                seed = kernel.cell("", "Hi, my name is Phil.")
                if fault.expire_head:
                    assert emulator.expire(seed.id) == 1
            before = heads(kernel)
            capsys.readouterr()
            body = PROMPT.get(mode, "Tell me a joke.")
            if fault.directives:
                body += f" [emulator: {fault.directives}]"
            try:
                value, message, elapsed, pressed = run_cell(kernel, flags, body)
            except BaseException as exc:  # anything but a UsageError is a traceback for the user
                value, message, elapsed, pressed = None, None, 0.0, False
                survived, why = False, f"{type(exc).__name__}: {exc}"
            shown = capsys.readouterr()
            if survived and re.search(r"Traceback|^\s*File \"", shown.out + shown.err, re.MULTILINE):
                survived, why = False, "a traceback in the output"
            if survived and message is not None:
                if "\n" in message.strip():
                    survived, why = False, "an error of several lines"
                elif {k: v for k, v in heads(kernel).items() if k in before or v is not None} != before:
                    survived, why = False, "the failed cell moved the chain head"
            if survived and not fault.refused_key:
                follow = kernel.cell("", "What is my name?")
                if "Phil" not in follow.text:
                    survived, why = False, f"the next cell lost the conversation: {follow.text[:80]!r}"
            outcome = describe(value, message, elapsed, pressed) if survived or not why else why
            cells[mode] = {"outcome": outcome, "survived": survived}
            if not survived:
                problems.append(f"{fault.name} × {mode}: {why}")
            kernel.shell.run_line_magic("unload_ext", "gemini_magics")
        rows.append({"fault": fault.name, "cells": cells})
    record("fault_matrix", {"modes": list(MODES), "rows": rows})
    assert not problems, "\n".join(problems)
    for row in rows:  # a dropped stream of a stored interaction is resumed, not reported
        if row["fault"] in RESUMED:
            for mode in ("sync", "streaming", "background", "tool loop"):
                assert row["cells"][mode]["outcome"].startswith("answer"), (row["fault"], mode)
