"""``--map DATA --batch``: the rows as one job of Gemini's Batch API, followed like a background run.

The Batch API (google-genai's ``client.batches``) is the service's own engine for large jobs, at batch
prices (half the interactive ones): the job is submitted once with its requests inlined, runs on the
service for minutes to hours, and hands every answer back when it ends. It speaks ``generateContent``, not
interactions, so each row's interaction request is translated here into an inlined
``GenerateContentRequest``; the answers are read back into the same outcomes an interactive ``--map`` gets,
so the job, its progress widget, the map store and the DataFrame are shared.

The job's name is stored (``map_batches`` in the chain store's SQLite file) the moment it is created, so a
kernel restart loses nothing: re-running the cell finds the job and follows it instead of submitting again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .answer import Answer
from .engine import Outcome
from .job import JobError
from .store import JobInfo, MapStore

FIRST_POLL = 1.0  # seconds; the interval grows to MAX_POLL, as a batch takes minutes to hours
MAX_POLL = 30.0
ENDED = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})
STATE_WORDS = {
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_QUEUED": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


class BatchError(ValueError):
    """A row the Batch API cannot take as it is; one line."""


def request_of(params: dict[str, Any]) -> dict[str, Any]:
    """One row's interaction request as an inlined ``GenerateContentRequest`` (the SDK's dict form)."""
    if params.get("tools"):
        raise BatchError("--batch sends plain requests: --tools, --mcp and --file-search do not apply")
    blocks = params.get("input")
    parts = [{"text": blocks}] if isinstance(blocks, str) else [_part(b) for b in blocks or []]
    config: dict[str, Any] = {}
    if params.get("system_instruction"):
        config["system_instruction"] = str(params["system_instruction"])
    generation = params.get("generation_config") or {}
    for name in ("temperature", "max_output_tokens", "top_p", "seed", "stop_sequences"):
        if generation.get(name) is not None:
            config[name] = generation[name]
    if generation.get("thinking_level"):
        config["thinking_config"] = {"thinking_level": str(generation["thinking_level"]).upper()}
    form = params.get("response_format")
    if isinstance(form, dict) and form.get("schema") is not None:
        config["response_mime_type"] = str(form.get("mime_type") or "application/json")
        config["response_json_schema"] = form["schema"]
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
    if config:
        request["config"] = config
    return request


def _part(block: Any) -> dict[str, Any]:
    if not isinstance(block, dict):
        return {"text": str(block)}
    kind = block.get("type")
    if kind == "text":
        return {"text": str(block.get("text") or "")}
    mime = str(block.get("mime_type") or "application/octet-stream")
    if block.get("data"):
        return {"inline_data": {"data": block["data"], "mime_type": mime}}
    if block.get("uri"):
        return {"file_data": {"file_uri": block["uri"], "mime_type": mime}}
    raise BatchError(f"--batch cannot send a {kind or 'nameless'} part")


def answer_of(response: Any) -> Answer:
    """An inlined response's answer, read as an interaction's (text and usage)."""
    if getattr(response, "error", None) is not None:
        error = response.error
        message = getattr(error, "message", None) or "the request failed in the batch"
        code = getattr(error, "code", None)
        return Answer("failed", error=f"{message} (code {code})" if code else str(message))
    reply = getattr(response, "response", None)
    if reply is None:
        return Answer("failed", error="the batch returned no answer for this row")
    texts = []
    for candidate in getattr(reply, "candidates", None) or []:
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            if getattr(part, "text", None) and not getattr(part, "thought", False):
                texts.append(part.text)
        break  # the first candidate is the answer
    meta = getattr(reply, "usage_metadata", None)
    usage = {}
    if meta is not None:
        usage = {
            "total_input_tokens": meta.prompt_token_count or 0,
            "total_output_tokens": meta.candidates_token_count or 0,
            "total_thought_tokens": meta.thoughts_token_count or 0,
            "total_tokens": meta.total_token_count or 0,
        }
    return Answer("completed", "".join(texts), usage)


class _Window:
    """The limiter a progress view reads: a batch has no client-side concurrency."""

    concurrency = 0
    throttled = 0


class BatchEngine:
    """What a ``MapJob`` drives in place of the interactive ``Engine``: submit (or find) the job, follow
    it, hand each row's outcome over when it ends. ``remote`` is the job's state in words."""

    def __init__(
        self,
        client: Any,
        store: MapStore,
        job_key: str,
        rows: list[tuple[int, dict[str, Any], str]],
        notebook: str,
        label: str,
        read: Callable[[Any], tuple[str, dict[str, Any]]],
        done: Callable[[Outcome], None],
        explain: Callable[[BaseException], Any] | None = None,
    ) -> None:
        self._client, self._store, self._key, self._rows = client, store, job_key, rows
        self._explain = explain  # the service's refusal in the magics' words (``Failure.message``)
        self._notebook, self._label, self._read, self._done = notebook, label, read, done
        self.limiter = _Window()
        self.cancelled = False
        self.name: str | None = None
        self.remote = "submitting"
        self.followed = False  # an earlier kernel submitted it: this one follows it
        self.notify: Callable[[], None] = lambda: None  # the job's: its progress view shows ``remote``

    async def run(self, _rows: Any) -> None:
        try:
            job, order = await self._submit_and_follow()
        except Exception as exc:  # the service refused or failed the job: one line for the user
            if self._explain is None:
                raise
            raise JobError(f"the batch failed: {self._explain(exc).message}") from None
        self._collect(job, order)

    async def _submit_and_follow(self) -> tuple[Any, list[str]]:
        keys = [key for _, _, key in self._rows]
        found = self._store.batch_of(self._key)
        if found is not None and set(keys) <= set(found[1]):
            self.name, order, self.followed = found[0], found[1], True
        else:
            order = keys
            self.name = await self._submit()
            model = str(self._rows[0][1].get("model") or "")
            self._store.put_batch(self._key, self.name, order, self._notebook, self._label, model)
        return await self._follow(), order

    def _collect(self, job: Any, order: list[str]) -> None:
        state = str(getattr(job.state, "value", job.state) or "")
        self._store.end_batch(self._key, STATE_WORDS.get(state, state.lower()))
        numbers = {key: number for number, _, key in self._rows}
        responses = list(getattr(job.dest, "inlined_responses", None) or []) if job.dest else []
        for position, key in enumerate(order):
            if key not in numbers:
                continue
            if position >= len(responses):
                if state == "JOB_STATE_SUCCEEDED":
                    self._done(Outcome(numbers[key], error="the batch returned no answer for this row"))
                continue  # cancelled, failed or expired: the row was not run
            self._done(self._outcome(numbers[key], responses[position]))
        if state in ("JOB_STATE_FAILED", "JOB_STATE_EXPIRED") and not responses:
            message = getattr(job.error, "message", None) if job.error else None
            raise JobError(
                f"the batch {self.name} {STATE_WORDS[state]}" + (f": {message}" if message else "")
            )

    def cancel(self) -> None:
        self.cancelled = True

    async def _submit(self) -> str:
        model = str(self._rows[0][1].get("model") or "")
        src = [request_of(params) for _, params, _ in self._rows]
        job = await self._client.aio.batches.create(
            model=model, src=src, config={"display_name": self._label}
        )
        return str(job.name)

    async def _follow(self) -> Any:
        interval, asked_to_cancel = FIRST_POLL, False
        while True:
            job = await self._client.aio.batches.get(name=self.name)
            state = str(getattr(job.state, "value", job.state) or "")
            remote = f"batch {STATE_WORDS.get(state, state.lower())}"
            if remote != self.remote:
                self.remote = remote
                self.notify()
            if state in ENDED:
                return job
            if self.cancelled and not asked_to_cancel:
                asked_to_cancel = True
                await self._client.aio.batches.cancel(name=self.name)
                interval = FIRST_POLL
            started = time.monotonic()
            while time.monotonic() - started < interval and not (self.cancelled and not asked_to_cancel):
                await asyncio.sleep(0.1)
            interval = min(MAX_POLL, interval * 1.5)

    def _outcome(self, number: int, response: Any) -> Outcome:
        said = answer_of(response)
        if said.status != "completed":
            return Outcome(number, error=said.error)
        try:
            text, usage = self._read(said)  # a row whose answer does not fit --schema is an error
        except ValueError as exc:
            return Outcome(number, error=str(exc))
        return Outcome(number, text=text, usage=usage)


def tasks_markdown(store: MapStore, notebook: str) -> str:
    """The notebook's ``--map`` and ``--batch`` jobs as tables for ``%gemini tasks``; "" if there are none."""
    maps = [info for info in store.jobs(notebook) if info.kind == "map"]
    parts = [_map_jobs_markdown(maps)] if maps else []
    jobs = store.batches(notebook)
    if jobs:
        lines = ["**Batch jobs** (`--map … --batch`)", "", "| job | cell | rows | submitted (UTC) | state |"]
        lines.append("|---|---|---|---|---|")
        for name, label, rows, submitted, state in jobs:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(submitted))
            cell = label.replace("|", "\\|")
            lines.append(f"| `{name}` | {cell} | {rows:,} | {when} | {state} |")
        if any(state == "running" for *_, state in jobs):
            lines += [
                "",
                "A running job goes on on the service: run its cell again to follow it and get its rows.",
            ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _map_jobs_markdown(maps: list[JobInfo]) -> str:
    """Interactive jobs, newest first (the batch table's order)."""
    lines = ["**Map jobs** (`--map`)", "", "| cell | rows | started (UTC) | state |", "|---|---|---|---|"]
    for info in reversed(maps):
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(info.started))
        cell = info.label.replace("|", "\\|")
        lines.append(f"| {cell} | {info.rows:,} | {when} | {map_state(info.state, info.owner_alive)} |")
    return "\n".join(lines)


def map_state(state: str, owner_alive: bool | None) -> str:
    """An interactive job's state as listed: ``interrupted`` when it was running and its kernel is gone."""
    return "interrupted" if state == "running" and owner_alive is False else state
