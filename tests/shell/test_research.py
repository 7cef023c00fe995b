"""Background research through real ``%%gemini`` cells: the emulator's agent, its faults, the widget's
Python side, the chain, restarts and the subcommands.

Agents run one to a few seconds (``[emulator: duration=S]``); the tracker's stall window and polling cap
are set small so that fallbacks happen within the tests' time.
"""

from __future__ import annotations

import _thread
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import comm
import pytest
from comm.base_comm import BaseComm
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from gemini_magics.research.progress import ProgressWidget
from gemini_magics.research.tasks import Research, StaticResult, tasks_of

AGENT = "deep-research-pro-preview-12-2025"
STALL, POLL_MAX = 0.4, 0.8


def configure(kernel: Any) -> Any:
    for line in (f"GeminiMagics.research_stall = {STALL}", f"GeminiMagics.research_poll_max = {POLL_MAX}"):
        kernel.shell.run_line_magic("config", line)
    return kernel


@pytest.fixture
def rk(kernel: Any) -> Any:
    """The shell kernel, with a short stall window and polling cap."""
    return configure(kernel)


def runner(kernel: Any) -> Any:
    from gemini_magics import _registered

    return _registered.runner()


def chain_of(kernel: Any) -> Any:
    r = runner(kernel)
    return r.store.chain(r.notebook, r.store.active_name(r.notebook))


def research(kernel: Any, prompt: str, flags: str = "--research") -> Research:
    run = kernel.cell(flags, prompt)
    assert isinstance(run, Research), run
    return run


def interrupt_when_waiting(timeout: float = 10.0) -> threading.Thread:
    """Press Ctrl-C once the main thread sits in ``Tracker.wait`` (never elsewhere, which would break
    pytest itself)."""
    main = threading.main_thread().ident

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            while frame is not None:
                if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("research/state.py"):
                    _thread.interrupt_main()
                    return
                frame = frame.f_back
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


# -- starting -------------------------------------------------------------------------------------------


def test_research_returns_at_once_with_the_id_stored_and_completes_in_the_chain(rk: Any) -> None:
    rk.cell("--no-stream", "Hello")  # warm: the SDK is imported, the chain has a head
    head = chain_of(rk).head
    started = time.monotonic()
    run = research(rk, "Coral reefs [emulator: duration=1.5]")
    assert time.monotonic() - started < 0.7  # the cell did not wait for the agent
    assert run.status == "in_progress" and not run.done
    found = runner(rk).store.find(run.id)
    assert found is not None
    turn = found[2]
    assert turn.background and turn.status == "in_progress" and turn.parent_id == head
    assert turn.model == AGENT  # the configured default agent
    result = run.wait(15)
    assert result.status == "completed" and "Research report: Coral reefs" in result.text
    assert len(run.thoughts) == 5  # thought summaries were asked for (the emulator sends none otherwise)
    assert chain_of(rk).head == run.id
    turn = runner(rk).store.find(run.id)[2]
    assert turn.status == "completed" and turn.answer.startswith("# Research report")
    assert turn.total_tokens and turn.total_tokens > 0


def test_agent_flag_runs_that_agent_and_no_store_is_refused(rk: Any) -> None:
    run = research(rk, "Volcanoes [emulator: duration=0.5]", "--agent deep-research-max-preview-04-2026")
    assert run.agent == "deep-research-max-preview-04-2026"
    assert run.wait(10).status == "completed"
    for line in ("--research --no-store", "--agent deep-research-pro-preview-12-2025 --no-store"):
        with pytest.raises(UsageError, match="store"):
            rk.cell(line, "x")
    with pytest.raises(UsageError, match="--wait applies to background runs"):
        rk.cell("--wait", "x")


