"""``%%gemini VAR --map DATA``: the cell's body as a template, one stateless request per row of a table.

This package owns the whole job: which values can be mapped and the DataFrame that comes back
(``table.py``), the finished rows persisted as they finish so a re-run sends only what is missing
(``store.py``), the async engine with its adaptive concurrency and capped retries (``engine.py``), the
job and its handle (``job.py``), its progress widget (``progress.py``) and the cost estimate that is
checked before anything is sent (``cost.py``). The cell runner hands it the parsed request and the
request parameters a cell would send; it imports nothing above the backend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..backend import Backend
from ..interpolate import InterpolationError, interpolate
from ..options import CellRequest
from ..prices import PriceTable
from . import answer, batch, cost, table, wire
from .engine import Engine, Failure, Outcome
from .job import MapJob
from .store import MapStore

DEFAULT_CONCURRENCY = 8
DEFAULT_CONFIRM_OVER = 1.0  # USD


class MapError(Exception):
    """A ``--map`` cell that cannot run; one line."""


@dataclass
class MapSettings:
    concurrency: int = DEFAULT_CONCURRENCY
    confirm_over: float = DEFAULT_CONFIRM_OVER
    live: bool = False  # a front end is there to show the progress widget
    badge: str = ""  # the line above answers that did not come live from Gemini (the emulator's)
    escape: Any = None  # literal text in Markdown (the render package's): answers are untrusted
    prices: PriceTable | None = None  # the dated table with the notebook's overrides


class MapResult:
    """What a foreground ``--map`` cell shows: the summary line over the DataFrame (``.frame``)."""

    def __init__(
        self, job: MapJob, frame: Any, notes: list[str], badge: str = "", escape: Any = None
    ) -> None:
        self.job, self.frame, self.notes, self.badge = job, frame, notes, badge
        self.escape = escape or (lambda text: text)
        self.ok = True
        self.status = job.state
        self.summary = job.summary()

    def __repr__(self) -> str:
        return f"<MapResult {self.summary}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        lines = [self.badge] if self.badge else []
        lines.append(f"**--map** {self.summary} · {self.job.snapshot().line()}")
        lines += [f"*Note: {note}*" for note in self.notes]
        head = self.frame.head(10)
        plain = "\n".join([self.summary, *self.notes, head.to_string()])
        markdown = "\n\n".join([*lines, self._table(head)])
        return {"text/plain": plain, "text/markdown": markdown}, {"gemini": {"map_job": self.job.key}}

    def _table(self, head: Any) -> str:
        """The first rows as a Markdown table, every value, name and index literal text (an answer may hold
        Markdown, HTML or ``|``); without tabulate, the plain table in a fence."""
        if not _has_tabulate():
            return "```\n" + head.to_string().replace("```", "`\u200b``") + "\n```"
        shown = head.map(lambda value: self.escape(value) if isinstance(value, str) else value)
        shown.columns = [self.escape(str(c)) for c in shown.columns]
        shown.index = [self.escape(str(i)) for i in shown.index]
        return str(shown.to_markdown())


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def run_map(
    backend: Backend,
    store_path: Any,
    notebook: str,
    request: CellRequest,
    body: str,
    namespace: dict[str, Any],
    params: dict[str, Any],
    parse: Any,
    settings: MapSettings,
) -> Any:
    """Start (and in the foreground, finish) the job; the cell's value."""
    source = request.map_source or ""
    if source not in namespace:
        raise MapError(f"--map {source}: no such variable in the notebook")
    try:
        data = table.table_of(namespace[source], source)
    except table.TableError as exc:
        raise MapError(str(exc)) from None
    numbers = table.chosen(len(data.rows), request.limit, request.sample)
    if not numbers:
        raise MapError(f"--map {source}: it has no rows")
    base = dict(params)
    base["store"] = bool(request.store_rows)
    job_key = _digest({"notebook": notebook, "body": body, "params": base})
    rows = [(n, _row_params(base, body, namespace, data.rows[n], n, source), "") for n in numbers]
    rows = [(n, p, _digest(p)) for n, p, _ in rows]
    mapped = MapStore(store_path)
    if request.fresh:
        mapped.forget(job_key)
    finished = mapped.done(job_key)
    cached = {
        n: Outcome(n, text=finished[k][0], usage=finished[k][1], cached=True)
        for n, _, k in rows
        if k in finished
    }
    todo = [r for r in rows if r[0] not in cached]
    model = str(base.get("model") or "")
    factor = cost.BATCH_DISCOUNT if request.batch else 1.0
    inputs = [p["input"] for _, p, _ in todo]
    estimate = cost.estimate(inputs, model, request.max_tokens, factor, settings.prices)
    if estimate.usd > settings.confirm_over and not request.yes:
        raise MapError(
            f"--map would send {estimate.line()} (more than map_confirm_over = ${settings.confirm_over:g}): "
            "add --yes to run it, or --limit N / --sample N to try a few rows first"
        )
    notes = (
        [f"{len(cached):,} rows answered by an earlier run of this cell were not sent again"]
        if cached
        else []
    )
    if request.batch:
        for _, row_params, _ in todo:
            try:
                batch.request_of(row_params)
            except batch.BatchError as exc:
                raise MapError(str(exc)) from None
    client = backend.async_client(attempts=1, request_hook=wire.keep_request)
    label = f"gemini-magics --map {source}: {len(rows):,} rows ({notebook.rsplit('/', 1)[-1]})"

    def engine(done: Any) -> Any:
        if request.batch:
            read, explain = reader(parse), explainer(backend)
            return batch.BatchEngine(client, mapped, job_key, todo, notebook, label, read, done, explain)
        ceiling = request.concurrency or settings.concurrency
        return Engine(answer.sender(client), reader(parse), explainer(backend), done, ceiling)

    def finish(job: MapJob) -> Any:
        if not request.batch:
            mapped.end_job(job_key, job.state, job.error)
        mapped.close()
        frame = _frame(job, data, numbers, request, parse)
        if request.batch and request.variable and namespace.get(request.variable) is job:
            namespace[request.variable] = frame  # the batch ended: VAR becomes its DataFrame
        return frame

    job = MapJob(job_key, model, todo, engine, mapped, finish, cached, factor, settings.prices, notebook)
    if settings.live:
        from IPython.display import display

        from .progress import MapProgress

        title = f"--map {source}{' --batch' if request.batch else ''}: {len(rows):,} rows"
        display(MapProgress(job, title, can_cancel=bool(request.background or request.batch)))
    if not request.batch:  # listed by %gemini tasks and the server extension (a batch is, as its batch)
        mapped.start_job(job_key, notebook, label, model, len(rows))
    job.start()
    if request.background or request.batch:
        return job
    try:
        job.wait()
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        notes.append("stopped with Ctrl-C: the rows that finished are kept; run the cell again for the rest")
    if job.state == "cancelled" and not any("Ctrl-C" in n for n in notes):
        notes.append("cancelled: the rows that finished are kept; run the cell again for the rest")
    if job.error:
        raise MapError(f"--map {source}: {job.error}")
    return MapResult(job, job.result, notes, settings.badge, settings.escape)


