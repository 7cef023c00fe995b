"""``%gemini panel``'s heading counts what its rows show: runs started with ``%%gemini --research`` and
``--background`` in a real shell against the emulator, the panel displayed while they go.

It once said "2, 1 running" above two completed rows: a run that ended between the panel reading the store
and subscribing to changes was never heard of again (the ticker skipped finished runs), so its row and the
count stayed "running".
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from test_research import configure, research, runner, wait_for

from gemini_magics.research.tasks import tasks_of

HEADING = "<b>Background runs of this notebook</b>: "


@pytest.fixture
def rk(kernel: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import gemini_magics.render.view as view

    monkeypatch.setattr(view, "in_kernel", lambda: True)  # the widget panel, as in a kernel
    return configure(kernel)


def shown_running(panel: Any) -> int:
    """Rows whose status cell shows a run still going (no end icon, the status ``in_progress``)."""
    return sum(1 for entry in panel._rows.values() if "in_progress" in entry["cells"][0].value)


def statuses_shown(panel: Any) -> list[str]:
    return [re.sub(r"<[^>]+>", "", entry["cells"][0].value) for entry in panel._rows.values()]


def test_heading_matches_the_rows_after_runs_complete(rk: Any) -> None:
    background = rk.cell("--background", "Owls [emulator: duration=1.2]")
    deep = research(rk, "Bats [emulator: duration=0.6]")
    panel = rk.line("panel")
    try:
        assert panel.header.value == f"{HEADING}2, {shown_running(panel)} running"
        assert shown_running(panel) >= 1  # the research run (a --background model turn may be done)
        assert background.tracker.wait(10) and deep.tracker.wait(10)
        wait_for(lambda: shown_running(panel) == 0)
        wait_for(lambda: panel.header.value == f"{HEADING}2")
        assert statuses_shown(panel) == ["✓ completed", "✓ completed"]
        time.sleep(1.2)  # a tick later, still
        assert panel.header.value == f"{HEADING}2"
        assert all(entry["cancel"].disabled and not entry["show"].disabled for entry in panel._rows.values())
    finally:
        panel.close()


def test_a_run_ending_while_the_panel_is_built_is_not_left_running(
    rk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end comes between reading the rows and listening: forced by holding the subscription until the
    run has ended (as a busy kernel or a slow store could)."""
    run = research(rk, "Moths [emulator: duration=0.8]")
    tasks = tasks_of(runner(rk))
    subscribe = tasks.subscribe

    def late_subscribe(listener: Any) -> Any:
        assert run.tracker.wait(10)
        return subscribe(listener)

    monkeypatch.setattr(tasks, "subscribe", late_subscribe)
    panel = rk.line("panel")
    try:
        wait_for(lambda: panel.header.value == f"{HEADING}1", timeout=3.0)
        assert statuses_shown(panel) == ["✓ completed"]
    finally:
        panel.close()


def test_a_run_its_kernel_settled_is_listed_as_settled_whatever_a_stopped_follower_last_read(rk: Any) -> None:
    """The server's sidebar once listed a completed run as ``in_progress`` next to its own (completed)
    duplicate in CI: the server's read-only tracker had stopped before the end (stalled on a loaded
    machine), and its stale status won over what the kernel had written to the chain."""
    from gemini_magics.mapping.store import MapStore
    from gemini_magics.research.state import Timing
    from gemini_magics.serverext.follower import Follower
    from gemini_magics.serverext.runs import Runs

    r = runner(rk)
    run = research(rk, "Herons [emulator: duration=1.0]")
    follower = Follower(r.backend, r.store, MapStore(r.store.path), Timing())
    follower.scan()  # its kernel (this process) is alive: the server follows it read-only
    server_side = follower.tasks_for(r.notebook).trackers[run.id]
    server_side.stop()  # as a stalled follower would be, before the end
    try:
        assert run.tracker.wait(10)
        wait_for(lambda: r.store.find(run.id)[2].status == "completed")
        [row] = follower.tasks_for(r.notebook).rows()
        assert row.status == "completed"
        [listed] = [entry for entry in Runs(follower, "/").runs()["runs"] if entry["id"] == run.id]
        assert listed["status"] == "completed" and listed["followed_by"] is None and listed["has_report"]
    finally:
        follower.stop()
