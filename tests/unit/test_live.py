"""The live view of a streaming answer: renders coalesced to ~30 a second, on a simulated clock.

The view writes to a real ``IPython.display`` display handle in a real InteractiveShell; what reaches the
front end is captured where IPython hands it over (``display_pub.publish``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from gemini_magics import blocks as b
from gemini_magics.render import static
from gemini_magics.render.live import MAX_UPDATES_PER_SECOND, RENDER_SHARE, LiveView


def the_shell() -> InteractiveShell:
    """The process's IPython shell; created the way ``IPython.testing.globalipapp`` does if none exists yet.

    ``globalipapp.start_ipython`` only works once per process, and ``tests/shell`` relies on that call, so
    it is not made here: when it comes later it adopts this same (Terminal) shell.
    """
    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    from IPython.terminal.interactiveshell import TerminalInteractiveShell
    from IPython.testing import tools

    config = tools.default_config()
    config.TerminalInteractiveShell.simple_prompt = True
    return TerminalInteractiveShell.instance(config=config)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FrontEnd:
    """Every bundle published, with its display id and whether it updates an earlier display."""

    published: list[tuple[dict[str, Any], str | None, bool]] = field(default_factory=list)

    def updates(self, display_id: str) -> list[dict[str, Any]]:
        return [data for data, shown_id, update in self.published if update and shown_id == display_id]


@pytest.fixture
def front_end(monkeypatch: pytest.MonkeyPatch) -> Iterator[FrontEnd]:
    shell = the_shell()
    seen = FrontEnd()
    publish = shell.display_pub.publish

    def spy(data: dict, metadata: dict | None = None, *args: Any, **kwargs: Any) -> None:
        transient = kwargs.get("transient") or {}
        seen.published.append((data, transient.get("display_id"), bool(kwargs.get("update"))))
        publish(data, metadata, *args, **kwargs)

    monkeypatch.setattr(shell.display_pub, "publish", spy)
    yield seen


def started(clock: Clock, front_end: FrontEnd, show_thoughts: bool = True) -> tuple[LiveView, str]:
    """A started view; ``front_end`` then holds only what ``update``/``flush``/``finish`` publish."""
    live = LiveView("gemini-3-flash-preview is answering", show_thoughts, clock=clock)
    live.start()
    [display_id] = {shown_id for _, shown_id, _ in front_end.published}
    assert display_id and not front_end.published[0][2]  # one new display, then only updates of it
    assert "gemini-3-flash-preview is answering" in front_end.published[-1][0].get("text/markdown", "")
    assert live.updates == 0
    front_end.published.clear()
    return live, display_id


def test_ten_thousand_updates_in_a_second_render_about_thirty_times(front_end: FrontEnd) -> None:
    clock = Clock()
    live, display_id = started(clock, front_end)
    text = b.TextBlock()
    for n in range(10_000):
        text.text += f"w{n} "
        live.update([text])
        clock.now += 1.0 / 10_000
    renders = live.updates
    assert 25 <= renders <= MAX_UPDATES_PER_SECOND + 1, renders
    assert len(front_end.updates(display_id)) == renders
    live.flush()
    assert live.updates == renders + 1  # the last state was pending: one more render shows it
    last = front_end.updates(display_id)[-1]
    assert last["text/markdown"].rstrip().endswith("w9999")
    live.flush()
    assert live.updates == renders + 1  # nothing pending: nothing rendered


def test_updates_spaced_out_all_render(front_end: FrontEnd) -> None:
    clock = Clock()
    live, display_id = started(clock, front_end)
    text = b.TextBlock()
    for n in range(60):
        text.text += f"w{n} "
        live.update([text])
        assert front_end.updates(display_id)[-1]["text/markdown"].rstrip().endswith(f"w{n}")
        clock.now += 1.0 / MAX_UPDATES_PER_SECOND + 1e-6
    assert live.updates == 60 == len(front_end.updates(display_id))
    live.flush()
    assert live.updates == 60


def test_slow_renders_are_spaced_out(front_end: FrontEnd, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long answer takes long to escape: renders then take about a tenth of the stream's time at most."""
    clock = Clock()
    live, display_id = started(clock, front_end)
    to_markdown = static.to_markdown

    def slow(*args: Any, **kwargs: Any) -> str:
        clock.now += 0.02  # 20 ms a render: 30 a second would spend 60 % of the time rendering
        return to_markdown(*args, **kwargs)

    monkeypatch.setattr(static, "to_markdown", slow)
    text = b.TextBlock()
    start = clock.now
    for n in range(10_000):
        text.text += f"w{n} "
        live.update([text])
        clock.now += 1.0 / 10_000
    spent_rendering = 0.02 * live.updates
    assert spent_rendering <= (clock.now - start) / RENDER_SHARE + 0.02, live.updates
    assert live.updates >= 3  # still live
    live.flush()
    assert front_end.updates(display_id)[-1]["text/markdown"].rstrip().endswith("w9999")


def test_flush_renders_the_pending_state(front_end: FrontEnd) -> None:
    clock = Clock()
    live, display_id = started(clock, front_end)
    live.update([b.TextBlock("first")])
    live.update([b.TextBlock("first second")])  # too soon: held back
    assert [u["text/markdown"] for u in front_end.updates(display_id)][-1].endswith("first")
    live.flush()
    assert front_end.updates(display_id)[-1]["text/markdown"].endswith("first second")
    assert live.updates == 2


def test_live_markdown_is_safe_and_follows_thoughts(front_end: FrontEnd) -> None:
    live, display_id = started(Clock(), front_end, show_thoughts=False)
    live.update([b.ThoughtBlock("secret plan"), b.TextBlock("[x](javascript:alert(1)) <b>hi</b>")])
    [data] = front_end.updates(display_id)
    assert "text/html" not in data
    assert "secret plan" not in data["text/markdown"]
    assert "](javascript:" not in data["text/markdown"]


def test_finish_empties_the_output(front_end: FrontEnd) -> None:
    clock = Clock()
    live, display_id = started(clock, front_end)
    live.update([b.TextBlock("some answer")])
    live.finish()
    final = front_end.updates(display_id)[-1]
    assert final == {"text/plain": ""}