def _row_params(
    base: dict[str, Any], body: str, namespace: dict[str, Any], row: dict[str, Any], number: int, source: str
) -> dict[str, Any]:
    from ..turn import input_blocks

    scope = {**namespace, **{k: v for k, v in row.items() if k.isidentifier()}}
    try:
        parts = interpolate(body, scope)
    except InterpolationError as exc:
        raise MapError(f"--map {source}, row {number}: {exc}") from None
    files = base.get("input")
    blocks = input_blocks(parts)
    if files:  # --image/--file: the same files before every row's prompt
        text = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks
        blocks = [*files, *text]
    return {**base, "input": blocks}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]  # a row may hold "\ud800"


def reader(parse: Any) -> Any:
    """How a row's reply becomes its text and usage (an ``Answer`` or an SDK interaction; ``parse`` checks
    ``--schema``); shared by the interactive engine, ``--batch`` and the server extension's batch follower."""

    def read(reply: Any) -> tuple[str, dict[str, Any]]:
        said = reply if isinstance(reply, answer.Answer) else answer.of_interaction(reply)
        if said.status not in ("completed", "idle"):
            raise ValueError(f"{said.status or 'failed'}: {said.error or 'no answer'}")
        text, usage = said.text, said.usage
        if parse is not None:
            _parsed(parse, text)  # a row whose answer does not fit the schema is an error, kept as such
        return text, usage

    return read


def _parsed(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"the answer does not fit --schema: {first}") from None


def explainer(backend: Backend) -> Any:
    """How a failed row reads: the backend's one-line error, its HTTP status and the service's Retry-After."""

    def explain(exc: BaseException) -> Failure:
        response = getattr(exc, "raw_response", None) or getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        retry_after = None
        try:
            retry_after = float(headers.get("retry-after")) if headers.get("retry-after") else None
        except (TypeError, ValueError):
            retry_after = None
        error = backend.translate(exc)
        status = error.status or getattr(response, "status_code", None)
        return Failure(str(error), status, retry_after)

    return explain


def _frame(job: MapJob, data: table.Table, numbers: list[int], request: CellRequest, parse: Any) -> Any:
    answers: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    column = request.into or "answer"
    for number, outcome in job.outcomes.items():
        if outcome.error:
            errors[number] = outcome.error
        elif parse is not None:
            value = _parsed(parse, outcome.text or "")
            answers[number] = table.flatten(value, "" if request.into is None else column)
        else:
            answers[number] = {column: outcome.text}
    for number in numbers:
        if number not in job.outcomes:
            errors[number] = f"not sent: the job was {job.state}; run the cell again to send it"
    return table.frame(data, numbers, answers, errors)
