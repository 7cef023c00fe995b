"""Record a notebook's cells against the emulator at a URL, then replay them with that server gone.

The sequence is what a notebook does: a chain of three, a ``--from`` branch, a tool loop, an image out,
a file in, ``--schema``, research with ``--wait`` and a streamed answer over three continuation hops.
Replayed, every cell gives the same text, parsed value, images and chain; a changed prompt, model or
tool result fails as one line naming the cell; ``auto`` asks the service only for what changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Kernel
from IPython.core.interactiveshell import InteractiveShell
from shell_checks import failed, ok

from gemini_magics.emulator import EmulatorServer, Settings

SETUP = '''
import pydantic

class City(pydantic.BaseModel):
    name: str
    population: int

answers = {"Paris": 21}

def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"temp": answers.get(city, 5), "city": city}
'''


def cells(path: Path) -> list[tuple[str, str]]:
    return [
        ("--new", "Name three rivers"),
        ("", "Which is longest?"),
        ("third", "And the shortest?"),
        ("branch --from third", "Say it in French"),
        ("--tool get_weather", "What is the weather in Paris?"),
        ("-m gemini-3.1-flash-image-preview", "Draw a red lighthouse"),
        (f"--file {path}", "Summarise the notes"),
        ("--schema City", "Give me a city"),
        ("--research --wait", "Mangroves [emulator: duration=0.5]"),
        ("--new", "Tell me at length [emulator: continuations=2]"),
    ]


@pytest.fixture
def recorded(shell: InteractiveShell, tmp_path: Path) -> Iterator[Callable[..., Kernel]]:
    """Kernels of one notebook with a cassette in ``tmp_path``, for the given backend and mode."""
    made: list[Kernel] = []

    def make(base_url: str, mode: str) -> Kernel:
        if made:
            shell.run_line_magic("unload_ext", "gemini_magics")
        kernel = Kernel(shell, base_url, tmp_path / f"chains-{len(made)}.sqlite3", "nb.ipynb")
        shell.run_line_magic("config", f"GeminiMagics.cassette = {str(tmp_path / 'nb.gemini.jsonl')!r}")
        shell.run_line_magic("config", f"GeminiMagics.replay = {mode!r}")
        shell.run_cell(SETUP)
        made.append(kernel)
        return kernel

    yield make
    if made:
        shell.run_line_magic("unload_ext", "gemini_magics")


def run_all(kernel: Kernel, sequence: list[tuple[str, str]]) -> list[Any]:
    results = []
    for line, body in sequence:
        results.append(ok(kernel.run(f"%%gemini {line}\n{body}".replace("%%gemini \n", "%%gemini\n"))))
    return results


def summary(result: Any) -> tuple[Any, ...]:
    parsed = result.parsed.model_dump() if hasattr(result.parsed, "model_dump") else result.parsed
    return (result.text, parsed, result.image_bytes, result.status, len(result.blocks))


def test_a_recorded_notebook_replays_without_the_service(
    recorded: Callable[..., Kernel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Revenue grew 12% in March.\n")
    server = EmulatorServer(Settings(agent_seconds=0.5))
    base_url = server.start()
    try:
        live = run_all(recorded(base_url, "record"), cells(notes))
    finally:
        server.stop()
    assert (
        live[5].image_bytes and live[7].parsed is not None and len(live[9].interaction.continuation_ids) == 3
    )
    assert all(r.backend.startswith("endpoint") for r in live)

    kernel = recorded(base_url, "replay")  # the same URL: nothing listens there any more
    replayed = run_all(kernel, cells(notes))
    assert [summary(r) for r in replayed] == [summary(r) for r in live]
    assert [r.id for r in replayed] == [r.id for r in live]
    assert all(r.backend.startswith("replayed (recorded ") for r in replayed), replayed[0].backend
    data, _ = replayed[0]._repr_mimebundle_()
    assert "`replayed` — recorded" in data["text/markdown"] and "no request was sent" in data["text/markdown"]
    from gemini_magics import _registered

    chain = _registered.runner().store.chain("nb.ipynb", _registered.runner().store.active_name("nb.ipynb"))
    assert chain.head == live[-1].id  # the chain moved as it did live (the branch left it alone)

    # A changed tool result, prompt or model is one line naming the cell; nothing is sent.
    kernel = recorded(base_url, "replay")
    run_all(kernel, cells(notes)[:4])
    kernel.run("answers['Paris'] = 30")  # the tool is really called in replay: its result is in the key
    message = failed(kernel.run("%%gemini --tool get_weather\nWhat is the weather in Paris?"), capsys)
    assert message.startswith("failed: the cell 'What is the weather in Paris?': not in the cassette")
    assert "a tool result changed since the recording" in message
    kernel.run("%%gemini --new\nName three rivers")
    message = failed(kernel.run("%%gemini\nWhich is the longest?"), capsys)
    assert "the prompt ('Which is longest?' → 'Which is the longest?') changed since the recording" in message
    assert "replay = 'auto'" in message
    message = failed(kernel.run("%%gemini --new -m gemini-3-pro-preview\nName three rivers"), capsys)
    assert "the model (gemini-3-flash-preview → gemini-3-pro-preview) changed" in message
    report = kernel.line("cassette").data
    assert "**Missed:**" in report and "0 requests sent" in report


def test_auto_asks_the_service_only_for_the_changed_cell(
    recorded: Callable[..., Kernel], tmp_path: Path
) -> None:
    server = EmulatorServer()
    base_url = server.start()
    sequence = [("--new", "Name three rivers"), ("", "Which is longest?"), ("", "And the shortest?")]
    try:
        first = run_all(recorded(base_url, "auto"), sequence)  # an empty cassette: all three recorded
        assert len(server.emulator.store) == 3
        again = run_all(recorded(base_url, "auto"), sequence)  # unchanged: nothing sent
        assert len(server.emulator.store) == 3 and [r.text for r in again] == [r.text for r in first]
        changed = [*sequence[:2], ("", "And the widest?")]
        last = run_all(recorded(base_url, "auto"), changed)
        assert len(server.emulator.store) == 4  # only the changed cell reached the service
        assert [r.backend.startswith("replayed") for r in last] == [True, True, False]
        assert "widest" in last[2].text
    finally:
        server.stop()
    kernel = recorded(base_url, "replay")  # and now all of it replays
    assert [r.text for r in run_all(kernel, changed)] == [r.text for r in last]


def test_the_cassette_is_plain_sorted_and_without_secrets(
    recorded: Callable[..., Kernel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = EmulatorServer()
    base_url = server.start()
    try:
        kernel = recorded(base_url, "record")
        run_all(kernel, [("--new", "Name three rivers"), ("", "Which is longest?")])
        first = (tmp_path / "nb.gemini.jsonl").read_text()
        run_all(recorded(base_url, "record"), [("--new", "Name three rivers"), ("", "Which is longest?")])
    finally:
        server.stop()
    lines = (tmp_path / "nb.gemini.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"format": "gemini-magics cassette", "version": 1}
    assert [json.loads(line)["seq"] for line in lines[1:]] == [0, 1]  # re-recorded entries keep their place
    assert len(first.splitlines()) == len(lines)
    assert str(tmp_path) not in first and "x-goog-api-key" not in first.lower()


def test_files_sent_through_the_files_api_replay_by_content(
    recorded: Callable[..., Kernel],
    tmp_path: Path,
    shell: InteractiveShell,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An upload (resumable: start, then the bytes) is recorded by the bytes' SHA-256; replayed, the
    upload and the answer that reads the file come back, and other bytes under the same name miss."""
    big = tmp_path / "table.csv"
    big.write_text("city,temp\n" + "Paris,21\n" * 50)
    server = EmulatorServer()
    base_url = server.start()
    settings = ("GeminiMagics.files_api = 'on'", "GeminiMagics.inline_limit = 10")
    try:
        kernel = recorded(base_url, "record")
        for line in settings:
            shell.run_line_magic("config", line)
        live = ok(kernel.run(f"%%gemini --new --file {big}\nSummarise the table"))
    finally:
        server.stop()
    cassette = (tmp_path / "nb.gemini.jsonl").read_text()
    assert "/upload/" in cassette and "Paris,21" not in cassette and str(tmp_path) not in cassette
    kernel = recorded(base_url, "replay")
    for line in settings:
        shell.run_line_magic("config", line)
    replayed = ok(kernel.run(f"%%gemini --new --file {big}\nSummarise the table"))
    assert replayed.text == live.text and replayed.backend.startswith("replayed")
    big.write_text("city,temp\n" + "Oslo,5\n" * 50)
    message = failed(kernel.run(f"%%gemini --new --file {big}\nSummarise the table"), capsys)
    assert "not in the cassette nb.gemini.jsonl" in message and "uploaded file" in message


