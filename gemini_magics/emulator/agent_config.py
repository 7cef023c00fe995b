"""Which ``agent_config`` each agent family accepts, and the fields an agent run adds to its interaction.

google-genai 3.6 types ``agent_config`` as a union discriminated by ``type``: ``deep-research``
(``DeepResearchAgentConfig``), ``antigravity``, ``code-mender`` and ``dynamic`` (agents defined at run
time). Each agent takes only its own family's config: a Deep Research config sent to an Antigravity agent
is a 400, as on the service. ``app.py``'s admission calls ``config_problem`` and raises the error.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

_CONFIG_CLASSES = {
    "deep-research": ("deepresearchagentconfig", "DeepResearchAgentConfig"),
    "antigravity": ("antigravityagentconfig", "AntigravityAgentConfig"),
    "code-mender": ("codemenderagentconfig", "CodeMenderAgentConfig"),
    "dynamic": ("dynamicagentconfig", "DynamicAgentConfig"),
}


def family_of(agent: str) -> str:
    """The config family of an agent ID: by its name, as the service's agent IDs are named."""
    name = agent.removeprefix("agents/").replace("codemender", "code-mender")
    for family in ("deep-research", "antigravity", "code-mender"):
        if name.startswith(family):
            return family
    return "dynamic"


def is_research(agent: str | None) -> bool:
    return bool(agent) and family_of(str(agent)) == "deep-research"


@functools.cache
def _fields(family: str) -> frozenset[str] | None:
    """The keys the SDK's config type of ``family`` declares (None: it allows any, as ``dynamic`` does)."""
    import importlib

    module, name = _CONFIG_CLASSES[family]
    cls = getattr(importlib.import_module(f"google.genai._gaos.types.interactions.{module}"), name)
    if cls.model_config.get("extra") == "allow":
        return None
    return frozenset(f.alias or n for n, f in cls.model_fields.items())


def config_problem(agent: str, config: Any) -> str | None:
    """Why ``config`` cannot go with ``agent`` (the 400's message), or None when it fits."""
    if config is None:
        return None
    if not isinstance(config, dict):
        return "Invalid value for 'agent_config': expected an object."
    kind = config.get("type")
    if kind not in _CONFIG_CLASSES:
        known = ", ".join(f"'{k}'" for k in _CONFIG_CLASSES)
        return f"Invalid value for 'agent_config.type': {kind!r}. Expected one of {known}."
    family = family_of(agent)
    if kind != family:
        return (
            f"Agent config of type '{kind}' is not supported for agent '{agent}'. "
            f"Use an agent_config of type '{family}'."
        )
    allowed = _fields(family)
    unknown = sorted(set(config) - allowed) if allowed is not None else []
    if unknown:
        return f"Unknown parameter 'agent_config.{unknown[0]}' for agent_config of type '{kind}'."
    return None


def run_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Output-only fields an agent interaction carries: ``environment_id`` when the request set an
    ``environment`` (the SDK: "Only populated if environment config is set in the request")."""
    environment = body.get("environment")
    if not body.get("agent") or environment is None:
        return {}
    if isinstance(environment, str) and environment:
        return {"environment_id": environment}
    if isinstance(environment, dict) and environment.get("environment_id"):
        return {"environment_id": str(environment["environment_id"])}
    return {"environment_id": str(uuid.uuid4())}