def test_wait_flag_blocks_and_leaves_only_the_static_report(rk: Any) -> None:
    started = time.monotonic()
    result = rk.cell("--research --wait", "Bees [emulator: duration=1]")
    assert time.monotonic() - started >= 1.0
    assert isinstance(result, StaticResult) and result.status == "completed"
    data, metadata = result._repr_mimebundle_()
    assert set(data) == {"text/markdown", "text/plain"}  # no widget: the same output in every front end
    markdown = data["text/markdown"]
    assert "# Research report: Bees" in markdown and "**Sources:**" in markdown
    # the Sources list links through the service's grounding redirects
    assert "1. [en.wikipedia.org](https://vertexaisearch.cloud.google.com/grounding-api-redirect/" in markdown
    assert markdown.count("**Thoughts**") == 1 and "> ***Drafting the report***" in markdown  # 5 in one
    assert metadata["gemini"]["interaction_id"] == result.id
    assert chain_of(rk).head == result.id


def test_the_emulator_agent_duration_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pytest --nbval notebooks/`` shortens the agent through the environment; %config still wins."""
    from gemini_magics.magics import GeminiMagics

    monkeypatch.setenv("GEMINI_MAGICS_AGENT_SECONDS", "3.5")
    assert GeminiMagics(shell=None).emulator_agent_seconds == 3.5
    assert GeminiMagics(shell=None, emulator_agent_seconds=1.0).emulator_agent_seconds == 1.0
    monkeypatch.setenv("GEMINI_MAGICS_AGENT_SECONDS", "soon")
    assert GeminiMagics(shell=None).emulator_agent_seconds == 20.0
    monkeypatch.delenv("GEMINI_MAGICS_AGENT_SECONDS")
    assert GeminiMagics(shell=None).emulator_agent_seconds == 20.0


# -- tracking that never gets stuck ---------------------------------------------------------------------


def test_a_stream_cut_midway_is_resumed(rk: Any) -> None:
    run = research(rk, "Comets [emulator: duration=1, cut=7]")
    assert run.wait(15).status == "completed"
    state = run.tracker.snapshot()
    assert state.resumes == 1 and state.polls == 0
    assert len(state.thoughts) == 5 and "Research report: Comets" in run.text


def test_a_stalled_stream_falls_back_to_polling_and_says_since_when_nothing_was_heard(rk: Any) -> None:
    run = research(rk, "Lichens [emulator: duration=2, stall=4]")
    seen: list[str] = []
    run.tracker.subscribe(lambda t: seen.append(t.state.mode))
    assert run.wait(15).status == "completed"
    state = run.tracker.snapshot()
    assert state.stalls >= 1 and state.polls >= 1 and "poll" in seen
    assert "Research report: Lichens" in run.text and len(state.thoughts) == 5


def test_a_resume_that_replays_two_events_and_hangs_falls_back_to_polling(rk: Any) -> None:
    run = research(rk, "Moss [emulator: duration=2, cut=4, half_resume=2]")
    result = run.wait(15)
    assert result.status == "completed"
    state = run.tracker.snapshot()
    assert state.stalls >= 1 and state.polls >= 1
    assert len(state.thoughts) == 5  # nothing doubled by the replays
    assert result.text.count("# Research report: Moss") == 1


@pytest.mark.parametrize("code", ["503", "429"])
def test_errors_while_polling_back_off_then_succeed(rk: Any, code: str) -> None:
    run = research(rk, f"Ferns [emulator: duration=1.5, stall=3, poll_error={code}x3, retry_after=0]")
    assert run.wait(20).status == "completed"
    state = run.tracker.snapshot()
    assert state.poll_errors >= 1 and state.polls >= 1
    assert "Research report: Ferns" in run.text


def test_quiet_run_shows_since_when_nothing_was_heard(kernel: Any) -> None:
    kernel.shell.run_line_magic("config", "GeminiMagics.research_stall = 3")
    run = research(kernel, "Slow [emulator: duration=4, stall=3]")
    tracker = run.tracker
    tracker.timing = type(tracker.timing)(stall=3, poll_first=1, poll_cap=1, quiet=0.5)
    widget = ProgressWidget(tracker)
    deadline = time.monotonic() + 3.5
    while "nothing heard since" not in widget.status.value and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "nothing heard since" in widget.status.value  # the ticker keeps the line honest
    assert run.wait(15).status == "completed"


# -- cancel, restart, concurrency -----------------------------------------------------------------------


def test_cancel_button_cancels_the_run_and_leaves_the_chain(rk: Any) -> None:
    rk.cell("--no-stream", "Hello")
    head = chain_of(rk).head
    run = research(rk, "Deserts [emulator: duration=6]")
    widget = ProgressWidget(run.tracker)
    time.sleep(0.3)
    widget.cancel_button.click()
    assert run.tracker.wait(5)
    assert run.status == "cancelled"
    assert widget.bar.bar_style == "warning"  # tqdm.notebook's colours: cancelled is a warning
    assert widget.cancel_button.layout.display == "none"
    assert "cancelled" in widget.status.value
    # The outcome, not "cancelling…": the widget stops listening when the run ends, before cancel() returns.
    assert "Cancel: cancelled" in widget.detail.value and "cancelling" not in widget.detail.value
    assert runner(rk).store.find(run.id)[2].status == "cancelled"
    assert chain_of(rk).head == head
    # Cancelling again says there is nothing to cancel; %gemini cancel reaches the service too.
    assert "nothing to cancel" in run.cancel()
    other = research(rk, "Dunes [emulator: duration=6]")
    with capture_output() as out:
        rk.line(f"cancel {other.id}")
    assert "cancelled" in out.stdout and other.tracker.wait(5) and other.status == "cancelled"


def test_kernel_restart_reattaches_to_the_running_run(rk: Any) -> None:
    run = research(rk, "Rivers [emulator: duration=2]")
    old = run.tracker
    rk.restart()
    configure(rk)
    assert old.stopped and old.state.mode == "stopped"
    with capture_output() as out:
        rk.line("tasks")
    listing = out.outputs[0].data["text/markdown"]
    assert run.id.replace("_", "\\_") in listing and "in\\_progress" in listing
    assert "Following again" in listing
    assert "Background run" in out.outputs[1].data["text/markdown"]  # its progress, shown again
    result = rk.line("wait")
    assert isinstance(result, StaticResult) and result.status == "completed" and result.id == run.id
    assert chain_of(rk).head == run.id
    assert runner(rk).store.find(run.id)[2].status == "completed"
    with capture_output() as out:
        rk.line("tasks")  # nothing left to follow
    listing = out.outputs[0].data["text/markdown"]
    assert "Following again" not in listing and "| completed |" in listing and len(out.outputs) == 1


def test_two_runs_at_once_each_get_their_report_and_the_panel_lists_both(rk: Any) -> None:
    first = research(rk, "Owls [emulator: duration=1.5]")
    second = research(rk, "Bats [emulator: duration=0.7]")
    assert second.wait(10).status == "completed" and first.wait(10).status == "completed"
    assert "Owls" in first.text and "Bats" in second.text
    assert len(first.thoughts) == len(second.thoughts) == 5
    assert not any("Bats" in t for t in first.thoughts) and not any("Owls" in t for t in second.thoughts)
    assert any("Owls" in t for t in first.thoughts) and any("Bats" in t for t in second.thoughts)
    assert chain_of(rk).head == first.id  # the last to finish continues the chain
    assert any("continues from this report" in note for note in first.result.notes)
    rows = tasks_of(runner(rk)).rows()
    assert [r.interaction_id for r in rows] == [first.id, second.id]
    assert [r.status for r in rows] == ["completed", "completed"]
    panel = rk.line("panel")
    text = panel._repr_markdown_()
    assert first.id.replace("_", "\\_") in text and second.id.replace("_", "\\_") in text


def test_the_next_cell_asks_about_the_finished_report(rk: Any) -> None:
    result = rk.cell("--research --wait", "Quokkas [emulator: duration=0.5]")
    follow = rk.cell("--no-stream", "What did I ask before?")
    turn = chain_of(rk).turns()[-1]
    assert turn.parent_id == result.id  # sent with previous_interaction_id = the research
    assert "Quokkas" in follow.text  # the emulator saw the research turn in the conversation


def test_a_cell_run_meanwhile_does_not_lose_the_report(rk: Any) -> None:
    run = research(rk, "Kelp [emulator: duration=1]")
    meanwhile = rk.cell("--no-stream", "My name is Ada.")
    assert chain_of(rk).head == meanwhile.id
    result = run.wait(10)
    assert chain_of(rk).head == run.id
    assert any(f"--from {meanwhile.id}" in note for note in result.notes)
    follow = rk.cell("--no-stream", "What did I say before?")
    assert "Kelp" in follow.text


# -- subcommands ----------------------------------------------------------------------------------------


def test_show_renders_a_report_again_even_after_the_service_forgot_it(rk: Any) -> None:
    run = research(rk, "Otters [emulator: duration=0.5, expire=1]")
    assert run.wait(10).status == "completed"
    shown = rk.line(f"show {run.id}")
    assert shown.status == "completed" and "Research report: Otters" in shown.text
    assert rk.line("show").id == run.id  # without ID: the newest completed run
    rk.restart()
    time.sleep(1.2)  # the emulator expired it
    shown = rk.line(f"show {run.id}")
    assert "Research report: Otters" in shown.text
    assert any("no longer returns it" in note for note in shown.notes)
    with pytest.raises(UsageError, match="%gemini -- show"):
        rk.line("show me a poem")
    with pytest.raises(UsageError, match="404"):
        rk.line("show v1_unknown")


def test_wait_interrupted_with_ctrl_c_stops_waiting_only(rk: Any) -> None:
    with pytest.raises(UsageError, match="no background run is running"):
        rk.line("wait")
    run = research(rk, "Storms [emulator: duration=2]")
    interrupt_when_waiting()
    with capture_output() as out:
        assert rk.line(f"wait {run.id}") is None
    assert "Stopped waiting" in out.stdout and not run.done
    interrupt_when_waiting()
    with capture_output() as out:
        handle = rk.cell("--research --wait", "Rain [emulator: duration=2]")
    assert isinstance(handle, Research) and "Stopped waiting" in out.stdout
    assert run.wait(10).status == "completed" and handle.wait(10).status == "completed"


# -- the widget's Python side ---------------------------------------------------------------------------


class RecordingComm(BaseComm):
    """A comm that records what a kernel would send to the browser, and from which thread."""

    sent: ClassVar[list[tuple[str, str, dict]]] = []
    kernel = type("Kernel", (), {"get_parent": lambda self: {"header": {"msg_id": "cell-1"}}})()

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys):
        RecordingComm.sent.append((threading.current_thread().name, msg_type, data or {}))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict]]]:
    RecordingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    yield RecordingComm.sent


def busy(seconds: float) -> int:
    """A CPU-bound cell of the main thread."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += sum(range(200))
    return n


