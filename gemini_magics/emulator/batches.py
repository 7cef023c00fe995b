"""The Gemini Developer API's Batch API, as google-genai 3.6's ``client.batches`` calls it.

Wire shapes follow the SDK's converters (``_CreateBatchJobParameters_to_mldev``, ``_BatchJob_from_mldev``,
``_ListBatchJobsResponse_from_mldev``) and replies recorded from the service:

- ``POST /v1beta/models/{model}:batchGenerateContent`` with ``{"batch": {"displayName", "inputConfig":
  {"requests": {"requests": [{"request": GenerateContentRequest, "metadata": {...}}]}}}}`` answers a
  long-running operation ``{"name": "batches/ID", "metadata": GenerateContentBatch}``;
- ``GET /v1beta/batches/ID`` answers that operation, with ``"done": true`` and ``"response"`` (a
  ``GenerateContentBatchOutput``) once the job succeeded; ``GET /v1beta/batches`` pages through them as
  ``{"operations", "nextPageToken"}``; ``POST /v1beta/batches/ID:cancel`` and ``DELETE`` answer ``{}``.
- A ``GenerateContentBatch`` holds ``@type``, ``model``, ``displayName``, ``output.inlinedResponses.
  inlinedResponses`` (once ended), ``createTime``, ``endTime``, ``updateTime``, ``batchStats`` (int64 counts
  as strings, zero counts left out: proto3 JSON), ``state`` (``BATCH_STATE_*``, which the SDK maps to
  ``JOB_STATE_*``) and ``name``.

A job is PENDING, then RUNNING while its requests are answered one after another at ``Settings.batch_rate``
requests a second (``$GEMINI_EMULATOR_BATCH_RATE``, default 20), then SUCCEEDED. Each request is answered
as a stateless interaction with the same prompt would be (``gencontent.py`` converts both ways); one whose
directives say ``error=CODE`` or ``fail=MESSAGE`` gets an ``error`` (a ``google.rpc.Status``) instead and
counts as failed, and the job still succeeds, as on the service. A cancelled job ends with the answers given
so far and the ``google.rpc.Code`` 1 (CANCELLED) error of google.longrunning. Errors have the classic Google
shape of the Files routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import catalog, directives, engine, errors, gencontent
from .files import check_key, page
from .filestore import FilesError, FileService, random_id, rfc3339
from .model import respond
from .store import Record, Store, new_interaction_id
from .turn import Turn

DEFAULT_RATE = 20.0  # requests a second when neither Settings.batch_rate nor the environment says
RATE_ENV = "GEMINI_EMULATOR_BATCH_RATE"
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_ENDED = frozenset({"BATCH_STATE_SUCCEEDED", "BATCH_STATE_CANCELLED", "BATCH_STATE_FAILED"})


class BatchSettings(Protocol):
    """What the routes need of the emulator's settings: key rules, server-wide directives, the pace."""

    require_key: bool
    api_keys: frozenset[str]
    faults: dict[str, str]
    batch_rate: float | None


@dataclass
class Job:
    """One batch job: its requests (as interaction bodies with their directives) and its answers so far."""

    id: str
    model: str  # the model id, without "models/"
    display_name: str
    items: list[dict[str, Any]]  # the inlined requests as sent: {"request", "metadata"}
    bodies: list[dict[str, Any]]  # the interaction body for each request
    wanted: list[dict[str, str]]  # the directives of each request
    state: str = "BATCH_STATE_PENDING"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    ended: float | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)  # InlinedResponses, in request order
    failed: int = 0
    task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    def move(self, state: str | None = None) -> None:
        """Record progress (and a new state); an ended job gets its end time."""
        self.updated = time.time()
        if state is not None:
            self.state = state
            if state in _ENDED:
                self.ended = self.updated

    def stats(self) -> dict[str, str]:
        """``batchStats``: int64 counts are JSON strings, zero counts are left out (proto3 JSON)."""
        done = len(self.answers)
        counts = {
            "requestCount": len(self.items),
            "successfulRequestCount": done - self.failed,
            "failedRequestCount": self.failed,
            "pendingRequestCount": 0 if self.ended is not None else len(self.items) - done,
        }
        return {key: str(value) for key, value in counts.items() if value}

    def operation(self) -> dict[str, Any]:
        """The long-running operation the service returns for this job (create, get, list)."""
        output = {"inlinedResponses": {"inlinedResponses": self.answers}}
        meta: dict[str, Any] = {"@type": _TYPE + "GenerateContentBatch", "model": f"models/{self.model}"}
        if self.display_name:
            meta["displayName"] = self.display_name
        if self.ended is not None and self.answers:
            meta["output"] = output
        meta["createTime"] = rfc3339(self.created)
        if self.ended is not None:
            meta["endTime"] = rfc3339(self.ended)
        meta["updateTime"] = rfc3339(self.updated)
        meta["batchStats"] = self.stats()
        meta["state"] = self.state
        meta["name"] = self.name
        body: dict[str, Any] = {"name": self.name, "metadata": meta}
        if self.ended is not None:
            body["done"] = True
            if self.state == "BATCH_STATE_SUCCEEDED":
                body["response"] = {"@type": _TYPE + "GenerateContentBatchOutput", **output}
            else:  # google.longrunning: a cancelled operation ends with error code 1 (CANCELLED)
                body["error"] = {"code": 1, "message": "The batch was cancelled."}
        return body


