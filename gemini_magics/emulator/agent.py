"""The fake Deep Research agent: runs in the background, thinks aloud over time, ends with a cited report."""

from __future__ import annotations

from .content import UNSAFE_HTML
from .directives import number
from .engine import Behaviour, Emit, Finish, Pause
from .model import Turn, thought
from .tooling import search_query, turn_sources, unsafe

DEEP_RESEARCH_AGENTS = frozenset(
    {
        "deep-research-pro-preview-12-2025",
        "deep-research-preview-04-2026",
        "deep-research-max-preview-04-2026",
    }
)

_PHASES = [
    "**Planning the research.** Breaking the question into sub-questions: {topic}.",
    "**Searching the web.** Running searches for {topic} and collecting candidate sources.",
    "**Reading sources.** Comparing what {n} sources say and noting where they disagree.",
    "**Checking facts.** Cross-checking dates and figures about {topic} against a second source.",
    "**Drafting the report.** Organising findings into sections with citations.",
]


def research(turn: Turn, default_seconds: float) -> Behaviour:
    return _research(turn, number(turn.directives, "duration", default_seconds) or 0.0)


async def _research(turn: Turn, seconds: float) -> Behaviour:  # type: ignore[misc]
    if turn.directives.get("fail"):
        yield Pause(seconds / 2)
        yield Finish("failed", {"code": "500", "message": turn.directives["fail"]})
        return
    query = search_query(turn)
    sources = turn_sources(turn, query)
    config = turn.request.get("agent_config") or {}
    summaries = config.get("thinking_summaries") == "auto"
    pause = seconds / (len(_PHASES) + 1)
    for phase in _PHASES:
        yield Pause(pause)
        text = phase.format(topic=query, n=len(sources))
        yield thought(text + ("\n\n" + UNSAFE_HTML if unsafe(turn) else ""), summaries)
    yield Pause(pause)
    final = report(query, sources, UNSAFE_HTML if unsafe(turn) else "")
    yield Emit(final, deltas=_report_deltas(final))


def report(query: str, sources: list[dict[str, str]], extra: str = "") -> dict:
    """A Markdown report with numbered citations and a Sources list (links), as Deep Research writes;
    ``extra`` is Markdown added to its summary."""
    more = "".join(f"[{i}]" for i in range(4, len(sources) + 1))
    body = (
        f"# Research report: {query}\n\n"
        "## Summary\n\n"
        f"The question *{query}* is covered by several independent sources [1][2]. "
        "Their accounts agree on the main points and differ on some details [3].\n\n"
        + (f"Other sources disagree {more}.\n\n" if more else "")
        + (extra.rstrip() + "\n\n" if extra else "")
        + "## Findings\n\n"
        f"1. The background of {query} is documented in reference works [1].\n"
        "2. A second, independent account confirms the main timeline [2].\n"
        "3. Recent commentary adds context and open questions [3].\n\n"
        "## Sources\n\n"
        + "\n".join(f"{i}. [{s['title']}]({s['url']})" for i, s in enumerate(sources, 1))
        + "\n"
    )
    annotations = []
    for i, source in enumerate(sources, 1):
        marker = f"[{i}]"
        start = body.index(marker)
        annotations.append(
            {
                "type": "url_citation",
                "url": source["url"],
                "title": source["title"],
                "start_index": start,
                "end_index": start + len(marker),
            }
        )
    return {"type": "model_output", "content": [{"type": "text", "text": body, "annotations": annotations}]}


def _report_deltas(step: dict) -> list[dict]:
    block = step["content"][0]
    paragraphs = block["text"].split("\n\n")
    deltas = [
        {"type": "text", "text": p + ("\n\n" if i < len(paragraphs) - 1 else "")}
        for i, p in enumerate(paragraphs)
    ]
    deltas.append({"type": "text_annotation_delta", "annotations": block["annotations"]})
    return deltas