def test_widget_updates_reach_the_front_end_as_trait_updates_while_another_cell_runs(
    rk: Any, recorded: list
) -> None:
    run = research(rk, "Lynx [emulator: duration=1.5]")
    widget = ProgressWidget(run.tracker)
    before = len(recorded)
    busy(1.2)  # the kernel runs another cell meanwhile
    during = [m for m in recorded[before:] if m[1] == "comm_msg"]
    from_threads = [m for m in during if m[0] != "MainThread" and m[2].get("method") == "update"]
    assert from_threads, "no widget update while the main thread was busy"
    assert any("outputs" in m[2].get("state", {}) for m in from_threads)  # thought summaries
    assert any("value" in m[2].get("state", {}) for m in from_threads)  # status / elapsed
    assert run.tracker.wait(10)
    # Never ``with out:`` (it sets msg_id and, from a thread, lands in the wrong cell under ipykernel 7).
    assert not any("msg_id" in state for state in updates(recorded))
    assert widget.bar.bar_style == "success"
    assert widget.live.layout.display == "none"
    (view,) = widget.report.children
    texts = [o["data"]["text/markdown"] for child in view.children for o in getattr(child, "outputs", ())]
    assert any("# Research report: Lynx" in t for t in texts)
    assert any("**Sources:**" in t for t in texts)
    assert widget.history.get_title(0) == "Earlier thoughts (4)" or widget.history.titles[0].endswith("(4)")
    assert "Drafting the report" in widget.latest.outputs[0]["data"]["text/markdown"]  # newest first
    # The control: ``with out:`` from a thread is what the check above would catch.
    import ipywidgets

    out = ipywidgets.Output()
    worker = threading.Thread(target=lambda: out.__enter__())
    worker.start()
    worker.join()
    assert any("msg_id" in state for state in updates(recorded))


