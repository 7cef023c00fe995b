"""Deep Research's collaborative planning: propose a plan, revise it, approve it.

google-genai 3.6.1 documents ``DeepResearchAgentConfig.collaborative_planning`` as: "the Deep Research agent
will provide a research plan in its response. The agent will then proceed only if the user confirms the
plan in the next turn." A plan is therefore an ordinary agent run whose report is the plan, and the turns
after it are chained to it with ``previous_interaction_id``; the flag is read afresh on every request:

* ``%%gemini --research --plan``: ``collaborative_planning: true`` — the agent answers with a plan;
* a ``%%gemini --research`` cell whose conversation's head is that plan: the cell's text is an edit, sent
  with ``collaborative_planning: true`` again, so the agent answers with the revised plan and waits again;
* ``%gemini approve [ID]``: ``collaborative_planning: false`` and an approval, chained to the plan (the
  latest one of the current chain without ID): the research runs as planned, followed as any run.

Which runs were plans is known to the kernel that started them (``Plans``; the service's interaction does
not say, and the chain store keeps no such mark): after a kernel restart, ``%gemini approve ID`` still
approves a plan by its id, and a ``--research`` cell after it starts research on the plan with the edit
folded in (what the agent does when planning is off).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..options import CellRequest
    from ..turn import Result

APPROVAL = "Plan looks good! Start the research."
"""What ``%gemini approve`` says to the agent (an approval, as the Deep Research guide writes one)."""
PLAN_NOTE = (
    "A research plan: %gemini approve starts the research as planned; a %%gemini --research cell with "
    "your changes revises it."
)


class PlanningError(ValueError):
    """A planning request that cannot be sent; the message is one line for the user."""


@dataclass
class Plan:
    """One run that proposed (or revised) a research plan."""

    interaction_id: str
    agent: str
    chain: str | None
    parent: str | None
    """The interaction it was chained to: what the chain's head was when it was asked for."""
    visualize: bool = False
    ended: bool = False
    """The run ended, one way or another."""
    done: bool = False
    """It ended with a plan (completed)."""
    superseded_by: str | None = None
    """The run that revised it, or that approved it: it is no longer waiting."""


class Plans:
    """The plans of this kernel's runs, by interaction id, in the order they were asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, Plan] = {}

    def get(self, interaction_id: str | None) -> Plan | None:
        with self._lock:
            return self._plans.get(interaction_id or "")

    def started(
        self,
        interaction_id: str,
        agent: str,
        chain: str | None,
        parent: str | None,
        params: dict[str, Any] | None,
    ) -> None:
        """A run was created: remember it if it asked for a plan; mark the plan it revised or approved."""
        config = (params or {}).get("agent_config") or {}
        planning = config.get("collaborative_planning")
        with self._lock:
            answered = self._plans.get(parent or "")
            if answered is not None and planning is not None and answered.superseded_by is None:
                answered.superseded_by = interaction_id
            if planning:
                visualize = config.get("visualization") == "auto"
                self._plans[interaction_id] = Plan(interaction_id, agent, chain, parent, visualize)

    def finished(self, result: Result, interaction_id: str) -> str:
        """A run ended: a plan that arrived is marked done; the note that says what to do with it."""
        with self._lock:
            plan = self._plans.get(interaction_id)
            if plan is None:
                return ""
            plan.ended, plan.done = True, result.ok
        return PLAN_NOTE if result.ok else ""

    def waiting(self, chain: str | None) -> Plan | None:
        """The newest plan of ``chain`` that nobody revised or approved yet (it may still be running; one
        whose run failed is no plan)."""
        with self._lock:
            plans = [
                p
                for p in self._plans.values()
                if p.chain == chain and p.superseded_by is None and (p.done or not p.ended)
            ]
        return plans[-1] if plans else None


def prepare(
    plans: Plans, request: CellRequest, params: dict[str, Any], parent: str | None, chain: str
) -> None:
    """Decide ``collaborative_planning`` for an agent cell on ``chain`` chained to ``parent``, in ``params``.

    ``--plan`` asks for a plan (already in the config); a cell right after a plan that waits is an edit of
    it (planning stays on); an approval turns it off. Raises ``PlanningError`` for what cannot work.
    """
    agent = str(params.get("agent") or "?")
    config = params.get("agent_config")
    if config is None:
        for flag, used in (("--plan", request.plan), ("--visualize", request.visualize)):
            if used:
                raise PlanningError(f"{flag} applies to Deep Research agents, not to {agent}")
        return
    if request.approve:
        config["collaborative_planning"] = False
        return
    pending = plans.get(parent)
    if pending is not None and pending.superseded_by is None and pending.done:
        config["collaborative_planning"] = True  # the cell's text edits the plan
        if pending.visualize:
            config.setdefault("visualization", "auto")
        return
    running = plans.waiting(chain)
    if running is not None and not running.ended and running.parent == parent and not request.new:
        raise PlanningError(
            f"the research plan {running.interaction_id} is still being written: %gemini wait "
            f"{running.interaction_id}, then edit it with a --research cell or approve it"
        )


def to_approve(plans: Plans, wanted: str | None, chain: str, known: Any) -> Plan:
    """The plan ``%gemini approve`` approves: ``wanted``, else the latest plan of ``chain`` still waiting.

    ``known(interaction_id)`` → ``(agent, chain, status)`` or None: the chain store's record of a run this
    kernel did not start (after a restart). Raises ``PlanningError``.
    """
    if wanted:
        plan = plans.get(wanted)
        if plan is None:
            found = known(wanted)
            if found is None:
                raise PlanningError(f"{wanted} is no run of this notebook: %gemini tasks lists them")
            agent, chain_name, status = found
            ended = status not in ("in_progress", "queued")
            plan = Plan(wanted, agent, chain_name, None, ended=ended, done=status == "completed")
    else:
        plan = plans.waiting(chain)
        if plan is None:
            raise PlanningError(
                f"no research plan is waiting on chain '{chain}' in this kernel: ask for one with "
                "%%gemini --research --plan, or name it: %gemini approve ID"
            )
    if plan.superseded_by is not None:
        raise PlanningError(
            f"the plan {plan.interaction_id} was revised or approved already (by {plan.superseded_by})"
        )
    if plan.ended and not plan.done:
        raise PlanningError(f"the run {plan.interaction_id} ended without a plan: ask for one again")
    if not plan.done:
        raise PlanningError(
            f"the research plan {plan.interaction_id} is not ready: %gemini wait {plan.interaction_id} "
            "shows it when it is"
        )
    return plan
