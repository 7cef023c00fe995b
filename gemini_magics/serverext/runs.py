"""What the REST API answers, from the stores and the follower; no HTTP here (``handlers.py``).

Every background run of every notebook: research runs are the background turns of the chain store, listed
by each notebook's ``Tasks.rows`` (live status from the tracker when the server follows the run); ``--map``
and ``--batch`` jobs come from the map store (``MapStore.jobs``). Reports are the static view the run's
answer was shown with (``render/view.py``), or what ``Tasks.report`` finds. Nothing returned here can hold
the key: error texts pass ``Backend.scrub`` and nothing else comes from the service but run content.
"""

from __future__ import annotations

import time
from typing import Any

from .. import statuses
from ..backend import BackendError
from ..chain import PENDING
from ..mapping.batch import STATE_WORDS, map_state
from ..mapping.store import JobInfo
from ..prices import PriceTable
from ..research.tasks import Row
from .follower import Follower
from .paths import path_of

MAP, BATCH = "map-", "batch-"  # run ids of jobs: the prefix and the job key (research: the interaction id)
# A batch job's stored state (``STATE_WORDS``' words) → the statuses every run kind is shown with.
BATCH_STATUS = {
    "queued": "queued",
    "running": "in_progress",
    "cancelling": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "failed",
}
MAP_STATUS = {"running": "in_progress"}  # completed, cancelled, failed, interrupted as stored
PRICES = PriceTable()


