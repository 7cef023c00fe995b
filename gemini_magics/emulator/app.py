"""The emulator's HTTP surface: the Interactions API routes under ``/v1`` and ``/v1beta``.

Replies follow the recorded service (real-samples/): JSON bodies, SSE streams that end with
``event: done`` / ``data: [DONE]``, errors ``{"error": {"message", "code": "invalid_request"}}`` with string
codes and the service's wording. Requests are validated against the SDK's own request types
(``validation.py``). Faults requested by directives are applied here, where the service's own failures
would show up: at the request (HTTP errors) and in the stream (cuts, stalls, half-replaying resumes).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import (
    agent_config,
    batches,
    catalog,
    continuation,
    directives,
    engine,
    errors,
    files,
    filesearch,
    filestore,
    legacy,
    mcp_tools,
    sse,
    validation,
)
from .agent import research
from .model import respond
from .store import Record, Store, new_interaction_id
from .turn import Turn

_CONTENT_TYPES = frozenset({"text", "image", "audio", "document", "video"})


@dataclass
class Settings:
    """Per-server behaviour (the CLI's flags)."""

    require_key: bool = False
    api_keys: frozenset[str] = frozenset()  # when set, only these keys are accepted
    agent_seconds: float = 20.0
    expire_after: float | None = None
    faults: dict[str, str] = field(default_factory=dict)
    batch_rate: float | None = None  # batch requests answered a second; None: batches.DEFAULT_RATE


class ApiError(Exception):
    """An HTTP error reply; ``code`` is the HTTP status, the body carries the service's string code."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "code": errors.reason(self.code)}}
        return JSONResponse(body, status_code=self.code, headers=self.headers)


def normalize_input(value: Any) -> list[dict[str, Any]]:
    """The ``input`` forms the service accepts → a list of steps."""
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ApiError(
            400, "Invalid value for 'input': expected a string, a content block or a non-empty list."
        )
    if not all(isinstance(item, dict) and isinstance(item.get("type"), str) for item in value):
        raise ApiError(400, "Invalid value for 'input': every item needs a 'type'.")
    if all(item["type"] in _CONTENT_TYPES for item in value):
        return [{"type": "user_input", "content": value}]
    steps = []
    for item in value:
        if item["type"] in _CONTENT_TYPES:  # loose content next to steps joins a user turn
            steps.append({"type": "user_input", "content": [item]})
        else:
            steps.append(item)
    return steps


class Emulator:
    """State and request handling of one emulated service; ``app`` is its ASGI application."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = Store(self.settings.expire_after)
        self.tickets = continuation.Tickets()
        self._fault_counts: dict[str, int] = {}
        routes = []
        for version in ("v1", "v1beta"):
            routes += [
                Route(f"/{version}/interactions", self.create, methods=["POST"]),
                Route(f"/{version}/interactions/{{id}}", self.get, methods=["GET"]),
                Route(f"/{version}/interactions/{{id}}", self.delete, methods=["DELETE"]),
                Route(f"/{version}/interactions/{{id}}/cancel", self.cancel, methods=["POST"]),
                Route(f"/{version}/interactions/{{id}}:cancel", self.cancel, methods=["POST"]),
            ]
        self.files = filestore.FileService()  # the Files API and file search stores (files.py)
        routes += files.routes(self.files, self.settings)
        routes += batches.routes(self.files, self.settings)  # the Batch API (batches.py)
        routes.append(Route("/emulator/health", self.health, methods=["GET"]))
        routes.append(Route("/emulator/expire", self.expire_route, methods=["POST"]))
        self.app = Starlette(
            routes=routes, exception_handlers={ApiError: _api_error, HTTPException: _http_error}
        )

    # -- routes ---------------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        self._authorize(request)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received: expected an object.")
        wanted = self._directives(request, body)
        self._request_fault(wanted, body)
        is_legacy = legacy.is_legacy_client(request.headers)
        if not is_legacy:  # 1.x clients send the pre-GA shape, which the service still accepts
            try:
                validation.check_create(body)
            except validation.RequestError as exc:
                raise ApiError(400, str(exc)) from None
        try:  # declared MCP servers are connected and listed before the model runs, as on the service
            await mcp_tools.check_servers(body.get("tools"))
        except mcp_tools.McpServerError as exc:
            raise ApiError(400, str(exc)) from None
        try:  # file_search must name stores that exist, as on the service
            filesearch.check_tools(self.files, body.get("tools"))
        except filesearch.FileSearchError as exc:
            raise ApiError(exc.code, str(exc)) from None
        record, turn = self._admit(body, wanted, is_legacy)
        self._join_turn(record, body)
        if "queue" in wanted:  # the reply to a queued create already says so
            record.status = "queued"
        turn.files = self.files
        record.task = asyncio.create_task(self._run(record, turn, body))
        if body.get("stream"):
            return self._sse(record, 0, first=True)
        if not body.get("background"):
            await asyncio.shield(record.task)
        return self._json(record, record.resource())

    def _run(self, record: Record, turn: Turn, body: dict[str, Any]) -> Coroutine[Any, Any, None]:
        """The coroutine that produces this interaction: a continuation hop, a model turn (in hops when the
        decode-limit directive asks for them) or an agent run."""
        token = body.get("continuation_token")
        if token:
            ticket = self.tickets.get(token)
            assert ticket is not None  # _admit checked it
            return continuation.play(
                record, self.store, self.tickets, turn.history, plan=ticket.plan, start=ticket.position
            )
        if record.agent:
            return engine.run(record, self.store, research(turn, self.settings.agent_seconds), turn.history)
        hops = turn.directives.get("continuations")
        if hops is not None and not body.get("background"):
            return continuation.play(
                record, self.store, self.tickets, turn.history, behaviour=respond(turn), hops=int(hops) + 1
            )
        return engine.run(record, self.store, respond(turn), turn.history)

    def _join_turn(self, record: Record, body: dict[str, Any]) -> None:
        """Hops of one long answer share its fault gate: ``cut``/``stall`` fire once, in hop ``hop=K``."""
        ticket = self.tickets.get(body["continuation_token"]) if body.get("continuation_token") else None
        if ticket is not None:
            record.hop, record.gate = ticket.hop, ticket.plan.gate
        elif "continuations" in record.directives:
            record.gate = {"spent": False}

    async def get(self, request: Request) -> Response:
        self._authorize(request)
        record = self._find(request.path_params["id"])
        self._poll_fault(record)
        query = request.query_params
        if query.get("stream", "false").lower() == "true":
            last = query.get("last_event_id")
            return self._sse(record, self._position_after(record, last), resume=last is not None)
        include = query.get("include_input", "false").lower() == "true"
        return self._json(record, record.resource(include_input=include, stored_view=True))

    async def cancel(self, request: Request) -> Response:
        self._authorize(request)
        record = self._find(request.path_params["id"])
        if not record.request.get("background"):
            raise ApiError(400, "Only background interactions can be cancelled.")
        engine.cancel(record, self.store)
        return self._json(record, record.resource())

    async def delete(self, request: Request) -> Response:
        self._authorize(request)
        if not self.store.delete(request.path_params["id"]):
            raise ApiError(404, f"Interaction '{request.path_params['id']}' not found.")
        return JSONResponse({})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "interactions": len(self.store)})

    async def expire_route(self, request: Request) -> Response:
        """Make stored interactions expire now (as the free tier's one-day retention would)."""
        interaction_id = request.query_params.get("id")
        return JSONResponse({"expired": self.store.expire(interaction_id)})

    # -- admission ------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if self.settings.require_key and not key:
            raise ApiError(
                401,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API.",
            )
        if self.settings.api_keys and key and key not in self.settings.api_keys:
            raise ApiError(400, "API key not valid. Please pass a valid API key.")

    def _directives(self, request: Request, body: dict[str, Any]) -> dict[str, str]:
        try:
            wanted = dict(self.settings.faults)
            token = body.get("continuation_token")
            ticket = self.tickets.get(token) if isinstance(token, str) else None
            if ticket is not None:  # a hop of a long answer keeps the directives its turn was asked with
                wanted.update(ticket.directives)
            wanted.update(directives.parse(request.headers.get(directives.HEADER)))
            input_steps = normalize_input(body["input"]) if "input" in body else []  # _admit: required
            for text in _texts(input_steps):
                wanted.update(directives.from_text(text)[0])
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return wanted

    def _request_fault(self, wanted: dict[str, str], body: dict[str, Any]) -> None:
        """``error=CODE[xN]``: fail this request (the first N attempts of the same body)."""
        if "error" not in wanted:
            return
        code, times = directives.count_and_code(wanted["error"])
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        done = self._fault_counts.get(key, 0)
        if done >= times:
            return
        self._fault_counts[key] = done + 1
        headers = {"Retry-After": wanted.get("retry_after", "1")} if code == 429 else {}
        raise ApiError(code, errors.message(code), headers)

    def _admit(self, body: dict[str, Any], wanted: dict[str, str], is_legacy: bool) -> tuple[Record, Turn]:
        """Apply the service's rules to a create request; a new record and the turn for its behaviour."""
        model, agent = body.get("model"), body.get("agent")
        if not model and not agent:
            raise ApiError(400, "Provide a 'agent', or 'model' parameter.")
        if model and agent:
            raise ApiError(400, "Provide either an 'agent' or a 'model' parameter, not both.")
        token = body.get("continuation_token")
        if "input" not in body and not token:
            raise ApiError(400, "Provide an 'input' parameter.")
        store = body.get("store", True)
        background = bool(body.get("background"))
        previous = body.get("previous_interaction_id")
        if store is False and previous:
            raise ApiError(
                400,
                "'previous_interaction_id' requires 'store' to be true: interactions created with "
                "store=false are not kept, so they cannot be continued.",
            )
        if store is False and background:
            raise ApiError(400, "'background' requires 'store' to be true.")
        if model:
            self._admit_model(body, model)
        else:
            self._admit_agent(body, agent, background)
        if not isinstance(body.get("tools", []), list):
            raise ApiError(400, "Invalid value at 'tools': expected a list.")
        if token:
            self._admit_continuation(token, previous)
        input_steps = normalize_input(body["input"]) if "input" in body else []
        history: list[dict[str, Any]] = []
        if previous:
            try:
                history = self.store.history(previous)
            except KeyError as missing:
                raise ApiError(404, f"Interaction '{missing.args[0]}' not found.") from None
        turns = [i for i, step in enumerate(input_steps) if step.get("type") == "user_input"]
        if len(turns) > 1:  # a multi-turn input (e.g. a re-sent transcript) is conversation history
            history = history + input_steps[: turns[-1]]
        if token and store is False:  # a stateless hop re-sends the original input: it is context only
            history, input_steps = history + input_steps, []
        record = Record(
            id=new_interaction_id(previous, stored=store is not False),
            request=body,
            input_steps=input_steps,
            stored=store is not False,
            legacy=is_legacy,
            directives=wanted,
            extra=agent_config.run_fields(body),
        )
        self.store.add(record)
        prompt = directives.from_text(_texts(input_steps)[-1] if _texts(input_steps) else "")[1]
        turn = Turn(request=body, input_steps=input_steps, history=history, directives=wanted, prompt=prompt)
        return record, turn

    @staticmethod
    def _admit_model(body: dict[str, Any], model: str) -> None:
        if body.get("agent_config"):
            raise ApiError(400, "'agent_config' can only be used with an 'agent'; use 'generation_config'.")
        problem = catalog.model_problem(model)
        if problem:
            raise ApiError(404, problem)

    @staticmethod
    def _admit_agent(body: dict[str, Any], agent: str, background: bool) -> None:
        if agent not in catalog.agents():
            guess = difflib.get_close_matches(agent, sorted(catalog.agents()), n=1, cutoff=0.5)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            raise ApiError(404, f"Agent '{agent}' not found.{hint}")
        if body.get("generation_config"):
            raise ApiError(400, "'generation_config' cannot be used with an 'agent'; use 'agent_config'.")
        problem = agent_config.config_problem(agent, body.get("agent_config"))
        if problem:
            raise ApiError(400, problem)
        if not background:
            raise ApiError(400, "Agent interactions require 'background' to be true.")

    def _admit_continuation(self, token: str, previous: str | None) -> None:
        """A continuation token must be one this service issued, sent with the interaction that issued it."""
        ticket = self.tickets.get(token)
        if ticket is None:
            raise ApiError(
                400, "Invalid 'continuation_token': it was not issued by this service or has expired."
            )
        if previous and previous != ticket.owner:
            raise ApiError(
                400,
                f"'continuation_token' was not issued by interaction '{previous}' "
                "(the 'previous_interaction_id').",
            )

    def _find(self, interaction_id: str) -> Record:
        record = self.store.get(interaction_id)
        if record is None:
            raise ApiError(404, f"Interaction '{interaction_id}' not found.")
        return record

    def _poll_fault(self, record: Record) -> None:
        if "poll_error" not in record.directives:
            return
        code, times = directives.count_and_code(record.directives["poll_error"])
        if record.polls_failed < times:
            record.polls_failed += 1
            headers = {"Retry-After": record.directives.get("retry_after", "1")} if code == 429 else {}
            raise ApiError(code, f"Injected poll error {code}.", headers)

    @staticmethod
    def _position_after(record: Record, last_event_id: str | None) -> int:
        if last_event_id is None:
            return 0
        if not last_event_id.isdigit() or int(last_event_id) > len(record.events):
            raise ApiError(400, f"Invalid last_event_id {last_event_id!r}.")
        return int(last_event_id)

    # -- replies --------------------------------------------------------------------------------------

    def _json(self, record: Record, resource: dict[str, Any]) -> JSONResponse:
        if record.legacy:
            resource = legacy.interaction_to_legacy(resource)
        return JSONResponse(resource)

    @staticmethod
    def _fault_due(record: Record) -> bool:
        """A stream fault applies to a hop of a long answer once, in the hop ``hop=K`` names (default 1)."""
        if record.gate is None:
            return True
        if record.gate["spent"] or record.hop != int(record.directives.get("hop", 1)):
            return False
        record.gate["spent"] = True
        return True

    def _sse(self, record: Record, start: int, first: bool = False, resume: bool = False) -> Response:
        wanted = record.directives
        limit = hang = None
        if resume and "half_resume" in wanted:
            hang = start + int(wanted["half_resume"])
        elif record.streams_served == 0 and self._fault_due(record):
            if "cut" in wanted:  # N events of this stream, wherever it starts
                limit = start + int(wanted["cut"])
            elif "stall" in wanted:
                hang = start + int(wanted["stall"])
        record.streams_served += 1
        frames = sse.tail(record, start, limit, hang)
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _texts(steps: list[dict[str, Any]]) -> list[str]:
    return [
        b.get("text", "")
        for s in steps
        if s.get("type") == "user_input"
        for b in s.get("content") or []
        if b.get("type") == "text"
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer with the service's JSON error shape too (the SDK expects JSON)."""
    assert isinstance(exc, HTTPException)
    return ApiError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}").response()
