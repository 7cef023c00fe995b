"""Known models and agents as the magics see them, and the substitution of deprecated model IDs.

IDs not in the catalog pass through untouched: the catalog may be older than the service, and the
service's own error is clearer than a guess of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MODEL = "gemini-3-flash-preview"
PRO_MODEL = "gemini-3.1-pro-preview"
DEFAULT_AGENT = "deep-research-pro-preview-12-2025"
IMAGE_MODELS = ("gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview")
DEPRECATED_FAMILIES = ("gemini-2.0-", "gemini-1.5-")

# The models and agents of the Interactions API guide (the project's seed) with its descriptions; they win
# over the SDK's comments. The seed also lists a few preview IDs the installed SDK may not.
SEED_MODELS = {
    "gemini-3.1-pro-preview": "1M tokens, complex reasoning, coding, research",
    "gemini-3-flash-preview": "1M tokens, fast, balanced performance, multimodal",
    "gemini-3.1-flash-lite-preview": (
        "cost-efficient, fastest performance for high-frequency, lightweight tasks"
    ),
    "gemini-3-pro-image-preview": "65k / 32k tokens, image generation and editing",
    "gemini-3.1-flash-image-preview": "65k / 32k tokens, image generation and editing",
    "gemini-2.5-pro": "1M tokens, complex reasoning, coding, research",
    "gemini-2.5-flash": "1M tokens, fast, balanced performance, multimodal",
}
SEED_AGENTS = {DEFAULT_AGENT: "Deep Research agent"}


@dataclass(frozen=True)
class Resolved:
    """The model ID to send, and a note for the user when it differs from what they asked for."""

    model: str
    note: str | None = None


def resolve_model(requested: str) -> Resolved:
    """Replace deprecated IDs (``gemini-2.0-*``, ``gemini-1.5-*``) by the current flash or pro model."""
    requested = requested.strip()
    if not requested.startswith(DEPRECATED_FAMILIES):
        return Resolved(requested)
    replacement = PRO_MODEL if "pro" in requested else DEFAULT_MODEL
    return Resolved(replacement, f"{requested} is deprecated; using {replacement} instead.")


def is_image_model(model: str) -> bool:
    return "image" in model


def deprecated(model: str) -> bool:
    return model.strip().startswith(DEPRECATED_FAMILIES)


@dataclass(frozen=True)
class Known:
    """One model or agent the installed SDK (or the seed) knows."""

    id: str
    kind: str  # "model" or "agent"
    description: str
    in_sdk: bool  # listed by the installed google-genai's types


def known() -> list[Known]:
    """The models and agents of the installed google-genai's ``Model``/``AgentOption`` types, read now
    (a newer SDK lists newer IDs), then the seed's IDs the SDK lacks. Descriptions: the seed's, else
    the comment the SDK's source carries above the ID."""
    from google.genai._gaos.types.interactions import agentoption, model

    out: list[Known] = []
    for kind, module, literal, seed in (
        ("model", model, model.Model, SEED_MODELS),
        ("agent", agentoption, agentoption.AgentOption, SEED_AGENTS),
    ):
        ids = _literal_values(literal)
        comments = _comments(module)
        for name in ids:
            out.append(Known(name, kind, seed.get(name) or comments.get(name, ""), True))
        out += [Known(name, kind, text, False) for name, text in seed.items() if name not in ids]
    return out


def _literal_values(union: object) -> list[str]:
    """The strings of a ``Union[Literal[...], UnrecognizedStr]`` (the SDK's open enums)."""
    from typing import get_args

    values: list[str] = []
    for arm in get_args(union) or (union,):
        values += [v for v in get_args(arm) if isinstance(v, str)]
    return list(dict.fromkeys(values))


def _comments(module: object) -> dict[str, str]:
    """``# comment`` lines right above a quoted ID in the SDK's generated source: its description."""
    import inspect

    try:
        source = inspect.getsource(module)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return {}
    found = re.findall(r'^[ \t]*#[ \t]*(.+?)[ \t]*\n[ \t]*"([^"\n]+)",', source, re.MULTILINE)
    return {name: text for text, name in found}


AGENT_FAMILIES = ("deep-research", "antigravity", "code-mender")
"""google-genai 3.6's ``agent_config`` union, by ``type``; any other agent is ``dynamic``."""


def agent_family(agent: str) -> str:
    """The ``agent_config`` type an agent takes, from its ID (the service names its agents so)."""
    name = agent.strip().removeprefix("agents/").replace("codemender", "code-mender")
    return next((family for family in AGENT_FAMILIES if name.startswith(family)), "dynamic")


def agent_config(
    agent: str, *, plan: bool | None = None, visualize: bool = False
) -> dict[str, object] | None:
    """The ``agent_config`` for ``agent``: each family takes only its own (the service refuses a Deep Research
    config sent to another agent). Deep Research gets thought summaries, and ``plan`` (collaborative planning:
    True proposes or revises a plan, False executes the one proposed) and ``visualize`` (charts in the report)
    when asked; the other families need nothing from us."""
    if agent_family(agent) != "deep-research":
        return None
    config: dict[str, object] = {"type": "deep-research", "thinking_summaries": "auto"}
    if plan is not None:
        config["collaborative_planning"] = plan
    if visualize:
        config["visualization"] = "auto"
    return config
