"""The seed document's own Python samples run unmodified against the emulator.

The four samples in ``seed_samples/`` are the seed's Quick Start, Stateful Conversation, Deep Research
and Streaming snippets, verbatim. They use the pre-GA shape (``interaction.outputs[-1].text``,
``content.delta`` / ``interaction.complete`` events), so they run under google-genai 1.55.0 in a separate
venv, as subprocesses. Nothing in their code names the emulator: ``genai.Client()`` takes its base URL
from ``GOOGLE_GEMINI_BASE_URL`` and its key from ``GEMINI_API_KEY``, which is all these tests set.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from emulator_testing import sdk_client

from gemini_magics.emulator import EmulatorServer

pytest_plugins = ["legacy_venv"]  # the legacy_python fixture: a Python with google-genai 1.55.0

SAMPLES = Path(__file__).parent / "seed_samples"
NAMES = ["quick_start", "stateful_conversation", "deep_research", "streaming"]
MODEL = "gemini-3-flash-preview"
MakeEmulator = Callable[..., EmulatorServer]


def run_sample(python: Path, name: str, server: EmulatorServer, cwd: Path) -> str:
    """Run one sample with only the environment pointing it at ``server``; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=server.base_url, GEMINI_API_KEY="test")
    done = subprocess.run(
        [str(python), str(SAMPLES / f"{name}.py")], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout


def ga_text(server: EmulatorServer, prompt: str) -> str:
    """The answer the GA client (google-genai 3.x) gets for ``prompt`` from the same emulator."""
    client = sdk_client(server.base_url)  # keep the Client referenced: its collection closes the transport
    interaction = client.interactions.create(model=MODEL, input=prompt)
    return [b.text for b in interaction.steps[-1].content if b.type == "text"][-1]


@pytest.mark.parametrize("name", NAMES)
def test_samples_configure_nothing_in_code(name: str) -> None:
    """The client comes from the environment alone; the header marks the file as the seed's, verbatim."""
    source = (SAMPLES / f"{name}.py").read_text()
    assert source.startswith("# The seed document's own Python sample, verbatim")
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    assert "client = genai.Client()\n" in code
    for configured in ("base_url", "http_options", "HttpOptions", "api_key", "environ", "[emulator:"):
        assert configured not in code


def test_quick_start(legacy_python: Path, make_emulator: MakeEmulator, tmp_path: Path) -> None:
    """Interact with a Model: ``interaction.outputs[-1].text`` is the joke."""
    server = make_emulator()
    out = run_sample(legacy_python, "quick_start", server, tmp_path)
    assert len(server.emulator.store) == 1, "the request reached this emulator via GOOGLE_GEMINI_BASE_URL"
    joke = out.strip()
    assert "\n" not in joke and len(joke) > 20 and joke[-1] in '.?!"'
    assert re.search(r"program|binary|SQL|bug|code", joke, re.IGNORECASE), joke
    assert joke == ga_text(server, "Tell me a short joke about programming.")  # same answer as in GA shape


def test_stateful_conversation(legacy_python: Path, make_emulator: MakeEmulator, tmp_path: Path) -> None:
    """The second turn names Phil, who is only in the first turn: previous_interaction_id carried it."""
    server = make_emulator()
    out = run_sample(legacy_python, "stateful_conversation", server, tmp_path)
    assert len(server.emulator.store) == 2
    assert "Phil" in out
    assert "Nice to meet you" not in out, "prints the second answer, not the first"


def test_deep_research_polling_loop(legacy_python: Path, make_emulator: MakeEmulator, tmp_path: Path) -> None:
    """Background agent, polled with ``get`` every 10 s until ``completed``; prints the report."""
    server = make_emulator(agent_seconds=0.5)  # done before the second poll, 10 s after the first
    out = run_sample(legacy_python, "deep_research", server, tmp_path)
    assert len(server.emulator.store) == 1
    assert not out.startswith("Failed")
    assert "Research report" in out and "Sources" in out
    assert "history of Google TPUs" in out


def test_streaming(legacy_python: Path, make_emulator: MakeEmulator, tmp_path: Path) -> None:
    """Text ``content.delta`` events print as they come, then the total from ``interaction.complete``."""
    server = make_emulator()
    out = run_sample(legacy_python, "streaming", server, tmp_path)
    assert len(server.emulator.store) == 1
    match = re.fullmatch(r"(?s)(.+)\n\nTotal Tokens: (\d+)\n", out)
    assert match, out
    streamed, total = match.group(1), int(match.group(2))
    assert total > 0
    assert "quantum entanglement" in streamed
    # Every text delta arrived: the concatenation is the whole answer the GA client gets.
    assert streamed == ga_text(server, "Explain quantum entanglement in simple terms.")
