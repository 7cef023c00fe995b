"""``$GEMINI_MAGICS_EMULATOR_URL``: with no key, cells go to the emulator the Jupyter server shares with its
kernels (so background runs outlive the kernel), not to one started in the kernel; the kernel's own
emulator settings still hold, sent as directives with every request."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from gemini_magics.backend import EMULATOR_URL_VARIABLE, Backend


@pytest.fixture
def shared(kernel: Any, make_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = make_emulator(agent_seconds=60.0)  # the server's default: a kernel that sent nothing would wait
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(EMULATOR_URL_VARIABLE, server.base_url + "/")
    kernel.shell.run_line_magic("config", "GeminiMagics.backend = 'auto'")
    return server


def test_cells_go_to_the_shared_emulator_with_the_kernels_settings(kernel: Any, shared: Any) -> None:
    from gemini_magics import _registered

    before = len(shared.emulator.store)
    result = kernel.cell("", "Hello")
    assert result.ok and result.backend == "offline emulator"
    backend = _registered.runner().backend
    assert backend._emulator is None and backend._emulator_url() == shared.base_url  # none started here
    kernel.shell.run_line_magic("config", "GeminiMagics.emulator_agent_seconds = 0.3")
    report = kernel.cell("--research --wait", "Tides")  # 60 s on the server's setting; 0.3 s on ours
    assert report.ok and report.elapsed < 20
    kernel.shell.run_line_magic("config", "GeminiMagics.emulator_directives = 'fail=refused by directive'")
    with pytest.raises(UsageError, match="refused by directive"):
        kernel.cell("", "Hello again")
    assert len(shared.emulator.store) - before == 3


def test_a_key_wins_over_the_shared_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EMULATOR_URL_VARIABLE, "http://127.0.0.1:9")
    monkeypatch.setenv("GEMINI_API_KEY", "a-key-of-mine")
    assert Backend("auto").target().kind == "gemini"
    monkeypatch.setenv(EMULATOR_URL_VARIABLE, "not a url")
    monkeypatch.delenv("GEMINI_API_KEY")
    assert Backend.shared_emulator() is None  # ignored: the kernel starts its own
