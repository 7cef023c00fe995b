"""File search stores through the backend's one SDK client: list them, find or create one by name, upload
files into one (waiting for the indexing operation), and turn the store names of ``--file-search`` into the
service's resource names.

Stores are named by the service: ``create(display_name="manuals")`` gives ``fileSearchStores/manuals-<12
random characters>``. So a bare name means, in this order: the store whose id is that name, the newest store
whose display name is that name, else ``fileSearchStores/NAME`` as written (the service then says whether it
exists). What a listing taught is kept per backend, so a cell with ``--file-search manuals`` asks the
service only the first time.

Every failure is a ``BackendError`` with one line, scrubbed of the key (``Backend.translate``).
"""

from __future__ import annotations

import mimetypes
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import media
from .backend import Backend, BackendError

PREFIX = "fileSearchStores/"
INDEX_WAIT = 600.0  # seconds an upload's indexing may take before we stop waiting
_KNOWN: weakref.WeakKeyDictionary[Backend, dict[str, str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class StoreInfo:
    name: str  # fileSearchStores/…
    display_name: str = ""
    active: int = 0
    pending: int = 0
    failed: int = 0
    size_bytes: int | None = None
    created: float = 0.0  # epoch seconds, for "the newest of that name"

    @property
    def short(self) -> str:
        return self.name.removeprefix(PREFIX)


@dataclass(frozen=True)
class Uploaded:
    """One file's fate: ``indexed``, ``skipped`` (already in the store), or ``failed`` with a reason."""

    path: Path
    size: int
    outcome: str
    document: str = ""
    reason: str = ""


def _info(store: Any) -> StoreInfo:
    created = getattr(store, "create_time", None)
    return StoreInfo(
        str(store.name or ""),
        str(store.display_name or ""),
        int(store.active_documents_count or 0),
        int(store.pending_documents_count or 0),
        int(store.failed_documents_count or 0),
        store.size_bytes if isinstance(store.size_bytes, int) else None,
        created.timestamp() if created is not None else 0.0,
    )


def _remember(backend: Backend, stores: list[StoreInfo]) -> None:
    known = _KNOWN.setdefault(backend, {})
    for store in sorted(stores, key=lambda s: s.created):  # the newest of a display name wins
        if store.display_name:
            known[store.display_name] = store.name
    known.update({store.short: store.name for store in stores})  # an id wins over a display name


def list_stores(backend: Backend) -> list[StoreInfo]:
    """Every file search store of the key (or of the emulator), oldest first."""
    try:
        stores = [_info(s) for s in backend.client.file_search_stores.list(config={"page_size": 20})]
    except Exception as exc:
        raise _failure("listing file search stores failed", backend, exc) from None
    stores.sort(key=lambda s: (s.created, s.name))
    _remember(backend, stores)
    return stores


def find(backend: Backend, name: str) -> StoreInfo | None:
    """The store ``name`` means (a resource name, an id, or a display name; see the module's notes)."""
    stores = list_stores(backend)
    wanted = name if name.startswith(PREFIX) else PREFIX + name
    exact = [s for s in stores if s.name == wanted]
    named = [s for s in stores if s.display_name == name]
    return (exact or named[-1:] or [None])[0]


def ensure(backend: Backend, name: str) -> tuple[StoreInfo, bool]:
    """The store ``name`` means, created (with that display name) if there is none; and whether it was."""
    found = find(backend, name)
    if found is not None:
        return found, False
    if name.startswith(PREFIX):
        raise BackendError(
            f"there is no file search store {name}; the service names new stores itself: give a display "
            "name, e.g. %gemini store manuals FILE"
        )
    try:
        store = _info(backend.client.file_search_stores.create(config={"display_name": name}))
    except Exception as exc:
        raise _failure(f"creating the file search store {name!r} failed", backend, exc) from None
    _remember(backend, [store])
    return store, True


def refresh(backend: Backend, store: StoreInfo) -> StoreInfo:
    try:
        found = _info(backend.client.file_search_stores.get(name=store.name))
    except Exception as exc:
        raise _failure(f"reading {store.name} failed", backend, exc) from None
    return found


def documents(backend: Backend, store: StoreInfo) -> list[tuple[str, int | None]]:
    """(display name, size) of the store's documents: an upload of the same file again is skipped."""
    try:
        listed = backend.client.file_search_stores.documents.list(parent=store.name)
        return [(str(d.display_name or ""), d.size_bytes) for d in listed]
    except Exception as exc:
        raise _failure(f"listing the documents of {store.name} failed", backend, exc) from None


def mime_type(path: Path) -> str:
    """What the file is: by its bytes and name (text types the service indexes), else by its name."""
    with path.open("rb") as handle:
        head = handle.read(65536)
    found = media.sniff(head, path.name) or mimetypes.guess_type(path.name)[0]
    if not found:
        raise BackendError(f"{path}: cannot tell what kind of file this is (no known extension, not text)")
    return found


def upload(
    backend: Backend,
    store: StoreInfo,
    path: Path,
    on_state: Callable[[str], None] = lambda state: None,
    poll: float = 0.2,
    wait: float = INDEX_WAIT,
) -> Uploaded:
    """Upload one file into ``store`` and wait until it is indexed; ``on_state`` hears ``uploading``,
    ``indexing``. A refusal of this file is an ``Uploaded`` with ``failed`` (the next files still go);
    a failure of the service or the network raises ``BackendError``."""
    size = path.stat().st_size
    try:
        kind = mime_type(path)
    except (BackendError, OSError) as exc:
        return Uploaded(path, size, "failed", reason=str(exc))
    on_state("uploading")
    client = backend.client
    try:
        operation = client.file_search_stores.upload_to_file_search_store(
            file_search_store_name=store.name,
            file=os.fspath(path),
            config={"mime_type": kind, "display_name": path.name[:500]},
        )
        on_state("indexing")
        deadline, pause = time.monotonic() + wait, poll
        while not operation.done:
            if time.monotonic() > deadline:
                raise BackendError(f"{path.name}: still being indexed after {wait:.0f} s; see %gemini stores")
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)
            operation = client.operations.get(operation)
    except BackendError:
        raise
    except Exception as exc:
        error = _failure(f"{path.name}: upload failed", backend, exc)
        if error.status in (400, 409, 413, 415, 422):  # this file was refused: the next ones may go
            return Uploaded(path, size, "failed", reason=str(error))
        raise error from None
    if operation.error:
        message = str(operation.error.get("message") or operation.error)
        return Uploaded(path, size, "failed", reason=backend.scrub(message))
    document = getattr(operation.response, "document_name", None) or ""
    return Uploaded(path, size, "indexed", document=str(document))


def resolve(tools: Any, names: tuple[str, ...], backend: Backend) -> None:
    """``--file-search NAME`` for a bare NAME → the store it means, in the request's ``tools`` (in place).
    Only bare names ask the service, once per backend."""
    bare = [n for n in names if "/" not in n]
    specs = [t for t in tools or [] if isinstance(t, dict) and t.get("type") == "file_search"]
    if not bare or not specs:
        return
    known = _KNOWN.get(backend, {})
    if any(n not in known for n in bare):
        try:
            list_stores(backend)
        except BackendError:  # no store API behind this backend: the names go as written, the service judges
            return
        known = _KNOWN.get(backend, {})
    for spec in specs:
        spec["file_search_store_names"] = [
            known.get(n.removeprefix(PREFIX), n) if n.removeprefix(PREFIX) in bare else n
            for n in spec.get("file_search_store_names") or []
        ]


def _failure(what: str, backend: Backend, exc: BaseException) -> BackendError:
    error = backend.translate(exc)
    return BackendError(f"{what}: {error}", error.status)
