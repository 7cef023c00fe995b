"""The per-request decode limit: answers that take several hops, and checkpoints inside a hop.

The service stops a request whose answer passes its decode limit with ``status: requires_continuation``
and a ``continuation_token``; the client sends a new create with that token (and
``previous_interaction_id`` = the interaction that issued it, or the original input when
``store=false``) and the answer goes on in a new interaction. Inside a streamed hop,
``interaction.status_update`` events carry checkpoint tokens, so a client whose connection drops right
after one can resume without duplicated output. google-genai 3.6.1 drives both by default
(``_interactions_continuation.py``).

The emulator reproduces that with a **plan**: when a request asks for hops (directive ``continuations=N``)
the fake model's whole answer is produced once and kept; every token names a position in the plan, and a
hop plays the plan from its start position to the next hop boundary. Boundaries split the text deltas of
the final answer step into N+1 parts; checkpoints fall after each step and every few answer deltas.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .engine import Behaviour, Emit, Finish, Pause, begin, emit_step, end, partial_step, status_update
from .store import Record, Store

_KEEP_TOKENS = 4096  # tokens remembered (oldest dropped): a client resumes within minutes, not days
CHECKPOINT_EVERY = 4  # answer deltas between two mid-hop checkpoints


@dataclass(frozen=True, order=True)
class Position:
    """A place in a plan: before delta ``delta`` of item ``item`` (``delta == 0``: before the step)."""

    item: int
    delta: int = 0


@dataclass
class Plan:
    """A whole answer, produced once, played in hops."""

    items: list[Emit | Pause | Finish]
    boundaries: list[Position]  # where hops end, ascending; the last is the end of the plan
    checkpoint_every: int = CHECKPOINT_EVERY
    # ``cut``/``stall`` fire once for the whole answer (in hop ``hop=K``), not again in every hop.
    gate: dict[str, bool] = field(default_factory=lambda: {"spent": False})

    @classmethod
    def split(cls, items: list[Emit | Pause | Finish], hops: int, checkpoint_every: int = 0) -> Plan:
        """Cut the final answer step's deltas into ``hops`` parts (fewer if it has too few deltas)."""
        answer = _answer_index(items)
        end = Position(len(items))
        if answer is None or hops <= 1:
            return cls(items, [end], checkpoint_every or CHECKPOINT_EVERY)
        deltas = len(items[answer].deltas)  # type: ignore[union-attr]
        hops = min(hops, deltas)
        cuts = sorted({max(1, round(deltas * k / hops)) for k in range(1, hops)})
        boundaries = [Position(answer, cut) for cut in cuts if cut < deltas] + [end]
        return cls(items, boundaries, checkpoint_every or CHECKPOINT_EVERY)

    def hop_end(self, start: Position) -> Position:
        return next(b for b in self.boundaries if b > start)

    def is_end(self, position: Position) -> bool:
        return position >= self.boundaries[-1]


def _answer_index(items: list[Emit | Pause | Finish]) -> int | None:
    """The last text answer (a ``model_output`` step streamed as text deltas), if the plan has one."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, Finish):
            if item.status != "completed":
                return None  # e.g. requires_action: a tool call ends the turn, nothing to continue
            continue
        if isinstance(item, Emit) and item.step.get("type") == "model_output":
            kinds = {d.get("type") for d in item.deltas}
            return index if kinds and kinds <= {"text", "text_annotation_delta"} else None
    return None


@dataclass
class Ticket:
    """What a continuation token stands for."""

    plan: Plan
    position: Position
    owner: str  # the interaction that issued the token
    hop: int  # the hop the next interaction plays (a checkpoint's hop goes on; a boundary starts the next)
    directives: dict[str, str]  # the turn's directives, which its hops keep


@dataclass
class Tickets:
    """Every token issued, by token; bounded."""

    _tokens: OrderedDict[str, Ticket] = field(default_factory=OrderedDict)

    def issue(self, ticket: Ticket) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = ticket
        while len(self._tokens) > _KEEP_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def get(self, token: str) -> Ticket | None:
        return self._tokens.get(token)


async def play(
    record: Record,
    store: Store,
    tickets: Tickets,
    history: list[dict[str, Any]],
    plan: Plan | None = None,
    start: Position | None = None,
    behaviour: Behaviour | None = None,
    hops: int = 1,
) -> None:
    """One hop: the plan (or the behaviour's answer, made into a plan of ``hops`` hops) from ``start`` to
    the next boundary, with checkpoint tokens on the way and a continuation token at the end."""
    begin(record)
    finish = Finish()
    try:
        if plan is None:
            assert behaviour is not None
            plan = Plan.split([item async for item in behaviour], hops)
            if record.gate is not None:
                plan.gate = record.gate
        start = start or Position(0)
        stop = plan.hop_end(start)
        finish = await _play_items(record, tickets, plan, start, stop)
        if not plan.is_end(stop) and finish.status == "completed":
            record.continuation_token = tickets.issue(
                Ticket(plan, stop, record.id, record.hop + 1, record.directives)
            )
            finish = Finish("requires_continuation")
    except asyncio.CancelledError:
        end(record, store, history, Finish("cancelled"))
        raise
    except Exception as exc:  # a bug must still end the interaction, as the service would
        finish = Finish(
            "failed", {"code": "internal_error", "message": f"Internal error in the emulator: {exc}"}
        )
    end(record, store, history, finish)


async def _play_items(
    record: Record, tickets: Tickets, plan: Plan, start: Position, stop: Position
) -> Finish:
    emitted = 0
    every = plan.checkpoint_every

    def checkpoint(position: Position) -> None:
        token = tickets.issue(Ticket(plan, position, record.id, record.hop, record.directives))
        status_update(record, "in_progress", continuation_token=token)

    for index in range(start.item, len(plan.items)):
        if Position(index) >= stop:
            break
        item = plan.items[index]
        if isinstance(item, Pause):
            await asyncio.sleep(item.seconds)
            continue
        if isinstance(item, Finish):
            return item
        first = start.delta if index == start.item else 0
        last = stop.delta if stop.item == index else len(item.deltas)

        def after(position: int, index: int = index, last: int = last) -> None:
            if position < last and position % every == 0:
                checkpoint(Position(index, position))

        stored = partial_step(item, first, last)
        emitted = await emit_step(record, item, emitted, first, last, stored, after)
        if stop.item == index:
            break
        if Position(index + 1) < stop:
            checkpoint(Position(index + 1))
    return Finish()