class BatchRoutes:
    """Request handlers and background workers of the Batch API over the emulator's files."""

    def __init__(self, files: FileService, settings: BatchSettings) -> None:
        self.files, self.settings = files, settings
        self.jobs: dict[str, Job] = {}
        self.scratch = Store()  # answers are stateless interactions: nothing is kept here
        self._fault_counts: dict[str, int] = {}

    def routes(self) -> list[Route]:
        out = []
        for v in ("v1", "v1beta"):
            out += [
                Route(
                    f"/{v}/models/{{model}}:batchGenerateContent", self._guard(self.create), methods=["POST"]
                ),
                Route(f"/{v}/batches", self._guard(self.list_jobs), methods=["GET"]),
                Route(f"/{v}/batches/{{id}}:cancel", self._guard(self.cancel), methods=["POST"]),
                Route(f"/{v}/batches/{{id}}", self._guard(self.get), methods=["GET"]),
                Route(f"/{v}/batches/{{id}}", self._guard(self.delete), methods=["DELETE"]),
            ]
        return out

    def _guard(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Check the API key as the Interactions routes do; errors get the classic Google body."""

        async def endpoint(request: Request) -> Response:
            try:
                check_key(request, self.settings)
                return await handler(request)
            except FilesError as exc:
                return JSONResponse(exc.body(), status_code=exc.code)

        return endpoint

    # -- routes -------------------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        model = request.path_params["model"].removeprefix("models/")
        problem = catalog.model_problem(model)
        if problem:  # the Interactions routes' 404 for the same model
            raise FilesError(404, "NOT_FOUND", problem)
        batch = gencontent.pick(await _json_body(request), "batch")
        if not isinstance(batch, dict):
            raise FilesError(400, "INVALID_ARGUMENT", "batch is required.")
        source = gencontent.pick(batch, "inputConfig") or {}
        if gencontent.pick(source, "fileName"):
            raise FilesError(
                400,
                "INVALID_ARGUMENT",
                "The emulator's Batch API takes inlined requests (input_config.requests), not a file.",
            )
        items = gencontent.pick(gencontent.pick(source, "requests"), "requests")
        if not isinstance(items, list) or not items:
            raise FilesError(400, "INVALID_ARGUMENT", "input_config.requests.requests must not be empty.")
        bodies, wanted = [], []
        for index, item in enumerate(items):
            inner = gencontent.pick(item, "request")
            if not isinstance(inner, dict) or not gencontent.pick(inner, "contents"):
                raise FilesError(
                    400, "INVALID_ARGUMENT", f"requests[{index}].request.contents must not be empty."
                )
            bodies.append(gencontent.interaction_body(inner, model))
            wanted.append(self._directives(request, bodies[-1]))
        display = str(gencontent.pick(batch, "displayName") or "")
        job = Job(random_id(36), model, display, items, bodies, wanted)
        self.jobs[job.id] = job
        job.task = asyncio.create_task(self._work(job))
        return JSONResponse(job.operation())

    async def get(self, request: Request) -> Response:
        return JSONResponse(self._job(request).operation())

    async def list_jobs(self, request: Request) -> Response:
        jobs = sorted(self.jobs.values(), key=lambda j: -j.created)
        return page(request, "operations", [j.operation() for j in jobs], default=10, most=100)

    async def cancel(self, request: Request) -> Response:
        """Stop a pending or running job now (best effort, as the service's: an ended job stays as it is)."""
        job = self._job(request)
        if job.ended is None:
            if job.task is not None:
                job.task.cancel()
            job.move("BATCH_STATE_CANCELLED")
        return JSONResponse({})

    async def delete(self, request: Request) -> Response:
        """Forget a job; one still running stops, since nobody can read its results any more."""
        job = self._job(request)
        if job.task is not None and not job.task.done():
            job.task.cancel()
        del self.jobs[job.id]
        return JSONResponse({})

    def _job(self, request: Request) -> Job:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            name = f"batches/{request.path_params['id']}"
            raise FilesError(404, "NOT_FOUND", f"Batch {name} not found.")
        return job

    def _directives(self, request: Request, body: dict[str, Any]) -> dict[str, str]:
        """Server-wide, header and prompt directives of one request, weakest first (as for interactions)."""
        try:
            wanted = dict(self.settings.faults)
            wanted.update(directives.parse(request.headers.get(directives.HEADER)))
            for text in _user_texts(body["input"]):
                wanted.update(directives.from_text(text)[0])
        except ValueError as exc:
            raise FilesError(400, "INVALID_ARGUMENT", str(exc)) from None
        return wanted

    # -- the work -----------------------------------------------------------------------------------------

    def interval(self) -> float:
        """Seconds per request: ``Settings.batch_rate``, else ``$GEMINI_EMULATOR_BATCH_RATE``, else 20/s."""
        rate = self.settings.batch_rate
        if rate is None:
            rate = float(os.environ.get(RATE_ENV) or DEFAULT_RATE)
        return 1.0 / rate if rate > 0 else 0.0

    async def _work(self, job: Job) -> None:
        """PENDING for one request's time, then RUNNING through the requests in order, then SUCCEEDED."""
        interval = self.interval()
        await asyncio.sleep(interval)
        job.move("BATCH_STATE_RUNNING")
        for index in range(len(job.items)):
            await asyncio.sleep(interval)
            answer = await self._answer(job, index)
            job.answers.append(answer)
            job.failed += "error" in answer
            job.move()
        job.move("BATCH_STATE_SUCCEEDED")

    async def _answer(self, job: Job, index: int) -> dict[str, Any]:
        """The InlinedResponse for request ``index``: the fake model's answer, or the error it asked for."""
        body, wanted = job.bodies[index], job.wanted[index]
        out: dict[str, Any] = {}
        try:
            error = self._injected(wanted, job.items[index])
            if error is None:
                record = await self._interact(body, wanted)
                if record.status == "failed":
                    message = (record.errors or [{}])[0].get("message", "")
                    error = {"code": errors.rpc_code(500), "message": message}
                else:
                    thoughts = (body.get("generation_config") or {}).get("thinking_summaries") == "auto"
                    out["response"] = gencontent.response(record, job.model, thoughts)
        except Exception as exc:  # a bug must still give this request an answer, as the service would
            error = {"code": errors.rpc_code(500), "message": f"Internal error in the emulator: {exc}"}
        if error is not None:
            out["error"] = error
        metadata = gencontent.pick(job.items[index], "metadata")
        if metadata is not None:
            out["metadata"] = metadata
        return out

    def _injected(self, wanted: dict[str, str], item: dict[str, Any]) -> dict[str, Any] | None:
        """``error=CODE[xN]``: this request fails (in the first N batches that carry the same request)."""
        if "error" not in wanted:
            return None
        code, times = directives.count_and_code(wanted["error"])
        key = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
        done = self._fault_counts.get(key, 0)
        if done >= times:
            return None
        self._fault_counts[key] = done + 1
        return {"code": errors.rpc_code(code), "message": errors.message(code)}

    async def _interact(self, body: dict[str, Any], wanted: dict[str, str]) -> Record:
        """Run the fake model on ``body`` as the Interactions routes run a stateless model interaction."""
        steps = body["input"]
        turns = [i for i, step in enumerate(steps) if step.get("type") == "user_input"]
        history = steps[: turns[-1]] if len(turns) > 1 else []  # a multi-turn input is history (app._admit)
        texts = _user_texts(steps)
        prompt = directives.from_text(texts[-1] if texts else "")[1]
        turn = Turn(
            request=body,
            input_steps=steps,
            history=history,
            directives=wanted,
            prompt=prompt,
            files=self.files,
        )
        record = Record(
            id=new_interaction_id(stored=False),
            request=body,
            input_steps=steps,
            stored=False,
            directives=wanted,
        )
        await engine.run(record, self.scratch, respond(turn), history)
        return record


def _user_texts(steps: list[dict[str, Any]]) -> list[str]:
    return [
        str(block.get("text", ""))
        for step in steps
        if step.get("type") == "user_input"
        for block in step.get("content") or []
        if block.get("type") == "text"
    ]


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, as sent: field names inside it are read in either spelling (``pick``)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise FilesError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise FilesError(400, "INVALID_ARGUMENT", "Invalid JSON payload received: expected an object.")
    return body


def routes(files: FileService, settings: BatchSettings) -> list[Route]:
    """The Batch API routes (``models/{model}:batchGenerateContent``, ``batches``...) of one emulator."""
    return BatchRoutes(files, settings).routes()
