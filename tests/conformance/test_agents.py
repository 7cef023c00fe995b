"""Conformance: the emulator's agents behave as the service's, through the real google-genai SDK over HTTP.

Deep Research reports as recorded (``[cite: N]`` markers, a ``**Sources:**`` list, one ``url_citation`` per
source with a null title, a redirect URL and UTF-8 *byte* offsets), the recorded stream shape, collaborative
planning, visualization, each agent family's own ``agent_config``, and the managed agents' steps.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
import zlib
from typing import Any

import httpx
import pytest
from google.genai import _interactions as ierr

from gemini_magics.emulator import EmulatorServer

RESEARCH = "deep-research-preview-04-2026"
MANAGED = "antigravity-preview-05-2026"
REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
MARKER = re.compile(r"\[cite: \d+(?:, \d+)*\]")


def research_config(**options: Any) -> dict[str, Any]:
    return {"type": "deep-research", "thinking_summaries": "auto", **options}


def finished(client: Any, interaction_id: str, timeout: float = 20.0) -> Any:
    """Poll ``get`` until the interaction leaves ``in_progress``, as a background client does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress":
            return interaction
        time.sleep(0.05)
    raise AssertionError(f"{interaction_id} still in progress after {timeout} s")


def run_research(client: Any, prompt: str, **options: Any) -> Any:
    started = client.interactions.create(
        agent=RESEARCH, input=prompt, background=True, agent_config=research_config(**options)
    )
    assert started.status == "in_progress"
    return finished(client, started.id)


def report_of(interaction: Any) -> Any:
    assert interaction.status == "completed", interaction.errors
    output = interaction.steps[-1]
    assert output.type == "model_output"
    return output


def produced(interaction: Any) -> list[str]:
    """The types of the steps the agent produced (``get`` also lists the user's input first)."""
    return [s.type for s in interaction.steps if s.type != "user_input"]


