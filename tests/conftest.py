"""Fixtures shared by every test: emulators on loopback ports and SDK clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from gemini_magics.emulator import EmulatorServer, Settings

# Agents finish in about a second in tests (the default is tuned for demos).
TEST_AGENT_SECONDS = 1.0


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


def sdk_client(base_url: str, api_key: str = "test-key", retries: bool = False, **options: object):
    """A real google-genai client for ``base_url``; without retries unless asked, so faults show."""
    from google import genai
    from google.genai import types

    http = types.HttpOptions(base_url=base_url, **options)  # type: ignore[arg-type]
    if not retries:
        http.retry_options = types.HttpRetryOptions(attempts=1)
    return genai.Client(api_key=api_key, http_options=http)


@pytest.fixture
def client(emulator: EmulatorServer):
    return sdk_client(emulator.base_url)
