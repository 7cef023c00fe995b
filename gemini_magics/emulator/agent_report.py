"""Deep Research reports as the service writes them.

What the recorded traffic shows (real-samples: real_ids_and_statuses_cookbook.json,
docs_stream_deep_research_agent.json, preGA_deep_research_get_in_progress_and_completed.json):

* citations are ``[cite: N]`` or ``[cite: 2, 3]`` markers in the Markdown, and a ``**Sources:**`` list ends
  the report, each entry a link through a ``vertexaisearch.cloud.google.com/grounding-api-redirect/``
  URL labelled with the source's domain;
* one ``url_citation`` annotation per source, on the span of the first marker that cites it, with
  ``title`` null and ``start_index``/``end_index`` counted in **UTF-8 bytes** — the report carries accents,
  em dashes, CJK and an emoji, so character offsets would point at the wrong place;
* the streamed report deltas are ``{"text": ...}`` without a ``type`` (as the docs' stream shows), followed
  by a ``text_annotation_delta``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .agent_chart import bar_chart_png, chart_values
from .content import b64

REDIRECT_PREFIX = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
MARKER = re.compile(r"\[cite: (\d+(?:, \d+)*)\]")
_PLAIN_URL = re.compile(r"https?://[\w.~:/?#@!&'()*+,;=%-]+")
_CHART_LABELS = ["Reference works", "News", "Academic", "Commentary"]


def redirect_url(url: str) -> str:
    """A grounding redirect URL for ``url``: a long base64url token, stable for the same URL.

    Only plain http(s) URLs are wrapped; anything else (the ``unsafe_html`` payloads: quotes, ``$``,
    ``javascript:``) is left as it is, so a hostile URL reaches the client as the hostile string it is.
    """
    if not _PLAIN_URL.fullmatch(url):
        return url
    seed = hashlib.sha256(url.encode()).digest()
    stream = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(5))
    token = base64.urlsafe_b64encode(b"\x01\x95\x08" + stream[:150]).rstrip(b"=").decode()
    return REDIRECT_PREFIX + "AUZIYQ" + token


def domain_of(url: str) -> str:
    """The label the Sources list shows for a link: the source's host without ``www.``."""
    host = urlsplit(url).hostname if url.startswith(("http://", "https://")) else None
    return host.removeprefix("www.") if host else url


@dataclass
class ReportSpec:
    """What a report covers: topic and sources, plus what planning, options and directives added."""

    topic: str
    sources: list[dict[str, str]]
    extra: str = ""  # Markdown added to the summary (``unsafe_html``)
    plan: list[str] = field(default_factory=list)  # the approved plan's steps
    edit: str = ""  # the user's change to the plan
    chart: bool = False


def _cites(numbers: list[int]) -> str:
    return "[cite: " + ", ".join(str(n) for n in numbers) + "]"


def report_text(spec: ReportSpec) -> str:
    """The report's Markdown, ending with the ``**Sources:**`` list."""
    topic, count = spec.topic, len(spec.sources)
    later = list(range(4, count + 1))
    parts = [
        f"# Research report: {topic}\n\n",
        "## Executive Summary\n\n",
        f"This report examines *{topic}* — drawing on {count} sources across reference works, news and "
        f"commentary {_cites([1])}. The sources agree on the main timeline and differ on some figures "
        f"{_cites([2, 3] if count >= 3 else [min(2, count)])}.\n\n",
    ]
    if spec.edit:
        parts.append(f"As you asked when approving the plan, this report focuses on: “{spec.edit}”.\n\n")
    if spec.extra:
        parts.append(spec.extra.rstrip() + "\n\n")
    parts += [
        "## Key Findings\n\n",
        "### 1. Background and context\n\n",
        f"The background of {topic} is documented in reference works, whose résumés agree on dates and "
        f"names {_cites([1])}.\n\n",
        "### 2. Independent confirmation\n\n",
        "A second, independent account confirms the main timeline — with minor differences in the "
        f"numbers reported {_cites([min(2, count)])}.\n\n",
        "### 3. Open questions\n\n",
        "Recent commentary adds context and open questions 🔎; a Japanese-language overview (概要) reaches "
        f"the same conclusion {_cites([min(3, count)])}.\n\n",
    ]
    if later:
        parts.append(f"Other sources disagree on the details {_cites(later)}.\n\n")
    if spec.plan:
        steps = "".join(f"{i}. {step}\n" for i, step in enumerate(spec.plan, 1))
        parts.append(f"## Research plan followed\n\n{steps}\n")
    if spec.chart:
        values = chart_values(topic, _CHART_LABELS)
        rows = "".join(f"| {label} | {value} |\n" for label, value in zip(_CHART_LABELS, values, strict=True))
        parts.append(
            "## Visualization\n\n"
            "Figure 1 (below) charts how much each kind of source contributes — on a 0–100 scale:\n\n"
            f"| Source kind | Share |\n|---|---|\n{rows}\n"
        )
    parts.append(
        "## Conclusion\n\n"
        f"Taken together, the evidence on {topic} is consistent; the remaining disagreements concern "
        "details rather than the overall picture.\n\n"
    )
    listed = "".join(f"{i}. [{_label(s)}]({redirect_url(s['url'])})\n" for i, s in enumerate(spec.sources, 1))
    parts.append(f"**Sources:**\n{listed}")
    return "".join(parts)


def _label(source: dict[str, str]) -> str:
    """The link text: the domain, as the service writes it; a hostile title (``unsafe_html``) as it is."""
    url = source["url"]
    if url.startswith(("http://", "https://")) and "gm_pwned" not in url + source.get("title", ""):
        return domain_of(url)
    return source.get("title") or url


def citations(text: str, sources: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One ``url_citation`` per source, on the first marker citing it, in UTF-8 byte offsets."""
    first: dict[int, tuple[int, int]] = {}
    for match in MARKER.finditer(text):
        start = len(text[: match.start()].encode())
        end = start + len(match.group(0).encode())
        for number in (int(n) for n in match.group(1).split(", ")):
            first.setdefault(number, (start, end))
    annotations = []
    for number, source in enumerate(sources, 1):
        if number not in first:
            continue
        start, end = first[number]
        annotations.append(
            {
                "type": "url_citation",
                "url": redirect_url(source["url"]),
                "title": None,
                "start_index": start,
                "end_index": end,
            }
        )
    return annotations


def report_step(spec: ReportSpec) -> dict[str, Any]:
    """The report's ``model_output`` step: the cited text, and the chart image when asked for."""
    text = report_text(spec)
    content: list[dict[str, Any]] = [
        {"type": "text", "text": text, "annotations": citations(text, spec.sources)}
    ]
    if spec.chart:
        png = bar_chart_png(chart_values(spec.topic, _CHART_LABELS))
        content.append({"type": "image", "mime_type": "image/png", "data": b64(png)})
    return {"type": "model_output", "content": content}


def report_deltas(step: dict[str, Any]) -> list[dict[str, Any]]:
    """How the report streams: a delta per section, untyped like the docs' recorded stream, then the
    annotations, then the chart."""
    block = step["content"][0]
    sections = re.split(r"(?=\n## |\n\*\*Sources:\*\*)", block["text"])
    deltas: list[dict[str, Any]] = [{"text": piece} for piece in sections if piece]
    deltas.append({"type": "text_annotation_delta", "annotations": block["annotations"]})
    deltas += [dict(extra) for extra in step["content"][1:]]
    return deltas
