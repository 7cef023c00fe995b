"""Helpers the tests import by name (a module name no other directory's conftest can shadow)."""

from __future__ import annotations

# Agents finish in about a second in tests (the default is tuned for demos).
TEST_AGENT_SECONDS = 1.0


def sdk_client(base_url: str, api_key: str = "test-key", retries: bool = False, **options: object):
    """A real google-genai client for ``base_url``; without retries unless asked, so faults show."""
    from google import genai
    from google.genai import types

    http = types.HttpOptions(base_url=base_url, **options)  # type: ignore[arg-type]
    if not retries:
        http.retry_options = types.HttpRetryOptions(attempts=1)
    return genai.Client(api_key=api_key, http_options=http)