def updates(recorded: list) -> list[dict]:
    return [m[2].get("state", {}) for m in recorded if m[1] == "comm_msg" and m[2].get("method") == "update"]


def test_displayed_in_a_kernel_the_static_fallback_never_changes_and_the_widget_shows_the_report(
    rk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nbclient (gemini-magics run, papermill) saves an output's last state, nbval compares its first: the
    live widget's static fallback is displayed once, never updated, and says nothing that changes."""
    import gemini_magics.render.view as view
    from gemini_magics.research.progress import running_markdown, running_plain

    monkeypatch.setattr(view, "in_kernel", lambda: True)
    run = research(rk, "Puffins [emulator: duration=1]")
    with capture_output() as captured:
        run._ipython_display_()
        assert run.tracker.wait(10)
        time.sleep(0.3)  # an update_display_data, if any, would arrive here
    [shown] = captured.outputs  # no update of the display
    model = shown.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    markdown, plain = shown.data["text/markdown"], shown.data["text/plain"]
    assert markdown.startswith("**Background run**") and f"`%gemini show {run.id}`" in markdown
    assert "in\\_progress" not in markdown and "started" not in markdown  # no status, no time
    ended = run.tracker.snapshot()
    assert ended.status == "completed"
    label = run.tracker.backend.target().label
    assert (markdown, plain) == (running_markdown(ended, label), running_plain(ended))
    provenance = {"agent": AGENT, "backend": "endpoint", "chain": "default", "replayed": False}
    assert shown.metadata["gemini"] == {"interaction_id": run.id, "background": True, **provenance}
    # The report is in the widget itself.
    from ipywidgets.widgets.widget import _instances

    box = _instances[model]
    wait_for(lambda: bool(box.children[-1].children))
    (final,) = box.children[-1].children
    texts = [o["data"]["text/markdown"] for child in final.children for o in getattr(child, "outputs", ())]
    assert any("# Research report: Puffins" in t for t in texts)
    # Displayed after the end, a run shows as any answer.
    with capture_output() as again:
        run._ipython_display_()
    assert "# Research report: Puffins" in again.outputs[0].data["text/markdown"]


def test_panel_widget_lists_runs_updates_live_and_shows_a_report(
    rk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gemini_magics.render.view as view

    monkeypatch.setattr(view, "in_kernel", lambda: True)
    done = rk.cell("--research --wait", "Hares [emulator: duration=0.3]")
    panel = rk.line("panel")
    running = research(rk, "Foxes [emulator: duration=1.5]")
    wait_for(lambda: len(panel._rows) == 2)
    row = panel._rows[running.id]
    assert not row["cancel"].disabled and row["show"].disabled
    assert running.tracker.wait(10)
    wait_for(lambda: "completed" in panel._rows[running.id]["cells"][0].value)
    assert panel._rows[running.id]["cancel"].disabled and not panel._rows[running.id]["show"].disabled
    panel._rows[done.id]["show"].click()
    wait_for(lambda: len(panel.report.children) == 1)
    assert done.id in panel.report_title.value
    panel.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_wait_after_the_run_ended_returns_its_result(rk: Any) -> None:
    """A run that ended before ``%gemini wait`` was reached (a fast run, a replayed one) is not an error:
    the newest run's result is the answer."""
    run = research(rk, "Tides [emulator: duration=0.3]")
    finished = run.wait(15)
    waited = rk.line("wait")
    assert waited.id == run.id and waited.text == finished.text