def test_mcp_headers_never_reach_the_cassette_and_prune_drops_what_no_cell_used(
    recorded: Callable[..., Kernel], tmp_path: Path, shell: InteractiveShell
) -> None:
    from mcp_testing import McpTestServer

    secret = "sk-mcp-0123456789abcdef"
    server = EmulatorServer()
    base_url = server.start()
    try:
        with McpTestServer(token=secret) as mcp:
            kernel = recorded(base_url, "record")
            kernel.run(f"hdrs = {{'Authorization': 'Bearer {secret}'}}")
            line = f"%%gemini --new --mcp kb={mcp.url} --mcp-headers hdrs"
            live = ok(kernel.run(f"{line}\nRead my private_notes on 'launch'"))
            ok(kernel.run("%%gemini\nThanks, and one more thing?"))
            cassette = (tmp_path / "nb.gemini.jsonl").read_text()
            assert (
                "ship on Friday" in live.text and secret not in cassette and "Authorization" not in cassette
            )
            kernel = recorded(base_url, "replay")  # the MCP server still runs: only the headers differ
            kernel.run("hdrs = {'Authorization': 'Bearer another-token-000'}")
            replayed = ok(kernel.run(f"{line}\nRead my private_notes on 'launch'"))
    finally:
        server.stop()
    assert replayed.text == live.text and len(mcp.calls) == 1  # replayed: the MCP server was not called again
    report = kernel.line("cassette prune").data  # the second cell did not run in this kernel
    assert report.startswith("Pruned 1 unused entries; 1 remain")
    assert len((tmp_path / "nb.gemini.jsonl").read_text().splitlines()) == 2
