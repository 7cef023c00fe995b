"""``%gemini panel``: every background run of this notebook, live — status, agent, start, elapsed,
a Cancel button for running ones and a Show button that renders a finished report below the list.

Like the progress widget it changes only through traits, from the tracker threads (a run changed or
started) and the shared ticker (elapsed time); button clicks arrive on the kernel's main thread and do
their network call in a short-lived thread.

The heading counts the rows that show a running run, recounted on every row update, and the ticker
re-reads every row still shown running: a change the panel missed (one that came between reading the
store and subscribing, or a listener call that failed) cannot leave "1 running" above finished rows.

The rows are one CSS grid, so the columns line up and take their content's width: the agent and the
interaction id give way (cut with an ellipsis; the whole text is in the tooltip, and selecting the id
copies all of it), the status, times and buttons never do, so the panel fits JupyterLab at 1280 px with
the file browser open.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from .. import statuses
from ..backend import BackendError
from ..render import static
from .progress import ICONS, SPINNER, TICKER, at, clock
from .tasks import Row, Tasks
from .tracker import Tracker

COLUMNS = ("status", "agent", "started", "elapsed", "interaction", "", "")
# The grid's columns: content-sized, except the agent ID (~33 characters) and the interaction id (~70),
# which shrink down to a readable minimum when the notebook is narrow; the id takes what is left.
GRID = "max-content minmax(7em, max-content) max-content max-content minmax(9em, 1fr) max-content max-content"
SHRINKS = (1, 4)  # the columns cut with an ellipsis (the full text in a tooltip)
ONE_LINE = "display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis"
COPY_ALL = "user-select: all; font-family: var(--jp-code-font-family, monospace)"  # one click selects it


def table_markdown(rows: list[Row]) -> str:
    """The static fallback (and what a terminal shows)."""
    if not rows:
        return "No background runs in this notebook yet: `%%gemini --research` starts one."
    lines = ["| status | agent | started | elapsed | interaction | chain |", "|---|---|---|---|---|---|"]
    for row in rows:
        elapsed = clock(row.elapsed) if row.elapsed is not None else "—"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.started))
        lines.append(
            f"| {static.escape(statuses.words(row.status))} | {static.escape(row.agent)} | {started} | "
            f"{elapsed} | {static.escape(row.interaction_id)} | {static.escape(row.chain)} |"
        )
    return "\n".join(lines)


class Panel:
    def __init__(self, tasks: Tasks) -> None:
        import ipywidgets as w

        self.tasks = tasks
        self._lock = threading.RLock()
        self._tick = 0
        self._rows: dict[str, dict[str, Any]] = {}
        self.header = w.HTML()
        self.list = w.GridBox(
            layout=w.Layout(grid_template_columns=GRID, grid_gap="0 0.5em", align_items="center")
        )
        self.report_title = w.HTML()
        self.report = w.VBox()
        self.box = w.VBox(
            [self.header, self.list, self.report_title, self.report], layout=w.Layout(width="100%")
        )
        # Listen first, then read the store: a run that ends in between is heard, not lost.
        self._unsubscribe = tasks.subscribe(self._changed)
        self.refresh()
        TICKER.add(self)

    # -- updates (any thread) ---------------------------------------------------------------------

    def _changed(self, tracker: Tracker) -> None:
        with self._lock:
            if tracker.id not in self._rows:
                self.refresh()
                return
            for interaction_id, entry in self._rows.items():  # hops answer to the same tracker
                if interaction_id == tracker.id or entry["row"].tracker is tracker:
                    self._update_row(interaction_id)

    def tick(self) -> None:
        """Every second: the spinner and elapsed time of every row shown running. Chosen by what the row
        shows, not by the tracker, so a row whose last update was missed is corrected here."""
        with self._lock:
            self._tick += 1
            for interaction_id, entry in self._rows.items():
                if entry["running"]:
                    self._update_row(interaction_id)

    def refresh(self) -> None:
        """Rebuild the list from the store (a new run, or first display)."""
        import ipywidgets as w

        with self._lock:
            rows = self.tasks.rows()
            children = [self._cell(f"<b>{name}</b>", i) for i, name in enumerate(COLUMNS)]
            self._rows = {}
            for row in rows:
                cells = [self._cell("", i) for i in range(5)]
                cancel = w.Button(description="Cancel", icon="stop", layout=self._button_layout())
                show = w.Button(description="Show report", icon="file-text", layout=self._button_layout())
                cancel.on_click(lambda button, rid=row.interaction_id: self._cancel(rid, button))
                show.on_click(lambda button, rid=row.interaction_id: self._show(rid, button))
                self._rows[row.interaction_id] = {
                    "row": row,
                    "cells": cells,
                    "cancel": cancel,
                    "show": show,
                    "running": False,
                }
                self._update_row(row.interaction_id, count=False)
                children += [*cells, cancel, show]
            self.list.children = tuple(children)
            self._count()

    def _count(self) -> None:
        """The heading: how many runs, how many of them shown running now."""
        running = sum(1 for entry in self._rows.values() if entry["running"])
        value = f"<b>Background runs of this notebook</b>: {len(self._rows)}" + (
            f", {running} running" if running else ""
        )
        if self.header.value != value:
            self.header.value = value

    def _update_row(self, interaction_id: str, count: bool = True) -> None:
        entry = self._rows[interaction_id]
        row: Row = entry["row"]
        tracker = row.tracker or self.tasks.trackers.get(interaction_id)
        if tracker is not None:
            row.tracker = tracker
            state = tracker.snapshot()
            row.status = state.status
            live = state.finished is not None or state.mode not in ("stopped", "lost")
            row.elapsed = state.elapsed() if live else row.elapsed
            running = not state.done and state.mode not in ("stopped", "lost")
        else:
            running = False
        # The state first, the heading next, the widgets last: whatever a trait update does, the
        # heading counts what the rows are.
        entry["running"] = running
        if count:
            self._count()
        icon = SPINNER[self._tick % len(SPINNER)] if running else ICONS.get(row.status, "•")
        values = (
            f"{icon} {statuses.words(row.status)}",
            row.agent,
            at(row.started),
            clock(row.elapsed) if row.elapsed is not None else "—",
            row.interaction_id,
        )
        colour = "" if running else statuses.COLOURS.get(row.status, "")
        for number, (cell, value) in enumerate(zip(entry["cells"], values, strict=True)):
            style = f"{ONE_LINE}; color: {colour}" if colour and number == 0 else ONE_LINE
            if number == 4:
                style = f"{style}; {COPY_ALL}"
            tip = f' title="{html.escape(value)}"' if number in SHRINKS else ""
            text = f'<span style="{style}"{tip}>{html.escape(value)}</span>'
            if cell.value != text:
                cell.value = text
        entry["cancel"].disabled = not running
        entry["show"].disabled = not (statuses.is_success(row.status) or row.status == "budget_exceeded")

    @staticmethod
    def _cell(value: str, index: int) -> Any:
        import ipywidgets as w

        # Block, not ipywidgets' flex row: a flex item is never narrower than its text, so the ellipsis of
        # a shrinking column would not show and its text would run over the buttons.
        shrinks = index in SHRINKS
        layout = w.Layout(display="block", min_width="0" if shrinks else "max-content", overflow="hidden")
        return w.HTML(value, layout=layout)

    @staticmethod
    def _button_layout() -> Any:
        """A button as wide as its label: ipywidgets' buttons otherwise have a fixed width that cuts it."""
        import ipywidgets as w

        return w.Layout(width="max-content", min_width="max-content")

    # -- buttons (main thread) -----------------------------------------------------------------------

    def _cancel(self, interaction_id: str, button: Any) -> None:
        tracker = self.tasks.trackers.get(interaction_id)
        if tracker is None:
            return
        button.disabled = True

        def cancel() -> None:
            outcome = tracker.cancel()
            with self._lock:
                self.report_title.value = (
                    f"<small>{html.escape(interaction_id)}: {html.escape(outcome)}</small>"
                )
                if interaction_id in self._rows:
                    self._update_row(interaction_id)

        threading.Thread(target=cancel, name="gemini-cancel", daemon=True).start()

    def _show(self, interaction_id: str, button: Any) -> None:
        button.disabled = True

        def show() -> None:
            from ..render import view

            try:
                result = self.tasks.report(interaction_id)
            except BackendError as exc:
                with self._lock:
                    self.report_title.value = f"<small>{html.escape(str(exc))}</small>"
                    button.disabled = False
                return
            widget = view.build_widget(result)
            with self._lock:
                self.report_title.value = f"<b>Report</b> <code>{html.escape(interaction_id)}</code>"
                self.report.children = (widget,)
                button.disabled = False

        threading.Thread(target=show, name="gemini-show", daemon=True).start()

    def close(self) -> None:
        self._unsubscribe()
        TICKER.discard(self)

    # -- display ----------------------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        text = table_markdown(self.tasks.rows())
        data = {
            "text/markdown": text,
            "text/plain": text,
            "application/vnd.jupyter.widget-view+json": {
                "model_id": self.box.model_id,
                "version_major": 2,
                "version_minor": 0,
            },
        }
        display(data, raw=True)


class PanelText:
    """``%gemini panel`` outside a kernel (no front end for widgets): the table as it is now."""

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    def _repr_markdown_(self) -> str:
        return table_markdown(self.tasks.rows())

    def __repr__(self) -> str:
        return table_markdown(self.tasks.rows())
