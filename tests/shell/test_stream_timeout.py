"""A streamed answer that goes silent ends the cell after ``stream_timeout``, keeping what arrived."""

from __future__ import annotations

import time

from gemini_magics.chain import ChainStore


def test_stalled_stream_gives_up_and_keeps_the_partial_answer(kernel) -> None:
    kernel.cell("", "Hi, my name is Phil.")
    head = ChainStore(kernel.db).chain(kernel.notebook).head
    kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 1.0")
    try:
        started = time.monotonic()
        outcome = kernel.run("%%gemini part\nTell me a story [emulator: stall=12, deltas=50]")
        assert time.monotonic() - started < 8  # the stall would otherwise last until Ctrl-C
    finally:
        kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 300.0")
    assert not outcome.success
    message = str(outcome.error_in_exec)
    assert "did not answer in time" in message and "\n" not in message
    assert kernel.shell.user_ns["part"].text  # the words that arrived before the stall are kept
    assert ChainStore(kernel.db).chain(kernel.notebook).head == head
