"""Long answers and dropped streams: the SDK's own continuation rules, driven over the fast event parser.

An answer longer than the service's per-request decode limit arrives in *hops*: each hop but the last
ends ``requires_continuation`` with a ``continuation_token``, and mid-hop ``interaction.status_update``
events carry checkpoint tokens a dropped connection can resume from. google-genai 3.6.1 follows both
(``_interactions_continuation.StreamContinuation``) — but inside its own event generator, which
``backend.EventStream`` deliberately skips (its per-event decoding costs ~0.6 ms). So ``HopStream`` runs the
SDK's state machine itself, the SDK's class and body builder rather than a copy, over the plain dicts of the
fast parser: the same hops, the same tokens, the same give-up rules, the same usage sums.

Two things go beyond the SDK, both for stored interactions only:

- a stream dropped *after* output since its last checkpoint (where the SDK gives up, as resuming from the
  checkpoint would repeat text) is resumed exactly with ``get(id, stream=True, last_event_id=...)``;
- a resumed stream that goes silent for ``resume_timeout`` seconds is settled by a plain ``get``: when the
  interaction has ended, its steps arrive as one ``interaction.completed`` carrying ``steps``, which the
  block assembler treats as the authoritative content of that hop.

Consumers see one stream: step indexes of later hops are shifted past the earlier hops' so every step has its
own index. ``tests/unit/test_continuation_rules.py`` pins the SDK names and behaviours used here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

MAX_EXACT_RESUMES = 3  # consecutive get-resumes that bring nothing new before the stream is given up
TERMINAL = ("completed", "failed", "cancelled", "incomplete", "requires_action", "budget_exceeded", "idle")


def rules() -> Any:
    """The SDK module whose continuation rules are followed (imported on first use)."""
    from google.genai import _interactions_continuation

    return _interactions_continuation


def connection_errors() -> tuple[type[BaseException], ...]:
    """What counts as a dropped connection (resumable), as opposed to a refusal (raised at once)."""
    import importlib

    from google.genai._interactions_errors import APIConnectionError

    found: list[type[BaseException]] = [APIConnectionError, ConnectionError, TimeoutError]
    for name in ("httpx", "httpx2"):  # google-genai 3.6 streams interactions through its own httpx2
        with contextlib.suppress(ImportError):
            found.append(importlib.import_module(name).TransportError)
    return tuple(found)


def merge_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage of a multi-hop answer, summed as the SDK sums it (input tokens of every hop, per modality)."""
    usages = [u for u in usages if isinstance(u, dict)]
    if len(usages) < 2:
        return dict(usages[0]) if usages else {}
    merged = rules()._merge_usages(usages)
    return dict(merged) if isinstance(merged, dict) else {}


def next_body(params: dict[str, Any], token: str | None, owner: str | None) -> dict[str, Any]:
    """The create body of the next hop, built by the SDK's own rule (stored: the owner hop and no input;
    stateless: the original input again)."""
    if token is None:
        return dict(params)
    return dict(rules()._continuation_body(params, token, owner))


