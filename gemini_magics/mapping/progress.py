"""The progress of a ``--map`` job in the tqdm.notebook style: a bar (info while running, success, danger
with errors, warning when cancelled), one line of figures and a Cancel button; plain text outside a kernel.

The engine thread only sets widget traits (never ``with output:``), at most every ``interval`` seconds
and once at the end, as ipywidgets advises for background work.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import MapJob, Snapshot

STYLES = {"running": "info", "completed": "success", "cancelled": "warning", "failed": "danger"}


class MapProgress:
    def __init__(self, job: MapJob, title: str, interval: float = 0.2, can_cancel: bool = True) -> None:
        import ipywidgets as w

        self.job, self.interval = job, interval
        self._last = 0.0
        self._lock = threading.Lock()
        self.bar = w.IntProgress(value=0, min=0, max=max(1, job.total), bar_style="info", description=title)
        self.bar.style.description_width = "initial"  # the title in full, left of the bar
        self.bar.layout.width = "60%"
        self.label = w.Label(value=title)
        # A foreground cell holds the kernel until its job ends, so a click would be read only then: it
        # offers what does work, interrupting the kernel (Ctrl-C), which keeps the finished rows.
        self.cancel = w.Button(
            description="Cancel", button_style="warning", tooltip="stop sending; keep what finished"
        )
        self.cancel.on_click(lambda _: job.cancel())
        hint = "■ interrupt the kernel to stop (finished rows are kept)"
        self.hint = None if can_cancel else w.Label(value=hint)
        self.widget = w.HBox([self.bar, self.label, self.hint or self.cancel])
        self.widget.add_class("gemini-map-progress")
        job.subscribe(self.update)
        self.update(job.snapshot(), force=True)

    def update(self, snap: Snapshot, force: bool = False) -> None:
        now = time.monotonic()
        final = snap.state != "running" or self.job.done
        with self._lock:
            if not (force or final) and now - self._last < self.interval:
                return
            self._last = now
        self.bar.value = snap.done
        self.label.value = snap.line()
        if final:
            style = STYLES.get(snap.state, "info")
            self.bar.bar_style = "danger" if style == "success" and snap.errors else style
            self.cancel.disabled = True
            if self.hint is not None:
                self.hint.layout.display = "none"  # nothing left to stop

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data = {
            "text/plain": f"--map job: {self.job.total:,} rows",
            "application/vnd.jupyter.widget-view+json": {
                "model_id": self.widget.model_id,
                "version_major": 2,
                "version_minor": 0,
            },
        }
        return data, {}
