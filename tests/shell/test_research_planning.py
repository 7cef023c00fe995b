"""Deep Research collaborative planning through real cells: ``--research --plan`` proposes a plan, a
``--research`` cell right after it edits it, ``%gemini approve`` runs it — the real SDK against the
emulator over HTTP, the agent's turns chained by ``previous_interaction_id``.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from test_research import chain_of, configure, research, runner

from gemini_magics.options import SUBCOMMANDS, help_text
from gemini_magics.research.planning import APPROVAL, PLAN_NOTE
from gemini_magics.research.progress import ProgressWidget
from gemini_magics.research.tasks import Research, StaticResult

TOPIC = "Ocean acidification and oyster farms"
EDIT = "Also cover hatcheries in Chile"


@pytest.fixture
def rk(kernel: Any) -> Any:
    return configure(kernel)


def turn_of(kernel: Any, interaction_id: str) -> Any:
    found = runner(kernel).store.find(interaction_id)
    assert found is not None, interaction_id
    return found[2]


def test_plan_edit_approve(rk: Any) -> None:
    # 1. --plan: the agent proposes a plan, followed by the progress widget like any run.
    plan = research(rk, f"{TOPIC} [emulator: duration=1]", "--new --research --plan")
    widget = ProgressWidget(plan.tracker)
    proposed = plan.wait(15)
    assert proposed.status == "completed"
    assert f"**Research plan: {TOPIC}**" in proposed.text and "1. Establish the background" in proposed.text
    assert "## Research plan followed" not in proposed.text  # a plan, not research
    assert PLAN_NOTE in proposed.notes
    (view,) = widget.report.children  # the widget shows the plan, and what to do with it
    texts = [o["data"]["text/markdown"] for c in view.children for o in getattr(c, "outputs", ())]
    assert any(f"Research plan: {TOPIC}" in t for t in texts) and any("%gemini approve" in t for t in texts)
    assert chain_of(rk).head == plan.id

    # 2. A --research cell right after it: its text edits the plan; the agent answers with the revision.
    revised = research(rk, EDIT, "--research").wait(15)
    assert revised.status == "completed" and PLAN_NOTE in revised.notes
    assert f"I revised the plan to reflect your feedback — “{EDIT}”" in revised.text
    assert f"Address your request: {EDIT}" in revised.text and "## Research plan followed" not in revised.text
    assert turn_of(rk, revised.id).parent_id == plan.id and chain_of(rk).head == revised.id
    with pytest.raises(UsageError, match=f"the plan {plan.id} was revised or approved already"):
        rk.line(f"approve {plan.id}")

    # 3. %gemini approve: the research runs as planned (the revised plan), chained to it.
    run = rk.line("approve")
    assert isinstance(run, Research)
    report = run.wait(15)
    assert report.status == "completed" and f"# Research report: {TOPIC}" in report.text
    assert "## Research plan followed" in report.text and f"Address your request: {EDIT}" in report.text
    assert PLAN_NOTE not in report.notes and len(run.thoughts) == 5
    approval = turn_of(rk, run.id)
    assert approval.parent_id == revised.id and approval.prompt == APPROVAL
    assert chain_of(rk).head == run.id
    # Nothing waits any more; the conversation goes on from the report.
    with pytest.raises(UsageError, match="no research plan is waiting on chain 'default'"):
        rk.line("approve")
    follow = rk.cell("--no-stream", "What did I ask before?")
    assert turn_of(rk, follow.id).parent_id == run.id


def test_a_research_cell_after_a_report_is_research_not_an_edit(rk: Any) -> None:
    first = rk.cell("--new --research --wait", "Kelp [emulator: duration=0.5]")
    again = rk.cell("--research --wait", "Sea otters [emulator: duration=0.5]")
    assert "# Research report: Sea otters" in again.text and "Research plan:" not in again.text
    assert turn_of(rk, again.id).parent_id == first.id


def test_approve_refuses_what_it_cannot_approve(rk: Any) -> None:
    with pytest.raises(UsageError, match=r"no research plan is waiting.*%%gemini --research --plan"):
        rk.line("approve")
    plan = research(rk, f"{TOPIC} [emulator: duration=2]", "--new --research --plan")
    with pytest.raises(UsageError, match=f"the research plan {plan.id} is not ready: %gemini wait"):
        rk.line("approve")
    # An edit before the plan arrived would be sent to the wrong turn: the cell says to wait.
    with pytest.raises(UsageError, match=f"the research plan {plan.id} is still being written"):
        rk.cell("--research", EDIT)
    with pytest.raises(UsageError, match="at most one interaction ID"):
        rk.line("approve a b")
    with pytest.raises(UsageError, match="v1_nothing is no run of this notebook"):
        rk.line("approve v1_nothing")
    assert plan.wait(15).status == "completed"
    assert isinstance(rk.line(f"approve {plan.id}"), Research)


def test_a_plan_that_failed_waits_for_nothing(rk: Any) -> None:
    broken = research(rk, f"{TOPIC} [emulator: duration=0.5, fail=no plan today]", "--new --research --plan")
    assert broken.tracker.wait(15) and broken.status == "failed"
    with pytest.raises(UsageError, match=f"the run {broken.id} ended without a plan"):
        rk.line(f"approve {broken.id}")
    with pytest.raises(UsageError, match="no research plan is waiting"):
        rk.line("approve")
    after = rk.cell("--research --wait", "Kelp [emulator: duration=0.5]")  # research, not an edit
    assert "# Research report: Kelp" in after.text


def test_plan_with_visualize_keeps_the_chart_for_the_approved_research(rk: Any) -> None:
    flags = "--new --research --plan --visualize --wait"
    plan = rk.cell(flags, "Solar power growth [emulator: duration=0.5]")
    assert isinstance(plan, StaticResult) and "**Research plan: Solar power growth**" in plan.text
    assert plan.image_bytes == []  # a plan has no chart
    report = rk.line("approve").wait(15)
    assert "## Visualization" in report.text and "## Research plan followed" in report.text
    [png] = report.image_bytes
    assert png.startswith(b"\x89PNG")


def test_approve_after_a_restart_takes_the_plan_by_its_id(rk: Any) -> None:
    plan = rk.cell("--new --research --plan --wait", f"{TOPIC} [emulator: duration=0.5]")
    rk.restart()
    configure(rk)
    with pytest.raises(UsageError, match="name it: %gemini approve ID"):
        rk.line("approve")  # this kernel never saw the plan being asked for
    report = rk.line(f"approve {plan.id}").wait(15)
    assert "## Research plan followed" in report.text and turn_of(rk, report.id).parent_id == plan.id


def test_help_lists_plan_visualize_and_approve() -> None:
    text = help_text()
    assert "--plan" in text and "--visualize" in text and "%gemini approve" in text
    assert "approve" in SUBCOMMANDS
