"""The emulator's command line: ``python -m gemini_magics.emulator`` and the ``gemini-emulator`` script."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulator_testing import sdk_client

BIN_DIR = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def console_script() -> str:
    """The ``gemini-emulator`` entry point installed next to this interpreter."""
    found = shutil.which("gemini-emulator", path=str(BIN_DIR))
    assert found, f"gemini-emulator is not installed in {BIN_DIR}"
    return found


def wait_for_health(base_url: str, process: subprocess.Popen[str], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the emulator exited early with {process.returncode}: {process.stderr.read()}"
            )
        try:
            reply = httpx.get(f"{base_url}/emulator/health", timeout=1)
            if reply.status_code == 200:
                return reply.json()
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{base_url}/emulator/health did not answer within {timeout}s")


@pytest.fixture
def cli_server() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m gemini_magics.emulator --port N`` in a subprocess; terminated after the test."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_magics.emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["terminate", "ctrl-c"])
def test_module_serves_the_sdk_and_stops_cleanly(
    cli_server: tuple[str, subprocess.Popen[str]], stop: signal.Signals
) -> None:
    """Start, answer one SDK create, stop on a signal: graceful, no traceback, port released.

    uvicorn re-raises SIGTERM after its graceful shutdown, so a terminated emulator reports -SIGTERM;
    Ctrl-C (what the banner suggests) exits 0.
    """
    base_url, process = cli_server
    assert wait_for_health(base_url, process)["status"] == "ok"

    client = sdk_client(base_url)
    result = client.interactions.create(model="gemini-3-flash-preview", input="Hi, my name is Phil.")
    assert result.status == "completed"
    assert "Phil" in result.output_text
    assert client.interactions.get(result.id).status == "completed"
    assert httpx.get(f"{base_url}/emulator/health").json()["interactions"] == 1
    address = non_loopback_address()
    if address is not None:  # without --host the CLI listens on loopback only
        with pytest.raises(OSError), socket.create_connection((address, int(base_url.rsplit(":", 1)[1])), 2):
            pass

    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode in ((0, -signal.SIGTERM) if stop == signal.SIGTERM else (0,)), stderr
    assert base_url in stdout  # the banner names the address to point clients at
    assert "Traceback" not in stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/emulator/health", timeout=2)


def test_console_script_help() -> None:
    script = console_script()
    assert Path(script).parent == BIN_DIR
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: gemini-emulator")
    for option in ("--port", "--host", "--require-key", "--api-key", "--agent-seconds", "--fault"):
        assert option in done.stdout
    assert "loopback" in done.stdout


@pytest.mark.parametrize("spec", ["bogus=1", "cut=3,nonsense"])
def test_unknown_fault_key_exits_2_with_one_line(spec: str) -> None:
    done = subprocess.run(
        [console_script(), "--port", str(free_port()), "--fault", spec],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gemini-emulator:")
    assert spec.split(",")[-1].split("=")[0] in lines[0]
    assert done.stdout == ""  # no server banner: it never started