class HopStream:
    """The events of one logical streamed create, across continuation hops and reconnects.

    ``open_hop(body)`` starts one HTTP stream of events (a create); ``open_resume(id, last_event_id)`` resumes
    a stored interaction's stream; ``fetch(id)`` gets it whole; ``read(stream)`` yields a stream's events as
    dicts. They are the backend's, so this module never sees the key or the client.
    """

    def __init__(
        self,
        params: dict[str, Any],
        first: Any,
        open_hop: Callable[[dict[str, Any]], Any],
        open_resume: Callable[[str, str | None], Any],
        fetch: Callable[[str], dict[str, Any]],
        read: Callable[[Any], Iterator[dict[str, Any]]],
    ) -> None:
        self._params = params
        self._current = first
        self._open_hop, self._open_resume, self._fetch, self._read = open_hop, open_resume, fetch, read
        self._stored = params.get("store") is not False
        self.hops = 0  # hops started so far (a reconnect from a checkpoint is a hop)
        self.resumes = 0  # exact resumes of a dropped stream
        self.settled = False  # a silent resume was settled by a get
        self.patience = 300.0  # seconds a resumed interaction may stay silent before it is given up
        self._offset = 0  # added to the step indexes of the current hop
        self._top = -1  # the highest (shifted) step index seen

    def __iter__(self) -> Iterator[dict[str, Any]]:
        state = rules().StreamContinuation(connection_error_type=connection_errors(), stateful=self._stored)
        first = True
        while True:
            token, owner = state.start_hop(stream_opened=first)
            error: Exception | None = None
            if not first:
                self._close_current()
                try:
                    self._current = self._open_hop(next_body(self._params, token, owner))
                    state.mark_stream_opened()
                except Exception as exc:
                    error = exc
            first = False
            if error is None:
                self.hops += 1
                self._offset = self._top + 1
                hop = _Hop()
                try:
                    yield from self._events(self._read(self._current), state, hop)
                    if not hop.ended:  # closed without its last event: the connection dropped
                        error = ConnectionError("the stream ended before the answer was complete")
                except GeneratorExit:
                    raise
                except Exception as exc:
                    error = exc
                if error is not None and self._resumable(hop, error):
                    try:
                        yield from self._resume(state, hop)
                        error = None
                    except GeneratorExit:
                        raise
                    except Exception as exc:  # a refused resume (e.g. 404): the cut is what the user needs
                        error = exc if isinstance(exc, connection_errors()) else error
            if not state.end_hop(error):
                break

    def close(self) -> None:
        self._close_current()

    # -- one hop ---------------------------------------------------------------------------------------

    def _events(self, events: Iterator[dict[str, Any]], state: Any, hop: _Hop) -> Iterator[dict[str, Any]]:
        for event in events:
            _observe(state, event)
            hop.observe(event)
            yield self._shifted(event)

    def _shifted(self, event: dict[str, Any]) -> dict[str, Any]:
        index = event.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            index += self._offset
            self._top = max(self._top, index)
            if self._offset:
                event = {**event, "index": index}
        return event

    def _resumable(self, hop: _Hop, error: Exception) -> bool:
        """A stored hop whose id we know, dropped while it was still running, by the connection."""
        return self._stored and bool(hop.id) and not hop.ended and isinstance(error, connection_errors())

    def _resume(self, state: Any, hop: _Hop) -> Iterator[dict[str, Any]]:
        """Resume the hop after its last event; a resume that stays silent is settled by a ``get``, or
        resumed again while the interaction still runs, until it has been silent for ``patience`` seconds.
        Resumes refused at once (not a silence) are given up after ``MAX_EXACT_RESUMES``."""
        fruitless, quiet_since = 0, time.monotonic()
        while True:
            self._close_current()
            seen = hop.count
            try:
                self._current = self._open_resume(hop.id, hop.last_event_id)
                self.resumes += 1
                yield from self._events(self._read(self._current), state, hop)
                if hop.ended:
                    return
                error: Exception | None = None
            except GeneratorExit:
                raise
            except Exception as exc:
                if not isinstance(exc, connection_errors()):
                    raise
                error = exc
            if hop.count > seen:
                fruitless, quiet_since = 0, time.monotonic()
            whole = self._fetch(hop.id)
            if whole.get("status") in TERMINAL or whole.get("status") == "requires_continuation":
                self.settled = True
                yield from self._events(iter([_completed(whole)]), state, hop)
                return
            silence = "Timeout" in type(error).__name__ if error is not None else False
            fruitless += 0 if silence or hop.count > seen else 1
            if fruitless >= MAX_EXACT_RESUMES or time.monotonic() - quiet_since > self.patience:
                raise error or ConnectionError("the resumed stream ended before the answer was complete")

    def _close_current(self) -> None:
        close = getattr(self._current, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # a broken stream may close badly: nothing is lost
                close()


def _observe(state: Any, event: dict[str, Any]) -> None:
    """Show the SDK's continuation rules an event they can read. A damaged one (its type or a field of
    the wrong kind: ``{}`` where a name belongs) says nothing about hops, and must not end the answer
    whose text arrived around it; ``blocks.py`` shows it as an unknown part."""
    if not isinstance(event.get("event_type"), str):
        return
    try:
        state.observe(event)
    except (TypeError, AttributeError, ValueError):  # a field the rules look up is not a string
        return


class _Hop:
    """What one hop's events said: its interaction id, last event id and status."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.last_event_id: str | None = None
        self.status: str | None = None
        self.count = 0

    def observe(self, event: dict[str, Any]) -> None:
        self.count += 1
        info = event.get("interaction") if isinstance(event.get("interaction"), dict) else {}
        found = info.get("id") or event.get("interaction_id")
        if isinstance(found, str) and found and not self.id:
            self.id = found
        status = info.get("status") or event.get("status")
        if isinstance(status, str) and status:
            self.status = status
        if event.get("event_type") == "error":
            self.status = "failed"
        if isinstance(event.get("event_id"), str) and event["event_id"]:
            self.last_event_id = event["event_id"]

    @property
    def ended(self) -> bool:
        """The hop's stream said its last word: a final status, a hop boundary, or an error."""
        return self.status in TERMINAL or self.status == "requires_continuation"


def _completed(interaction: dict[str, Any]) -> dict[str, Any]:
    """A stored interaction fetched whole, as the ``interaction.completed`` event that ends its stream."""
    return {"event_type": "interaction.completed", "interaction": interaction}