def raw_events(base_url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of a streamed create, as JSON off the wire (what the SDK would parse)."""
    events = []
    with httpx.stream("POST", f"{base_url}/v1beta/interactions", json=body, timeout=30) as reply:
        assert reply.status_code == 200, reply.read()
        for line in reply.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line.removeprefix("data: ")))
    return events


# -- the report ----------------------------------------------------------------------------------------


def test_report_cites_sources_with_byte_offsets(client: Any) -> None:
    done = run_research(client, "Café culture in Paris [emulator: duration=0.5]")
    block = report_of(done).content[0]
    text = block.text
    raw = text.encode("utf-8")
    assert len(raw) > len(text), "the report must carry non-ASCII text so byte and character offsets differ"
    body, _, sources = text.partition("**Sources:**\n")
    assert sources, "no **Sources:** list"
    listed = re.findall(r"^(\d+)\. \[([^\]]+)\]\((\S+)\)$", sources, re.MULTILINE)
    assert [int(n) for n, _, _ in listed] == list(range(1, len(listed) + 1)) and len(listed) >= 3
    assert all(url.startswith(REDIRECT) and len(url) > len(REDIRECT) + 100 for _, _, url in listed)
    assert re.search(r"\[cite: \d+, \d+\]", body), "no marker citing two sources"
    cited = {int(n) for m in MARKER.findall(body) for n in re.findall(r"\d+", m)}
    assert cited == set(range(1, len(listed) + 1))

    annotations = block.annotations
    assert [a.url for a in annotations] == [url for _, _, url in listed]  # one per source, in order
    shifted = 0
    for number, annotation in enumerate(annotations, 1):
        assert annotation.type == "url_citation" and annotation.title is None
        span = raw[annotation.start_index : annotation.end_index].decode("utf-8")
        assert MARKER.fullmatch(span) and str(number) in re.findall(r"\d+", span), span
        first = next(m for m in MARKER.finditer(text) if str(number) in re.findall(r"\d+", m.group(0)))
        assert annotation.start_index == len(text[: first.start()].encode())  # its first marker
        shifted += text[annotation.start_index : annotation.end_index] != span
    assert shifted, "character offsets would have found the markers too: no non-ASCII before them"
    assert "Café" in done.output_text


def test_report_stream_has_the_recorded_shape(emulator: EmulatorServer, client: Any) -> None:
    """Thoughts' ``thought_summary`` content is ``{"text": ...}`` and the report's deltas are untyped
    ``{"text": ...}``, as in the docs' recorded Deep Research stream; the annotations follow."""
    events = raw_events(
        emulator.base_url,
        {
            "agent": RESEARCH,
            "input": "Ramen in Tōkyō [emulator: duration=0.5]",
            "background": True,
            "stream": True,
            "agent_config": research_config(),
        },
    )
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    starts = [e["step"] for e in events if e["event_type"] == "step.start"]
    assert starts[:-1] == [{"type": "thought"}] * (len(starts) - 1) and starts[-1] == {"type": "model_output"}
    deltas = [e["delta"] for e in events if e["event_type"] == "step.delta"]
    summaries = [d for d in deltas if d.get("type") == "thought_summary"]
    assert len(summaries) >= 3 and all(set(d["content"]) == {"text"} for d in summaries)
    assert summaries[0]["content"]["text"].startswith("***Generating research plan***")
    texts = [d for d in deltas if "type" not in d]
    assert texts and all(set(d) == {"text"} for d in texts)
    assert deltas[-1]["type"] == "text_annotation_delta"
    interaction_id = events[0]["interaction"]["id"]
    stored = client.interactions.get(interaction_id)
    block = report_of(stored).content[0]
    assert "".join(d["text"] for d in texts) == block.text
    wire = deltas[-1]["annotations"]
    assert all(a["title"] is None for a in wire)
    spans = [(a.url, a.start_index, a.end_index) for a in block.annotations]
    assert [(a["url"], a["start_index"], a["end_index"]) for a in wire] == spans
    thoughts = [s for s in stored.steps if s.type == "thought"]
    assert [t.summary[0].text for t in thoughts] == [d["content"]["text"] for d in summaries]


def test_sdk_reads_a_streamed_report(client: Any) -> None:
    events = list(
        client.interactions.create(
            agent=RESEARCH,
            input="Bossa nova [emulator: duration=0.4]",
            background=True,
            stream=True,
            agent_config=research_config(),
        )
    )
    assert events[-1].event_type == "interaction.completed" and events[-1].interaction.status == "completed"
    stored = client.interactions.get(events[0].interaction.id)
    assert stored.output_text.startswith("# Research report: Bossa nova")


def test_unsafe_html_reaches_the_report_as_text_and_urls(client: Any) -> None:
    done = run_research(client, "Poisoned research [emulator: unsafe_html, duration=0.4]")
    block = report_of(done).content[0]
    assert "<script>window.__gm_pwned = 'script';</script>" in block.text
    assert "<script>window.__gm_pwned = 'source script'</script>" in block.text
    urls = [a.url for a in block.annotations]
    assert "javascript:window.__gm_pwned='source url'" in urls
    assert all(a.title is None for a in block.annotations)
    thoughts = [s for s in done.steps if s.type == "thought"]
    assert all("__gm_pwned" in t.summary[0].text for t in thoughts)


# -- collaborative planning ----------------------------------------------------------------------------


def plan_of(interaction: Any) -> str:
    assert interaction.status == "completed" and interaction.steps[-1].type == "model_output"
    assert "**Research plan:" in interaction.output_text, interaction.output_text
    return interaction.output_text


def follow_up(client: Any, previous: str, text: str, **options: Any) -> Any:
    started = client.interactions.create(
        agent=RESEARCH,
        input=f"{text} [emulator: duration=0.4]",
        background=True,
        previous_interaction_id=previous,
        agent_config=research_config(**options),
    )
    return finished(client, started.id)


def test_planning_then_approval_runs_the_research(client: Any) -> None:
    planned = run_research(
        client, "Coral reef restoration [emulator: duration=0.4]", collaborative_planning=True
    )
    plan = plan_of(planned)
    assert "**Research plan: Coral reef restoration**" in plan and "Research report" not in plan
    assert produced(planned) == ["thought", "model_output"]
    done = follow_up(client, planned.id, "Plan looks good!", collaborative_planning=True)
    text = report_of(done).content[0].text
    assert text.startswith("# Research report: Coral reef restoration")
    assert "## Research plan followed" in text and "Address your request" not in text
    assert len([s for s in done.steps if s.type == "thought"]) >= 3


def test_planning_edit_revises_the_plan_and_the_report_follows_it(client: Any) -> None:
    planned = run_research(
        client, "Coral reef restoration [emulator: duration=0.4]", collaborative_planning=True
    )
    edit = "Focus on Caribbean reefs and costs"
    revised = follow_up(client, planned.id, edit, collaborative_planning=True)
    plan = plan_of(revised)
    assert f"Address your request: {edit}" in plan and "revised the plan" in plan
    done = follow_up(client, revised.id, "go ahead")
    text = report_of(done).content[0].text
    assert text.startswith("# Research report: Coral reef restoration")
    assert f"Address your request: {edit}" in text.partition("## Research plan followed")[2]


def test_an_edit_without_planning_runs_the_research_with_it(client: Any) -> None:
    planned = run_research(client, "Urban beekeeping [emulator: duration=0.4]", collaborative_planning=True)
    done = follow_up(client, planned.id, "Also cover honey yields in Montréal")
    text = report_of(done).content[0].text
    assert "“Also cover honey yields in Montréal”" in text
    assert "Address your request: Also cover honey yields in Montréal" in text


# -- visualization -------------------------------------------------------------------------------------


def check_png(data: bytes) -> tuple[int, int]:
    """A complete, valid RGB PNG: signature, CRCs, and pixel data of the declared size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) == crc, kind
        chunks.append(kind)
        idat += payload if kind == b"IDAT" else b""
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    return width, height


def test_visualization_adds_a_chart_to_the_report(client: Any) -> None:
    done = run_research(client, "Solar power in Chile [emulator: duration=0.4]", visualization="auto")
    content = report_of(done).content
    assert [c.type for c in content] == ["text", "image"]
    assert "## Visualization" in content[0].text
    image = content[1]
    assert image.mime_type == "image/png"
    width, height = check_png(base64.b64decode(image.data))
    assert width >= 200 and height >= 100
    plain = run_research(client, "Solar power in Chile [emulator: duration=0.2]")
    assert [c.type for c in report_of(plain).content] == ["text"]


# -- agent_config per family ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "config", "words"),
    [
        (MANAGED, {"type": "deep-research", "thinking_summaries": "auto"}, "'deep-research'"),
        (RESEARCH, {"type": "antigravity", "model": "gemini-3-flash-preview"}, "'antigravity'"),
        (RESEARCH, {"type": "code-mender"}, "'code-mender'"),
        (MANAGED, {"type": "dynamic"}, "'dynamic'"),
    ],
)
def test_an_agent_takes_only_its_own_config(
    emulator: EmulatorServer, client: Any, agent: str, config: dict[str, Any], words: str
) -> None:
    with pytest.raises(ierr.BadRequestError) as raised:
        client.interactions.create(agent=agent, input="Hello", background=True, agent_config=config)
    assert raised.value.status_code == 400
    reply = httpx.post(
        f"{emulator.base_url}/v1beta/interactions",
        json={"agent": agent, "input": "Hello", "background": True, "agent_config": config},
        timeout=10,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_request"
    assert words in error["message"] and agent in error["message"]
    assert raised.value.body == {"error": error}


# -- managed agents ------------------------------------------------------------------------------------


def test_managed_agent_runs_tools_and_code(client: Any) -> None:
    started = client.interactions.create(
        agent=MANAGED,
        input="Sum of the first 10 primes [emulator: duration=0.4]",
        background=True,
        agent_config={"type": "antigravity", "model": "gemini-3-flash-preview"},
        environment={"type": "remote", "sources": []},
    )
    done = finished(client, started.id)
    assert done.status == "completed"
    assert produced(done) == [
        "thought",
        "function_call",
        "function_result",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    call, result, _, ran = done.steps[-5:-1]
    assert result.call_id == call.id and result.name == call.name
    assert ran.result.strip() == "The first 10 primes sum to 129"
    assert "129" in done.output_text
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", done.environment_id)
    assert client.interactions.get(started.id).environment_id == done.environment_id


def test_managed_agent_streams_its_steps(client: Any) -> None:
    events = list(
        client.interactions.create(
            agent=MANAGED, input="Print 6*7 [emulator: duration=0.3]", background=True, stream=True
        )
    )
    started = [e.step.type for e in events if e.event_type == "step.start"]
    assert started == [
        "thought",
        "function_call",
        "function_result",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    stored = client.interactions.get(events[0].interaction.id)
    assert stored.output_text and "42" in stored.output_text
    assert stored.environment_id is None  # no environment in the request: none on the interaction


def test_antigravity_token_budget_stops_the_run(client: Any) -> None:
    """``max_total_tokens`` ends the run ``budget_exceeded`` before the step that would pass it."""
    started = client.interactions.create(
        agent=MANAGED,
        input="Sum of the first 10 primes [emulator: duration=0.2]",
        background=True,
        agent_config={"type": "antigravity", "max_total_tokens": 40},
    )
    stopped = finished(client, started.id)
    assert stopped.status == "budget_exceeded"
    assert "model_output" not in produced(stopped) and produced(stopped)[0] == "thought"
    roomy = client.interactions.create(
        agent=MANAGED,
        input="Sum of the first 10 primes [emulator: duration=0.2]",
        background=True,
        agent_config={"type": "antigravity", "max_total_tokens": 100_000},
    )
    assert finished(client, roomy.id).status == "completed"


def test_research_without_summaries_thinks_silently(client: Any) -> None:
    started = client.interactions.create(
        agent=RESEARCH, input="Glaciers [emulator: duration=0.3]", background=True
    )
    done = finished(client, started.id)
    thoughts = [s for s in done.steps if s.type == "thought"]
    assert len(thoughts) >= 3 and all(t.signature and not t.summary for t in thoughts)
    assert report_of(done).content[0].text.startswith("# Research report: Glaciers")
