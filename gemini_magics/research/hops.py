"""Continuing a followed interaction past the service's per-request decode limit.

google-genai 3.6.1 continues ``requires_continuation`` hops by itself for foreground creates only: for
``background=True`` and agents it leaves continuation to the service (``_interactions_continuation``:
"server-managed"), and a tracker reads interactions with ``get``, which the SDK never continues. The
service is expected to continue background runs itself, and the emulator does (an agent run with
``[emulator: continuations=2]`` ends ``completed`` with the whole report). But a followed interaction *can*
end ``requires_continuation`` with a ``continuation_token`` — a foreground create stopped at a hop boundary
and then followed by ``%gemini wait ID`` — and then the tracker continues it as the SDK would: a new hop
with ``previous_interaction_id`` = the hop that issued the token, the token, no input; in the background,
since the kernel must not wait. The hops end as one result: the SDK's own ``merge_unary_hops`` (steps of
every hop, usage summed by ``_merge_usages``, ``continuation_ids``), through ``continuation.py``, which pins
those SDK names.
"""

from __future__ import annotations

from typing import Any

from .. import catalog
from ..backend import Backend
from ..continuation import next_body, rules

MAX_HOPS = 64  # a runaway chain of hops ends as a failure rather than running for ever

# Fields of a stored interaction that describe its request and may be sent again with the next hop.
_ECHOED = ("model", "agent", "system_instruction")


class Hops:
    """The hops of one followed run that ended ``requires_continuation``, and how to start the next."""

    def __init__(self, backend: Backend, params: dict[str, Any] | None = None) -> None:
        self.backend = backend
        self.params = {k: v for k, v in (params or {}).items() if k not in ("input", "stream")}
        self.ended: list[Any] = []  # the SDK interactions of the hops that ended requires_continuation

    def body(self, interaction: Any, token: str) -> dict[str, Any]:
        """The create body of the hop after ``interaction``: the run's own request when this kernel
        started it, else what the stored interaction says of it (after a restart, or ``%gemini wait ID``)."""
        base = dict(self.params)
        if not base:
            base = {k: getattr(interaction, k) for k in _ECHOED if getattr(interaction, k, None)}
            config = catalog.agent_config(str(base["agent"])) if base.get("agent") else None
            if config:
                base["agent_config"] = config
        base["background"] = True
        return next_body(base, token, interaction.id)

    def next(self, interaction: Any) -> str:
        """Start the hop after ``interaction``; its id. ``ValueError`` when there is nothing to continue
        with; ``BackendError`` when the service refuses."""
        token = getattr(interaction, "continuation_token", None)
        if not token:
            raise ValueError("the answer stopped at the output limit without a token to continue it")
        if len(self.ended) >= MAX_HOPS:
            raise ValueError(f"the answer was still not complete after {MAX_HOPS} continuation requests")
        created = self.backend.create(self.body(interaction, str(token)))
        self.ended.append(interaction)
        return str(created.id)

    def merged(self, final: Any) -> Any:
        """``final`` with the earlier hops merged in, as the SDK merges continued creates."""
        if not self.ended:
            return final
        return rules().merge_unary_hops([*self.ended, final])
