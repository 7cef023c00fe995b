"""The emulator's agents: Deep Research (thinks aloud over time, ends with a cited report) and the managed
agents (``agent_managed.py``).

Deep Research follows the recorded stream (real-samples/docs_stream_deep_research_agent.json): each thought
is a ``thought`` step whose ``thought_summary`` delta carries ``{"text": ...}`` (no content ``type``), the
report a ``model_output`` step streamed as untyped ``{"text": ...}`` deltas. The report itself is written by
``agent_report.py``; collaborative planning is ``agent_plan.py``; which config goes with which agent is
``agent_config.py``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .agent_config import is_research
from .agent_managed import managed_run
from .agent_plan import Plan, base_steps, is_approval, pending_plan, plan_text, with_edit
from .agent_report import ReportSpec, report_deltas, report_step
from .content import UNSAFE_HTML, b64
from .directives import number
from .engine import Behaviour, Emit, Finish, Pause
from .tooling import search_query, turn_sources, unsafe
from .turn import Turn

_PHASES = [
    "***Generating research plan***\n\nTo best answer your request, I'm starting by constructing a research "
    "plan for {topic}: the key areas to investigate and how they connect.",
    "***Searching the web***\n\nI'm running searches on {topic} and collecting candidate sources — "
    "reference works, news and academic papers.",
    "***Reading sources***\n\nI'm comparing what {n} sources say about {topic} and noting where they "
    "disagree.",
    "***Checking facts***\n\nI'm cross-checking dates and figures about {topic} against a second, "
    "independent source.",
    "***Drafting the report***\n\nI'm organising the findings into sections, each claim with its citation.",
]


def research(turn: Turn, default_seconds: float) -> Behaviour:
    """The run of whichever agent the request names (the name is kept: ``app.py`` calls it)."""
    seconds = number(turn.directives, "duration", default_seconds) or 0.0
    if not is_research(turn.request.get("agent")):
        return managed_run(turn, seconds)
    return _research(turn, seconds)


def research_thought(text: str, with_summary: bool) -> Emit:
    """A Deep Research thought: its summary streams as ``{"text": ...}`` content, as the service sends it;
    without summaries, only a signature."""
    signature = b64(hashlib.sha256(text.encode()).digest())
    if not with_summary:
        step = {"type": "thought", "signature": signature}
        return Emit(
            step, deltas=[{"type": "thought_signature", "signature": signature}], start={"type": "thought"}
        )
    step = {"type": "thought", "summary": [{"type": "text", "text": text}]}
    return Emit(
        step, deltas=[{"type": "thought_summary", "content": {"text": text}}], start={"type": "thought"}
    )


def _answer(text: str) -> Emit:
    step = {"type": "model_output", "content": [{"type": "text", "text": text}]}
    return Emit(step, deltas=[{"text": text}], start={"type": "model_output"})


async def _research(turn: Turn, seconds: float) -> Behaviour:  # type: ignore[misc]
    if turn.directives.get("fail"):
        yield Pause(seconds / 2)
        yield Finish("failed", {"code": "500", "message": turn.directives["fail"]})
        return
    config: dict[str, Any] = turn.request.get("agent_config") or {}
    summaries = config.get("thinking_summaries") == "auto"
    hostile = UNSAFE_HTML if unsafe(turn) else ""
    pending = pending_plan(turn.history)
    edit = "" if pending is None or is_approval(turn.prompt) else turn.prompt
    plan = with_edit(pending, edit) if pending and edit else pending
    if config.get("collaborative_planning") and (plan is None or edit):
        # Propose (or revise) the plan, and wait for the next turn.
        plan = plan or Plan(search_query(turn), base_steps(search_query(turn)))
        yield Pause(seconds / 3)
        first = _PHASES[0].format(topic=plan.topic)
        yield research_thought(first + ("\n\n" + hostile if hostile else ""), summaries)
        yield Pause(seconds / 3)
        yield _answer(plan_text(plan, edit))
        return
    topic = plan.topic if plan else search_query(turn)
    sources = turn_sources(turn, topic)
    pause = seconds / (len(_PHASES) + 1)
    for phase in _PHASES:
        yield Pause(pause)
        text = phase.format(topic=topic, n=len(sources))
        yield research_thought(text + ("\n\n" + hostile if hostile else ""), summaries)
    yield Pause(pause)
    spec = ReportSpec(
        topic=topic,
        sources=sources,
        extra=hostile,
        plan=plan.steps if plan else [],
        edit=edit,
        chart=config.get("visualization") == "auto",
    )
    step = report_step(spec)
    yield Emit(step, deltas=report_deltas(step), start={"type": "model_output"})
