"""Per-notebook interaction chains, persisted in SQLite.

``%%gemini`` continues a conversation through the service's ``previous_interaction_id``; the id of the
last completed interaction (the chain's *head*) must therefore survive a kernel restart, and everything
the user sent or received must stay readable even when a call failed. This package keeps that state in one
SQLite file shared by every kernel of the user:

* WAL mode, a busy timeout and short ``BEGIN IMMEDIATE`` transactions, so several kernels (processes) can
  write at once and a kernel killed mid-write leaves the file consistent (SQLite's own atomic commit).
* Only a completed interaction advances a chain, and only by compare-and-set against the head it was sent
  with: two kernels continuing the same chain never silently interleave, the loser is told.
* Every turn is recorded, whatever its outcome; ``reset`` starts a new *segment* without deleting history.
* A ``meta`` table carries the schema version, so later releases can migrate, and a file written by a
  newer release is refused rather than damaged.
* Each turn remembers the kernel (host and pid) that sent it, so a turn left ``in_progress`` by a kernel
  that died mid-call (SIGKILL, out of memory) can later be shown as ``interrupted``, not as still running.
* A turn whose interaction was deleted on the service (``%gemini delete``) keeps its row, with the time of
  the deletion in ``deleted``: the history stays readable and says what is gone.
* Each turn keeps the service's whole ``usage`` (JSON: ``%gemini usage``, the budget), and for ``%gemini
  export`` the static view its answer was shown with (``view``: Markdown and text) and the cell's flags a
  re-run can repeat (``flags``).
* A turn that leaves a pending status keeps when it did (``finished``): a run's elapsed time stays known
  after its kernel is gone (the Jupyter server extension lists it).

Nothing here logs, and no API key ever reaches this package.

The package: ``records.py`` (turns, statuses, the row shape), ``store.py`` (``ChainStore``: the file, its
schema and every query across chains), ``conversation.py`` (``Chain``: one chain's compare-and-set rules).
Everything public is importable from ``gemini_magics.chain``.
"""

from __future__ import annotations

from .conversation import Chain
from .records import (
    DEFAULT_CHAIN,
    ENV_VAR,
    PENDING,
    SCHEMA_VERSION,
    STATUSES,
    ChainInfo,
    ChainStoreError,
    Status,
    Turn,
    default_store_path,
    pid_alive,
)
from .store import ChainStore

__all__ = [
    "DEFAULT_CHAIN",
    "ENV_VAR",
    "PENDING",
    "SCHEMA_VERSION",
    "STATUSES",
    "Chain",
    "ChainInfo",
    "ChainStore",
    "ChainStoreError",
    "Status",
    "Turn",
    "default_store_path",
    "pid_alive",
]
