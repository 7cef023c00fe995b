"""The research tracker on its own: backoff shape, replayed events, the quiet indicator, the chain rule.

The tracker runs against the session emulator over HTTP with the real SDK; ``SpyBackend`` only records
when the tracker called ``get`` (it changes nothing).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from gemini_magics.backend import Backend
from gemini_magics.chain import ChainStore, Turn
from gemini_magics.emulator import EmulatorServer
from gemini_magics.research.progress import status_text
from gemini_magics.research.tracker import State, Timing, Tracker, _epoch

AGENT = "deep-research-pro-preview-12-2025"


class SpyBackend(Backend):
    def __init__(self, url: str) -> None:
        super().__init__(url, retries=0)
        self.gets: list[float] = []

    def get(self, interaction_id: str) -> Any:
        self.gets.append(time.monotonic())
        return super().get(interaction_id)


def start(backend: Backend, prompt: str) -> str:
    created = backend.create(
        {
            "agent": AGENT,
            "input": prompt,
            "background": True,
            "agent_config": {"type": "deep-research", "thinking_summaries": "auto"},
        }
    )
    return created.id


def test_polls_back_off_up_to_the_cap_and_notice_the_end_within_it(emulator: EmulatorServer) -> None:
    """Every resume hangs (``half_resume=0``) after the first stream is cut, and two polls fail: the
    tracker polls with growing, capped delays and still finishes within one cap of the agent's end."""
    backend = SpyBackend(emulator.base_url)
    ident = start(backend, "Tide pools [emulator: duration=3, cut=3, half_resume=0, poll_error=503x2]")
    timing = Timing(stall=0.3, poll_first=0.1, poll_cap=0.4)
    tracker = Tracker(backend, ident, AGENT, timing=timing)
    noticed: list[float] = []
    tracker.subscribe(lambda t: noticed.append(time.time()) if t.state.done and not noticed else None)
    tracker.start()
    assert tracker.wait(20)
    state = tracker.snapshot()
    assert state.status == "completed" and state.result is not None
    assert "Research report: Tide pools" in state.result.text
    # poll_error also fails streamed gets: the first stream attempt takes one of the two errors
    assert state.poll_errors >= 1 and state.polls >= 4
    gaps = [b - a for a, b in zip(backend.gets, backend.gets[1:], strict=False)][:-1]  # last: the end
    assert len(gaps) >= 4
    assert gaps[0] < 0.3, gaps  # the first delay is short ...
    assert max(gaps) <= timing.poll_cap + 0.3, gaps  # ... the longest is the cap ...
    assert all(later >= earlier * 0.7 for earlier, later in itertools.pairwise(gaps)), gaps
    assert gaps[-1] >= 0.3, gaps  # ... and the delays grew to it
    ended = _epoch(state.result.interaction.updated)
    assert ended is not None
    # ``updated`` is to the second, as on the service (truncated): up to one second earlier than the end.
    assert noticed[0] - ended <= timing.poll_cap + 0.3 + 1.0


def test_a_cut_stream_is_resumed_without_polling(emulator: EmulatorServer) -> None:
    backend = SpyBackend(emulator.base_url)
    ident = start(backend, "Glaciers [emulator: duration=1, cut=6]")
    tracker = Tracker(backend, ident, AGENT, timing=Timing(stall=5, poll_first=1, poll_cap=2)).start()
    assert tracker.wait(15)
    state = tracker.snapshot()
    assert state.status == "completed"
    assert state.resumes == 1 and state.polls == 0 and state.stalls == 0
    assert len(state.thoughts) == 5  # each thought once, although the resume started mid-way
    assert len(backend.gets) == 1  # only the final fetch of the finished interaction


def test_replayed_events_are_dropped(emulator: EmulatorServer) -> None:
    tracker = Tracker(Backend(emulator.base_url, retries=0), "v1_x", AGENT)
    start_event = {"event_type": "step.start", "index": 0, "step": {"type": "thought"}, "event_id": "3"}
    delta = {
        "event_type": "step.delta",
        "index": 0,
        "delta": {"type": "thought_summary", "content": {"type": "text", "text": "Planning."}},
        "event_id": "4",
    }
    assert tracker._absorb_event(start_event) and tracker._absorb_event(delta)
    assert not tracker._absorb_event(dict(delta))  # the same event again, as a replaying resume sends it
    assert tracker.snapshot().thoughts == ["Planning."]
    assert tracker.snapshot().events == 2


def test_a_status_that_stops_changing_says_since_when_nothing_was_heard() -> None:
    now = time.time()
    state = State("v1_abc", AGENT, started=now - 300, last_news=now - 125)
    text = status_text(state, quiet_after=60, now=now)
    assert "nothing heard since" in text and "2 min ago" in text and "5:00" in text
    fresh = State("v1_abc", AGENT, started=now - 300, last_news=now - 5)
    assert "nothing heard" not in status_text(fresh, quiet_after=60, now=now)


def test_adopt_joins_a_finished_run_to_the_chain(tmp_path: Path) -> None:
    """The chain rule for background runs: see ``research/tasks.py``."""
    with ChainStore(tmp_path / "c.sqlite3") as store:
        chain = store.chain("nb", "default")
        research = chain.record(Turn(prompt="research", parent_id=None, background=True))
        chain.update(research, interaction_id="R")
        # Unmoved head: an ordinary advance.
        assert chain.adopt(research, time.time(), answer="report") and chain.head == "R"

        # The head moved while a second run worked; it finished after: it becomes the head.
        second = chain.record(Turn(prompt="research 2", parent_id="R", background=True))
        chain.update(second, interaction_id="R2")
        other = chain.record(Turn(prompt="chat", parent_id="R"))
        chain.complete(other, interaction_id="X")
        assert chain.head == "X"
        assert chain.adopt(second, time.time() + 1, answer="report 2") and chain.head == "R2"
        assert [role for role, _ in chain.transcript()] == ["user", "model", "user", "model"]
        assert chain.transcript()[-1] == ("model", "report 2")  # R → R2; the chat stays in history

        # A run that finished before the current head's turn was sent does not take over.
        third = chain.record(Turn(prompt="research 3", parent_id="R2", background=True))
        chain.update(third, interaction_id="R3")
        later = chain.record(Turn(prompt="chat 2", parent_id="R2"))
        chain.complete(later, interaction_id="Y")
        assert not chain.adopt(third, time.time() - 3600) and chain.head == "Y"
        assert chain.turn(third).status == "completed"

        # Never across a reset.
        fourth = chain.record(Turn(prompt="research 4", parent_id="Y", background=True))
        chain.update(fourth, interaction_id="R4")
        chain.reset()
        assert not chain.adopt(fourth, time.time() + 1) and chain.head is None
