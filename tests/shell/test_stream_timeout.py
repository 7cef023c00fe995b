"""A streamed answer that goes silent for ``stream_timeout``: a stored one is resumed after its last event;
one that cannot be resumed (not stored) ends the cell, keeping what arrived."""

from __future__ import annotations

import time

from gemini_magics.chain import ChainStore


def test_stalled_stream_gives_up_and_keeps_the_partial_answer(kernel) -> None:
    kernel.cell("", "Hi, my name is Phil.")
    head = ChainStore(kernel.db).chain(kernel.notebook).head
    kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 1.0")
    try:
        started = time.monotonic()
        outcome = kernel.run("%%gemini part --no-store\nTell me a story [emulator: stall=12, deltas=50]")
        assert time.monotonic() - started < 8  # the stall would otherwise last until Ctrl-C
    finally:
        kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 300.0")
    assert not outcome.success
    message = str(outcome.error_in_exec)
    assert "did not answer in time" in message and "\n" not in message
    assert kernel.shell.user_ns["part"].text  # the words that arrived before the stall are kept
    assert ChainStore(kernel.db).chain(kernel.notebook).head == head


def test_stalled_stored_stream_is_resumed(kernel) -> None:
    whole = kernel.cell("--no-store", "Tell me a story [emulator: deltas=50]")
    kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 1.0")
    try:
        started = time.monotonic()
        resumed = kernel.cell("", "Tell me a story [emulator: stall=12, deltas=50]")
        assert time.monotonic() - started < 8
    finally:
        kernel.shell.run_line_magic("config", "GeminiMagics.stream_timeout = 300.0")
    assert resumed.ok and resumed.text == whole.text
    assert ChainStore(kernel.db).chain(kernel.notebook).head == resumed.id
