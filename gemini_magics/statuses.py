"""What each interaction status means to the magics: success or not, ended or not, and how it is said.

google-genai 3.6.1 types ``Interaction.status`` as ``in_progress``, ``queued``, ``requires_action``,
``completed``, ``failed``, ``cancelled``, ``incomplete``, ``budget_exceeded``, ``idle`` and
``requires_continuation``, with no word on the last three. What we take them to mean:

* ``idle``: the SDK's Live API documents ``IDLE`` as "the server has completed all processing and background
  reasoning" and deprecates ``REQUIRES_ACTION`` in its favour: the turn is over and waits for the next input.
  So an ``idle`` interaction is a **success**, like ``completed``: its answer is whole, the chain advances
  (the turn is recorded ``completed``), and the views show it as finished ("finished: idle").
* ``budget_exceeded``: the work stopped because a budget ran out (an Antigravity agent's
  ``max_total_tokens``; the service's own limits): the answer is partial. A **failure** with its own words
  ("stopped: budget exceeded") and colour; what arrived is kept and shown, the chain does not advance.
* ``requires_continuation``: the end of one decode-limited *hop*, not of the answer. Nobody shows it: the
  foreground stream continues it (``continuation.py``), the SDK continues unary creates, and a research
  tracker continues a followed interaction itself (``research/hops.py``). It is reported as running.

One module holds this so that the cell, the result view, the live widget, the panel and the chain agree.
"""

from __future__ import annotations

SUCCESS = frozenset({"completed", "requires_action", "idle"})
"""Statuses of an answer one can build on: the chain advances (``requires_action``: a tool loop's turn)."""
RUNNING = frozenset({"in_progress", "queued"})
HOP = "requires_continuation"
"""One decode-limited hop ended; the answer goes on in a new request."""
ENDED = frozenset(
    {"completed", "failed", "cancelled", "incomplete", "requires_action", "budget_exceeded", "idle"}
)
"""Statuses after which nothing more happens to an interaction (``requires_continuation`` is not one)."""

WORDS = {
    HOP: "in_progress",
    "completed": "completed",
    "requires_action": "completed",
    "idle": "finished: idle",
    "failed": "failed",
    "cancelled": "cancelled",
    "incomplete": "stopped: output limit reached",
    "budget_exceeded": "stopped: budget exceeded",
}
ICONS = {
    "completed": "✓",
    "requires_action": "✓",
    "idle": "✓",
    "failed": "✗",
    "incomplete": "✗",
    "budget_exceeded": "⊘",
    "cancelled": "■",
}
BAR_STYLES = {
    "completed": "success",
    "requires_action": "success",
    "idle": "success",
    "failed": "danger",
    "incomplete": "danger",
    "cancelled": "warning",
    "budget_exceeded": "",
}
"""The progress bar's style at the end, as tqdm.notebook colours them; ``""`` takes ``COLOURS``."""
COLOURS = {"budget_exceeded": "#8e24aa", "idle": "#00897b"}
"""Statuses with a colour of their own (bar and panel): purple for a spent budget, teal for idle."""

_REASONS = {
    "budget_exceeded": "the interaction's budget ran out before the answer was complete",
    "incomplete": "the answer reached its output limit (--max-tokens) before it was complete",
    "cancelled": "the interaction was cancelled",
    HOP: "the answer stopped at the service's per-request output limit and was not continued",
}
_ADVICE = {
    "budget_exceeded": "ask for less, or give the agent a larger budget",
    "incomplete": "ask for less, or raise --max-tokens",
}


def words(status: str) -> str:
    """How a status reads to the user ("stopped: budget exceeded"); the others as the service says them."""
    return WORDS.get(status, status)


def is_success(status: str) -> bool:
    return status in SUCCESS


def reason(status: str) -> str:
    """Why a cell that ended ``status`` failed, when the service gave no error text."""
    return _REASONS.get(status, f"the interaction ended {status}")


def advice(status: str) -> str:
    """What to do about it (``""``: the caller's default, which is to run the cell again)."""
    return _ADVICE.get(status, "")
