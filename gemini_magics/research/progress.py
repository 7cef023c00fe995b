"""The live progress widget of one background run, and its static fallback.

Everything the widget shows after it was displayed changes through widget *traits* (``value``,
``bar_style``, ``outputs``, ``children``, ``titles``), set from the tracker's thread or the shared ticker's
thread. Trait updates travel as comm messages, which reach the browser whatever cell the kernel is running;
``with out:`` from a thread would land in the wrong cell under ipykernel 7 (DESIGN.md's pitfalls), so it is
never used. Model text (thought summaries, the report) is shown as Markdown outputs, i.e. through the front
end's sanitising Markdown renderer; the text we build around it is escaped.

Bar styles follow tqdm.notebook: a full ``info`` bar while the total is unknown (running), ``success``,
``danger`` on failure, ``warning`` when cancelled; the statuses tqdm has no style for get a colour of their
own (``statuses.COLOURS``: purple when a budget ran out, teal when the run ended ``idle``), and every end
is said in words (``statuses.words``: "stopped: budget exceeded").
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
import weakref
from datetime import datetime
from typing import Any

from .. import statuses
from ..render import static
from ..render.view import provenance
from .tracker import State, Tracker

SPINNER = "◐◓◑◒"
BAR_STYLES = statuses.BAR_STYLES
ICONS = statuses.ICONS


def clock(seconds: float) -> str:
    """``1:05`` / ``1:02:03``."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def ago(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def status_text(state: State, quiet_after: float, now: float | None = None, tick: int = 0) -> str:
    """One line: what the run is doing, for how long, and whether anything was heard lately."""
    now = time.time() if now is None else now
    if state.done:
        icon = ICONS.get(state.status, "•")
        text = f"{icon} {statuses.words(state.status)} after {clock(state.elapsed(now))}"
        if state.error and not statuses.is_success(state.status):
            text += f": {state.error}"
        return text
    if state.mode in ("stopped", "lost"):
        return f"⏹ {state.status}, not followed by this kernel ({state.note}); %gemini tasks follows it again"
    parts = [f"{SPINNER[tick % len(SPINNER)]} {state.status}", clock(state.elapsed(now))]
    if state.mode == "poll":
        poll = "polling"
        if state.next_poll is not None and state.next_poll > now:
            poll += f" (next in {int(state.next_poll - now + 0.999)} s)"
        parts.append(poll)
    else:
        parts.append("streaming")
    if state.thoughts:
        parts.append(f"{len(state.thoughts)} thought{'s' if len(state.thoughts) != 1 else ''}")
    if state.report_chars:
        parts.append(f"writing the report ({state.report_chars:,} chars)")
    quiet = now - state.last_news
    if quiet >= quiet_after:
        parts.append(f"nothing heard since {at(state.last_news)} ({ago(quiet)})")
    return " · ".join(parts)


def running_markdown(state: State, backend: str = "") -> str:
    """The static fallback of a run's live widget (saved notebooks, nbviewer, a front end without the
    kernel). It is never updated: nbclient keeps an output's last state and nbval its first, so it says
    nothing that changes (no status, no time) and stays true once the run ended."""
    lines = []
    from ..render.view import badge

    if badge(backend):
        lines.append(badge(backend))
    run = static.code_span(state.interaction_id)
    lines.append(
        f"**Background run** {static.code_span(state.agent)} · {run} — in a running notebook this output is "
        "a live widget: the run's progress, then its report."
    )
    lines.append(
        f"`%gemini wait {state.interaction_id}` blocks until it ends; `%gemini show {state.interaction_id}` "
        "renders the report (also after a restart); `%gemini panel` lists every run."
    )
    return "\n\n".join(lines)


def running_plain(state: State) -> str:
    """The text/plain twin of ``running_markdown`` (as unchanging)."""
    return (
        f"{state.agent} · {state.interaction_id} · background run; %gemini wait {state.interaction_id} "
        f"blocks until it ends, %gemini show {state.interaction_id} renders the report"
    )


