"""Fixtures shared by every test: emulators on loopback ports and SDK clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from emulator_testing import TEST_AGENT_SECONDS, sdk_client

from gemini_magics.emulator import EmulatorServer, Settings


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator for the whole session, with default settings and fast agents."""
    with EmulatorServer(Settings(agent_seconds=TEST_AGENT_SECONDS)) as server:
        yield server


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator with custom ``Settings`` fields; all are stopped after the test."""
    started: list[EmulatorServer] = []

    def make(**fields: object) -> EmulatorServer:
        fields.setdefault("agent_seconds", TEST_AGENT_SECONDS)
        server = EmulatorServer(Settings(**fields))  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def client(emulator: EmulatorServer):
    return sdk_client(emulator.base_url)
