"""The recorded real exchanges, played back by a tiny server, parse in google-genai 3.6.1 and 1.55.

This checks the clients against the service itself (not the emulator): every recording a client could meet
is read to the end by the current SDK and by the pre-GA SDK without an exception. The emulator's shapes are
compared with the same recordings in test_real_samples.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sample_server import SampleServer, is_stream, part

pytest_plugins = ["legacy_venv"]

# Every wire recording (file#part): printed SDK objects and notes (droidnext, cookbook) are not wire data.
CASES = [
    "docs_quickstart_stream_and_stateless#stream",
    "docs_quickstart_stream_and_stateless#stateless_store_false_response",
    "docs_stream_deep_research_agent",
    "docs_stream_error_event",
    "docs_stream_event_examples_function_and_deltas",
    "docs_stream_google_search_plus_function_call",
    "docs_stream_text",
    "docs_stream_text#raw",
    "docs_stream_thought_summary",
    "docs_stream_thought_summary#raw",
    "docs_sync_google_search_grounding",
    "docs_vertex_agent_stream_interaction_complete",
    "preGA_api_reference_examples#create_simple",
    "preGA_api_reference_examples#function_calling",
    "preGA_api_reference_examples#deep_research",
    "preGA_api_reference_examples#get",
    "preGA_api_reference_examples#sse_events",
    "preGA_deep_research_get_in_progress_and_completed#in_progress",
    "preGA_deep_research_get_in_progress_and_completed#completed_head",
    "preGA_function_result_turn_completed",
]


def test_every_wire_recording_is_listed() -> None:
    files = {case.partition("#")[0] for case in CASES}
    not_wire = {"preGA_droidnext_notebook_outputs", "real_ids_and_statuses_cookbook"}
    assert files | not_wire == {p.stem for p in (Path(__file__).parents[1] / "real_samples").glob("*.json")}


def _streamed(case: str) -> bool:
    return is_stream(part(case))


@pytest.fixture(scope="module")
def server() -> Any:
    with SampleServer() as running:
        yield running


@pytest.mark.parametrize("case", CASES)
def test_current_sdk_parses_the_recording(server: SampleServer, case: str) -> None:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=server.base_url))
    if _streamed(case):
        events = list(
            client.interactions.create(model="gemini-3-flash-preview", input=f"sample:{case}", stream=True)
        )
        assert events, case
        value = part(case)
        if isinstance(value, list):  # every recorded event reaches the caller (the terminator ends it)
            assert len(events) == len([e for e in value if e.get("data") != "[DONE]"])
    else:
        interaction = client.interactions.create(model="gemini-3-flash-preview", input=f"sample:{case}")
        assert interaction.model_dump(exclude_none=True)


_LEGACY_SCRIPT = r"""
import json, sys
from google import genai
from google.genai import types
base, cases = sys.argv[1], json.loads(sys.argv[2])
client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=base))
out = {}
for case, streamed in cases:
    try:
        if streamed:
            got = list(client.interactions.create(
                model="gemini-3-flash-preview", input="sample:" + case, stream=True
            ))
            out[case] = ["ok", len(got)]
        else:
            got = client.interactions.create(model="gemini-3-flash-preview", input="sample:" + case)
            out[case] = ["ok", len(got.model_dump(exclude_none=True))]
    except Exception as exc:
        out[case] = ["error", type(exc).__name__ + ": " + str(exc)[:300]]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_pre_ga_sdk_parses_the_recordings(server: SampleServer, legacy_python: Path) -> None:
    cases = [[case, _streamed(case)] for case in CASES]
    run = subprocess.run(
        [str(legacy_python), "-c", _LEGACY_SCRIPT, server.base_url, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    failures = {case: got for case, got in results.items() if got[0] != "ok"}
    assert not failures, failures
    assert all(results[case][1] > 0 for case in CASES)