def markdown_output(text: str) -> dict[str, Any]:
    """One display-data output of an ``Output`` widget, shown by the front end's Markdown renderer."""
    return {
        "output_type": "display_data",
        "data": {"text/markdown": text, "text/plain": text},
        "metadata": {},
    }


class Ticker:
    """One daemon thread that ticks every live view once a second (elapsed time, activity indicator).

    It runs only while some view is registered, and holds views weakly.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._views: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, view: Any) -> None:
        with self._lock:
            self._views.add(view)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gemini-ticker", daemon=True)
                self._thread.start()

    def discard(self, view: Any) -> None:
        with self._lock:
            self._views.discard(view)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                views = list(self._views)
                if not views:
                    self._thread = None
                    return
            for view in views:
                with contextlib.suppress(Exception):
                    view.tick()


TICKER = Ticker()


class ProgressWidget:
    """Agent, status, elapsed time, activity, thought summaries (newest first, history collapsed), a
    Cancel button; on completion the final view of the result in place of the live part."""

    def __init__(self, tracker: Tracker, show_thoughts: bool = True) -> None:
        import ipywidgets as w

        self.tracker = tracker
        self.show_thoughts = show_thoughts
        self._lock = threading.RLock()
        self._tick = 0
        self._thought_count = -1
        self._finished = False
        self.report_shown_at: float | None = None  # when the final view was put in place (benchmarks)
        state = tracker.snapshot()
        self.bar = w.FloatProgress(
            value=1.0, min=0.0, max=1.0, bar_style="info", layout=w.Layout(width="120px", flex="0 0 auto")
        )
        self.title = w.HTML(self._title(state))
        self.status = w.HTML()
        self.detail = w.HTML()
        self.cancel_button = w.Button(
            description="Cancel", icon="stop", tooltip="interactions.cancel", layout=w.Layout(width="auto")
        )
        self.cancel_button.on_click(self._cancel_clicked)
        self.latest = w.Output()
        self.history_output = w.Output()
        self.history = w.Accordion(children=[self.history_output], layout=w.Layout(display="none"))
        self.history.set_title(0, "Earlier thoughts")
        self.history.selected_index = None
        self.report = w.VBox()
        self.live = w.VBox([self.latest, self.history])
        top = w.HBox([self.bar, self.status, self.cancel_button], layout=w.Layout(align_items="center"))
        self.box = w.VBox(
            [self.title, top, self.detail, self.live, self.report], layout=w.Layout(width="100%")
        )
        self._unsubscribe = tracker.subscribe(self._changed)
        self.render(tracker.snapshot())
        if not tracker.done:
            TICKER.add(self)

    # -- updates (any thread) -----------------------------------------------------------------------

    def _changed(self, tracker: Tracker) -> None:
        self.render(tracker.snapshot())

    def tick(self) -> None:
        with self._lock:
            if self._finished:
                TICKER.discard(self)
                return
            self._tick += 1
            state = self.tracker.snapshot()
            self.status.value = self._status_html(state)

    def render(self, state: State) -> None:
        with self._lock:
            if self._finished:
                return
            self.status.value = self._status_html(state)
            self.detail.value = self._detail_html(state)
            if self.show_thoughts and len(state.thoughts) != self._thought_count:
                self._render_thoughts(state.thoughts)
            if state.mode in ("stopped", "lost"):
                self.cancel_button.disabled = True
            if state.done and state.result is not None:
                self._finish(state)

    def _render_thoughts(self, thoughts: list[str]) -> None:
        self._thought_count = len(thoughts)
        if not thoughts:
            return
        latest, older = thoughts[-1], thoughts[:-1]
        self.latest.outputs = (markdown_output(static.safe_markdown(latest)),)
        if older:
            self.history_output.outputs = tuple(
                markdown_output(static.safe_markdown(text)) for text in reversed(older)
            )
            self.history.set_title(0, f"Earlier thoughts ({len(older)})")
            self.history.layout.display = None

    def _finish(self, state: State) -> None:
        from ..render import view

        result = state.result
        assert result is not None
        self._finished = True
        self.bar.bar_style = BAR_STYLES.get(state.status, "danger")
        if state.status in statuses.COLOURS:  # a status tqdm has no style for
            self.bar.style.bar_color = statuses.COLOURS[state.status]
        self.cancel_button.layout.display = "none"
        self.live.layout.display = "none"
        final = _shown(result, self.show_thoughts)
        self.report.children = (view.build_widget(final),)
        self.report_shown_at = time.time()
        self._unsubscribe()
        TICKER.discard(self)
        # The output's static fallback stays as first displayed (see ``running_markdown``): an
        # update_display_data here would be kept by nbclient and ignored by nbval.

    # -- pieces -----------------------------------------------------------------------------------------

    def _title(self, state: State) -> str:
        label = self.tracker.backend.label_for(state.interaction_id)
        badge = (
            f" · {html.escape(label)}" if label == "offline emulator" or label.startswith("replayed") else ""
        )
        return (
            f"<b>{html.escape(state.agent)}</b> · <code>{html.escape(state.interaction_id)}</code>"
            f" · started {at(state.started)}{badge}"
        )

    def _status_html(self, state: State) -> str:
        text = status_text(state, self.tracker.timing.quiet_after, tick=self._tick)
        return f"<span>{html.escape(text)}</span>"

    def _detail_html(self, state: State) -> str:
        notes = [n for n in (state.cancel_note and f"Cancel: {state.cancel_note}", state.note) if n]
        if state.done or not notes:
            notes = [f"Cancel: {state.cancel_note}"] if state.cancel_note else []
        return "<br>".join(f"<small>{html.escape(n)}</small>" for n in notes)

    def _cancel_clicked(self, button: Any) -> None:
        """Ask the service to cancel, off the kernel's main thread; the outcome shows in the widget."""
        button.disabled = True
        button.description = "Cancelling…"

        def cancel() -> None:
            outcome = self.tracker.cancel()
            with self._lock:
                if outcome.startswith("cancel failed"):
                    button.disabled = False
                    button.description = "Cancel"
                else:
                    button.description = "Cancelled" if outcome == "cancelled" else "Cancel requested"

        threading.Thread(target=cancel, name="gemini-cancel", daemon=True).start()

    def bundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The display bundle: this widget's view and its unchanging static fallback."""
        state = self.tracker.snapshot()
        data = {
            "text/markdown": running_markdown(state, self.tracker.backend.label_for(state.interaction_id)),
            "text/plain": running_plain(state),
        }
        # No status here either: the saved output keeps what was first displayed.
        label = self.tracker.backend.label_for(state.interaction_id)
        found = provenance(state.interaction_id, state.agent, label, self.tracker.chain)
        metadata = {"gemini": {**found, "background": True}}
        data["application/vnd.jupyter.widget-view+json"] = {
            "model_id": self.box.model_id,
            "version_major": 2,
            "version_minor": 0,
        }
        return data, metadata


def _shown(result: Any, show_thoughts: bool) -> Any:
    """The result as the final view shows it (the user's thought setting)."""
    import dataclasses

    return dataclasses.replace(result, show_thoughts=show_thoughts)


def show(tracker: Tracker, show_thoughts: bool = True) -> None:
    """Display a run: a live widget in a kernel (the report replaces its live part at the end; the static
    fallback never changes), the static text elsewhere; a finished run shows as any answer."""
    from IPython.display import display

    from ..render.view import in_kernel

    if tracker.done and tracker.result is not None:
        display(_shown(tracker.result, show_thoughts))
        return
    if not in_kernel():
        state = tracker.snapshot()
        data = {
            "text/markdown": running_markdown(state, tracker.backend.label_for(state.interaction_id)),
            "text/plain": running_plain(state),
        }
        display(data, raw=True)
        return
    widget = ProgressWidget(tracker, show_thoughts)
    data, metadata = widget.bundle()
    display(data, metadata=metadata, raw=True)