class ApiError(Exception):
    """An answer other than 200: the HTTP status and one line for the user."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Runs:
    def __init__(self, follower: Follower, root_dir: str) -> None:
        self.follower, self.root_dir = follower, root_dir
        self.backend, self.store, self.maps = follower.backend, follower.store, follower.maps

    # -- GET runs ---------------------------------------------------------------------------------------

    def runs(self) -> dict[str, Any]:
        now = time.time()
        found = [self._research(nb, row, now) for nb in self.store.notebooks() for row in self._rows(nb)]
        found += [self._job(info, now) for info in self.maps.jobs()]
        found.sort(key=lambda run: run["started"], reverse=True)
        return {"runs": found, "now": now}

    def _rows(self, notebook: str) -> list[Row]:
        return self.follower.tasks_for(notebook).rows()

    def _research(self, notebook: str, row: Row, now: float) -> dict[str, Any]:
        state = row.tracker.snapshot() if row.tracker is not None else None
        followed = state is not None and not state.done and state.mode not in ("stopped", "lost")
        pending = row.status in PENDING or row.status in statuses.RUNNING
        alive = self.store.owner_alive(row.turn_id) if pending and row.turn_id is not None else None
        followed_by = ("kernel" if alive else "server" if followed else None) if pending else None
        error = state.error if state is not None else None
        if pending and followed_by is None and alive is False and self.follower.unknown(row.interaction_id):
            where = self.backend.target().label
            error = f"its kernel is gone and the server's backend ({where}) does not know it"
        finished = row.finished
        elapsed = row.elapsed
        if elapsed is None and (finished is not None or pending):
            elapsed = max(0.0, (finished or now) - row.started)
        return {
            "id": row.interaction_id,
            "kind": "research",
            "status": row.status,
            "agent": row.agent,
            "model": row.agent,
            "notebook": notebook,
            "path": path_of(notebook, self.root_dir),
            "chain": row.chain,
            "title": one_line(row.prompt, 120),
            "started": row.started,
            "finished": finished,
            "elapsed": elapsed,
            "thought": state.thoughts[-1] if state is not None and state.thoughts else "",
            "has_report": statuses.is_success(row.status) or row.status == "budget_exceeded",  # the panel's
            "followed_by": followed_by,
            "error": one_line(self.backend.scrub(error)) if error else None,
        }

    def _job(self, info: JobInfo, now: float) -> dict[str, Any]:
        status, error, followed_by = self._job_status(info)
        ended = status not in statuses.RUNNING
        finished = info.finished if ended else None
        return {
            "id": (MAP if info.kind == "map" else BATCH) + info.job,
            "kind": info.kind,
            "status": status,
            "agent": "",
            "model": info.model,
            "notebook": info.notebook,
            "path": path_of(info.notebook, self.root_dir),
            "chain": "",
            "title": one_line(info.label, 120),
            "started": info.started,
            "finished": finished,
            "elapsed": max(0.0, (finished or now) - info.started) if finished or not ended else None,
            "thought": "",
            "has_report": ended,
            "followed_by": followed_by,
            "error": one_line(self.backend.scrub(error)) if error else None,
        }

    def _job_status(self, info: JobInfo) -> tuple[str, str | None, str | None]:
        """(status, error, followed_by) of a job."""
        if info.kind == "map":
            state = map_state(info.state, info.owner_alive)
            running = state == "running"
            error = info.error or ("its kernel died while it ran" if state == "interrupted" else None)
            return MAP_STATUS.get(state, state), error, "kernel" if running else None
        engine = self.follower.batches.get(info.job)
        state = info.state
        if engine is not None and engine.remote.startswith("batch "):
            state = engine.remote.removeprefix("batch ")  # the service's state, as followed here
        status = BATCH_STATUS.get(state, state)
        error = "the batch expired" if state == "expired" else None
        if status not in statuses.RUNNING:
            return status, error, None
        followed_by = "server" if engine is not None else "kernel" if info.owner_alive else None
        return status, error, followed_by

    # -- one run -----------------------------------------------------------------------------------------

    def _find_job(self, run_id: str) -> JobInfo:
        kind, key = ("map", run_id[len(MAP) :]) if run_id.startswith(MAP) else ("batch", run_id[len(BATCH) :])
        for info in self.maps.jobs():
            if info.kind == kind and info.job == key:
                return info
        raise ApiError(404, f"no run {run_id}")

    def _find_research(self, run_id: str) -> tuple[str, Row]:
        found = self.store.find(run_id)
        if found is None or not found[2].background:
            raise ApiError(404, f"no background run {run_id}")
        notebook = found[0]
        for row in self._rows(notebook):
            if row.interaction_id == run_id:
                return notebook, row
        raise ApiError(404, f"no background run {run_id}")

    def report(self, run_id: str) -> dict[str, Any]:
        if run_id.startswith((MAP, BATCH)):
            return self._job_report(run_id)
        notebook, row = self._find_research(run_id)
        if row.status in PENDING or row.status in statuses.RUNNING:
            raise ApiError(409, f"{run_id} is still {row.status}: its report comes when it ends")
        from ..render import view

        tracker = row.tracker
        if tracker is not None and tracker.result is not None:
            return {"id": run_id, "status": row.status, "markdown": view.markdown(tracker.result)}
        if row.turn_id is not None:
            stored = self.store.chain(notebook, row.chain).views([row.turn_id]).get(row.turn_id)
            if stored and isinstance(stored.get("markdown"), str):
                return {"id": run_id, "status": row.status, "markdown": stored["markdown"]}
        try:
            result = self.follower.tasks_for(notebook).report(run_id)
        except BackendError as exc:
            raise ApiError(404 if exc.status == 404 else 502, self.backend.scrub(str(exc))) from None
        return {"id": run_id, "status": row.status, "markdown": view.markdown(result)}

    def _job_report(self, run_id: str) -> dict[str, Any]:
        from ..render.static import escape

        info = self._find_job(run_id)
        status, error, _ = self._job_status(info)
        if status in statuses.RUNNING:
            raise ApiError(409, f"{run_id} is still {status}: its summary comes when it ends")
        answered = self.maps.count(info.job)
        kind = "Batch job" if info.kind == "batch" else "Map job"
        lines = [
            f"**{kind}** {escape(info.label)}",
            f"{answered:,} of {info.rows:,} rows answered · {escape(statuses.words(status))}"
            + (f": {escape(error)}" if error else ""),
            "The answers are kept in the notebook's store: run the cell again to get its DataFrame "
            "(answered rows are not sent again).",
        ]
        return {"id": run_id, "status": status, "markdown": "\n\n".join(lines)}

    # -- POST runs/<id>/cancel ---------------------------------------------------------------------------

    def cancel(self, run_id: str) -> dict[str, Any]:
        if run_id.startswith(MAP):
            info = self._find_job(run_id)
            state = map_state(info.state, info.owner_alive)
            if state == "running":
                raise ApiError(
                    409, "a --map job runs in its kernel: cancel it there (its progress bar's Cancel)"
                )
            raise ApiError(409, f"{run_id} already ended {MAP_STATUS.get(state, state)}")
        if run_id.startswith(BATCH):
            return self._cancel_batch(run_id)
        _, row = self._find_research(run_id)
        if row.status not in PENDING and row.status not in statuses.RUNNING:
            raise ApiError(409, f"{run_id} already ended {row.status}")
        tracker = row.tracker
        if tracker is not None and not tracker.done and not tracker.stopped:
            note = tracker.cancel()
            if note.startswith("cancel failed"):
                raise ApiError(502, one_line(self.backend.scrub(note)))
            return {"id": run_id, "status": tracker.state.status}
        try:
            interaction = self.backend.cancel(run_id)
        except BackendError as exc:
            raise ApiError(404 if exc.status == 404 else 502, self.backend.scrub(str(exc))) from None
        return {"id": run_id, "status": str(interaction.status)}

    def _cancel_batch(self, run_id: str) -> dict[str, Any]:
        info = self._find_job(run_id)
        status, _, _ = self._job_status(info)
        if status not in statuses.RUNNING:
            raise ApiError(409, f"{run_id} already ended {status}")
        try:
            client = self.backend.client
            client.batches.cancel(name=info.name)
            job = client.batches.get(name=info.name)
        except Exception as exc:
            error = self.backend.translate(exc)
            raise ApiError(404 if error.status == 404 else 502, self.backend.scrub(str(error))) from None
        state = str(getattr(job.state, "value", job.state) or "")
        word = STATE_WORDS.get(state, state.lower())
        return {"id": run_id, "status": BATCH_STATUS.get(word, word)}

    # -- GET status ---------------------------------------------------------------------------------------

    def status(self, path: str) -> dict[str, Any]:
        from ..spend import gather

        backend = self.backend.target().label
        matches = [key for key in self.store.notebooks() if path_of(key, self.root_dir) == path.strip("/")]
        if not matches:
            return {
                "chain": "default",
                "model": None,
                "turns": 0,
                "tokens": 0,
                "cost_usd": 0.0,
                "backend": backend,
            }
        key = max(matches, key=lambda k: max((c.updated for c in self.store.chains(k)), default=0.0))
        active = self.store.active_name(key)
        turns = next((c.turns for c in self.store.chains(key) if c.name == active), 0)
        models = [model for name, model, _ in self.store.usages(key) if name == active]
        report = gather(self.store, key, PRICES)
        return {
            "chain": active,
            "model": models[-1] if models else None,
            "turns": turns,
            "tokens": report.total.tokens,
            "cost_usd": round(report.usd, 6),
            "backend": backend,
        }
