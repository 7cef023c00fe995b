"""Deep Research's collaborative planning: propose a plan, wait for the user, then research.

The SDK's ``DeepResearchAgentConfig.collaborative_planning`` says: "the Deep Research agent will provide
a research plan in its response. The agent will then proceed only if the user confirms the plan in the
next turn." So a planning turn is an ordinary interaction that ends ``completed`` with the plan as its
``model_output`` (not ``requires_action``, which means client-side function calls, nor ``idle``, which is
the Live API's end of a turn); the next turn, chained with ``previous_interaction_id``, answers it:

* an approval ("approve", "looks good", "go ahead", ...) starts the research on the plan;
* any other text is an edit: with ``collaborative_planning`` still true the agent answers with the revised
  plan and waits again; with it false or absent (how clients switch to "execute") the research runs on the
  plan with the edit folded in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PLAN_TITLE = "**Research plan: "
_APPROVAL = re.compile(
    r"\b(approved?|approves|lgtm|looks? (?:good|great|fine)|sounds? (?:good|great)|go ahead|proceed|"
    r"yes|yep|ok(?:ay)?|confirm(?:ed)?|start the research|do it|perfect|great)\b",
    re.IGNORECASE,
)
_FILLER = {"the", "plan", "this", "that", "it", "is", "please", "thanks", "thank", "you", "all", "so"}


@dataclass
class Plan:
    topic: str
    steps: list[str]


def base_steps(topic: str) -> list[str]:
    return [
        f"Establish the background and key definitions of {topic}.",
        f"Search reference works, news and academic sources on {topic}.",
        "Compare what the sources say and note where they disagree.",
        "Cross-check dates and figures against a second, independent source.",
        "Write a cited report with a summary, findings and a Sources list.",
    ]


def plan_text(plan: Plan, edit: str = "") -> str:
    """The plan as the agent presents it (Markdown), asking the user to approve or change it."""
    steps = "".join(f"{i}. {step}\n" for i, step in enumerate(plan.steps, 1))
    revised = f"I revised the plan to reflect your feedback — “{edit}”.\n\n" if edit else ""
    return (
        f"{revised}Here is the research plan I propose:\n\n"
        f"{PLAN_TITLE}{plan.topic}**\n\n{steps}\n"
        "Reply to approve it (for example “looks good”), or tell me what to change."
    )


def is_approval(text: str) -> bool:
    """An approval is an approving phrase with at most a couple of other words ("Plan looks good!");
    "Looks good, but focus on costs" is an edit."""
    if not _APPROVAL.search(text):
        return False
    rest = [w for w in re.findall(r"[\w']+", _APPROVAL.sub(" ", text).lower()) if w not in _FILLER]
    return len(rest) <= 2


def with_edit(plan: Plan, edit: str) -> Plan:
    """The plan revised by the user's words: they become a step the research must cover."""
    return Plan(plan.topic, [*plan.steps[:-1], f"Address your request: {edit}", plan.steps[-1]])


def pending_plan(history: list[dict[str, Any]]) -> Plan | None:
    """The plan the conversation's last answer proposed, if it was one (else None)."""
    for step in reversed(history):
        if step.get("type") == "user_input":
            return None
        if step.get("type") != "model_output":
            continue
        text = "".join(b.get("text", "") for b in step.get("content") or [] if b.get("type") == "text")
        start = text.find(PLAN_TITLE)
        if start < 0:
            return None
        title_end = text.find("**", start + len(PLAN_TITLE))
        topic = text[start + len(PLAN_TITLE) : title_end]
        steps = re.findall(r"^\d+\. (.+)$", text[title_end:], re.MULTILINE)
        return Plan(topic, steps)
    return None
