"""No answer of the API holds the API key: not in errors, not in reports, not even where a user pasted it
into a prompt. The server has a (fake) key in its environment and talks to an emulator that accepts only
that key, as the kernel of this process does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from server_testing import wait_for
from tornado.httpclient import HTTPClientError

KEY = "AIzaFAKEkey-0123456789abcdefghijklmnopq"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, server_env: Path, make_emulator: Any) -> str:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return make_emulator(api_keys=frozenset({KEY})).base_url


@pytest.fixture
def jp_server_config(keyed: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"gemini_magics.serverext": True}},
        "GeminiMagicsServer": {"backend": keyed, "scan_interval": 0.2, "research_poll_max": 0.5},
    }


async def test_no_answer_reveals_the_key(jp_fetch: Any, jp_root_dir: Path, notebook: Any, keyed: str) -> None:
    import os

    assert "GEMINI_MAGICS_EMULATOR_URL" not in os.environ  # a key: the server started no emulator
    nb = notebook(f"notebook:{jp_root_dir / 'a.ipynb'}", keyed)
    ok = nb.cell("--research --wait", f"Is {KEY} my key? [emulator: duration=0.3]")
    bad = nb.cell("--research", f"Again [emulator: duration=0.3, fail=the key {KEY} was refused]")
    slow = nb.cell("--research", f"Slowly {KEY} [emulator: duration=30]")
    bodies: list[str] = []

    async def call(*parts: str, **kwargs: Any) -> None:
        try:
            response = await jp_fetch("gemini-magics", "api", *parts, **kwargs)
        except HTTPClientError as exc:
            assert exc.response is not None
            response = exc.response
        bodies.append(response.body.decode())

    answer = await wait_for(
        jp_fetch, lambda a: any(r["id"] == bad.id and r["status"] == "failed" for r in a["runs"])
    )
    bodies.append(json.dumps(answer))
    for run_id in (ok.id, bad.id, slow.id, "v1_unknown", "map-unknown", "batch-unknown"):
        await call("runs", run_id, "report")
    await call("runs", slow.id, "cancel", method="POST", body=b"")
    await call("runs", slow.id, "cancel", method="POST", body=b"")
    await call("runs", "v1_unknown", "cancel", method="POST", body=b"")
    await call("status", params={"path": "a.ipynb"})
    await call("runs")
    everything = "\n".join(bodies)
    assert KEY not in everything and KEY[8:30] not in everything
    assert everything.count("***") >= 3  # the prompt, the failure and the report still say something there
    assert "endpoint http://127.0.0.1" in everything  # the status names the backend, not its key
