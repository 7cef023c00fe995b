"""In-memory state of the Files API and of file search stores, one ``FileService`` per emulator.

Resources render as the service's JSON (camelCase, int64 as strings, RFC 3339 timestamps), which
google-genai's ``File``, ``FileSearchStore``, ``Document`` and operation types parse. Indexing a document
takes ``indexing_seconds``: until then its operation is ``done: false``, the document is
``STATE_PENDING`` and file search does not see it, as on the service.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import filetext

FILE_LIFETIME = 48 * 3600  # uploaded files expire after 48 hours on the service
_ALPHABET = string.ascii_lowercase + string.digits


class FilesError(Exception):
    """A Files / file search stores API error: HTTP status, Google status name and message."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def random_id(length: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def slug(text: str, limit: int = 27) -> str:
    """The readable prefix the service puts in store and document ids ("My Store" → "my-store")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def _compact(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if v is not None and v != []}


@dataclass
class StoredFile:
    name: str  # files/<id>
    mime_type: str
    data: bytes
    display_name: str | None = None
    created: float = field(default_factory=time.time)

    def resource(self, base_url: str) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "displayName": self.display_name,
                "mimeType": self.mime_type,
                "sizeBytes": str(len(self.data)),
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.created),
                "expirationTime": rfc3339(self.created + FILE_LIFETIME),
                "sha256Hash": base64.b64encode(hashlib.sha256(self.data).hexdigest().encode()).decode(),
                "uri": f"{base_url.rstrip('/')}/v1beta/{self.name}",
                "state": "ACTIVE",
                "source": "UPLOADED",
            }
        )


@dataclass
class Document:
    name: str  # fileSearchStores/<store>/documents/<id>
    display_name: str
    mime_type: str
    size: int
    chunks: list[filetext.Chunk]
    custom_metadata: list[dict[str, Any]]
    ready_at: float
    created: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return time.time() >= self.ready_at

    def metadata(self) -> dict[str, Any]:
        """``custom_metadata`` as a plain mapping (what a ``file_citation`` carries)."""
        out: dict[str, Any] = {}
        for item in self.custom_metadata:
            if "stringValue" in item:
                out[item["key"]] = item["stringValue"]
            elif "numericValue" in item:
                out[item["key"]] = item["numericValue"]
            elif "stringListValue" in item:
                out[item["key"]] = list((item["stringListValue"] or {}).get("values") or [])
        return out

    def resource(self) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "displayName": self.display_name,
                "state": "STATE_ACTIVE" if self.active else "STATE_PENDING",
                "sizeBytes": str(self.size),
                "mimeType": self.mime_type,
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(max(self.created, min(self.ready_at, time.time()))),
                "customMetadata": self.custom_metadata,
            }
        )


@dataclass
class SearchStore:
    name: str  # fileSearchStores/<id>
    display_name: str | None
    embedding_model: str | None
    documents: dict[str, Document] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def resource(self) -> dict[str, Any]:
        docs = list(self.documents.values())
        active = sum(d.active for d in docs)
        return _compact(
            {
                "name": self.name,
                "displayName": self.display_name,
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.updated),
                "activeDocumentsCount": str(active) if active else None,
                "pendingDocumentsCount": str(len(docs) - active) if len(docs) > active else None,
                "sizeBytes": str(sum(d.size for d in docs)) if docs else None,
                "embeddingModel": self.embedding_model,
            }
        )


@dataclass
class Operation:
    name: str
    kind: str  # "UploadToFileSearchStore" or "ImportFile"
    parent: str
    document: str
    ready_at: float

    def resource(self) -> dict[str, Any]:
        done = time.time() >= self.ready_at
        out: dict[str, Any] = {"name": self.name, "done": done}
        if done:
            out["response"] = {
                "@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{self.kind}Response",
                "parent": self.parent,
                "documentName": self.document,
            }
        return out


class FileService:
    """Files, file search stores, their documents and indexing operations of one emulator."""

    indexing_seconds = 0.3

    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.stores: dict[str, SearchStore] = {}
        self.operations: dict[str, Operation] = {}

    # -- files --------------------------------------------------------------------------------------------

    def add_file(self, data: bytes, mime_type: str, display_name: str | None, name: str | None) -> StoredFile:
        if name is not None:
            file_id = name.removeprefix("files/")
            if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", file_id):
                raise FilesError(400, "INVALID_ARGUMENT", f"Invalid file name '{name}'.")
            if f"files/{file_id}" in self.files:
                raise FilesError(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")
        else:
            file_id = random_id()
        stored = StoredFile(f"files/{file_id}", mime_type, data, display_name)
        self.files[stored.name] = stored
        return stored

    def file(self, name: str) -> StoredFile:
        file_id = name.removeprefix("files/")
        stored = self.files.get(f"files/{file_id}")
        if stored is None or time.time() > stored.created + FILE_LIFETIME:
            raise FilesError(
                403,
                "PERMISSION_DENIED",
                f"You do not have permission to access the File {file_id} or it may not exist.",
            )
        return stored

    def delete_file(self, name: str) -> None:
        del self.files[self.file(name).name]

    # -- stores -------------------------------------------------------------------------------------------

    def create_store(self, display_name: str | None, embedding_model: str | None) -> SearchStore:
        prefix = slug(display_name or "")
        store_id = f"{prefix}-{random_id()}" if prefix else random_id()
        store = SearchStore(f"fileSearchStores/{store_id}", display_name, embedding_model)
        self.stores[store.name] = store
        return store

    def store(self, name: str) -> SearchStore:
        store = self.stores.get(name)
        if store is None:
            raise FilesError(404, "NOT_FOUND", f"FileSearchStore {name} not found.")
        return store

    def delete_store(self, name: str, force: bool) -> None:
        store = self.store(name)
        if store.documents and not force:
            raise FilesError(
                400,
                "FAILED_PRECONDITION",
                f"FileSearchStore {name} is not empty; set force=true to delete it with its documents.",
            )
        del self.stores[name]

    def add_document(
        self,
        store_name: str,
        data: bytes,
        mime_type: str,
        display_name: str | None,
        custom_metadata: list[dict[str, Any]] | None,
        chunking_config: dict[str, Any] | None,
        kind: str,
    ) -> Operation:
        """Index ``data`` into a store; the operation that reports when it is searchable."""
        store = self.store(store_name)
        try:
            chunks = filetext.chunk(filetext.extract(data, mime_type), chunking_config)
        except filetext.ChunkingError as exc:
            raise FilesError(400, "INVALID_ARGUMENT", str(exc)) from None
        metadata = check_metadata(custom_metadata or [])
        prefix = slug(display_name or "", 40)
        doc_id = f"{prefix}-{random_id()}" if prefix else random_id()
        ready = time.time() + self.indexing_seconds
        document = Document(
            f"{store.name}/documents/{doc_id}",
            display_name or doc_id,
            mime_type,
            len(data),
            chunks,
            metadata,
            ready,
        )
        store.documents[document.name] = document
        store.updated = time.time()
        segment = "upload/operations" if kind == "UploadToFileSearchStore" else "operations"
        operation = Operation(
            f"{store.name}/{segment}/{slug(doc_id, 40)}-{random_id()}", kind, store.name, document.name, ready
        )
        self.operations[operation.name] = operation
        return operation

    def operation(self, name: str) -> Operation:
        operation = self.operations.get(name)
        if operation is None:
            raise FilesError(404, "NOT_FOUND", f"Operation {name} not found.")
        return operation

    def document(self, name: str) -> tuple[SearchStore, Document]:
        store_name = name.split("/documents/")[0]
        store = self.store(store_name)
        document = store.documents.get(name)
        if document is None:
            raise FilesError(404, "NOT_FOUND", f"Document {name} not found.")
        return store, document


def check_metadata(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Custom metadata as the service keeps it: each item a key and exactly one value."""
    if len(items) > 20:
        raise FilesError(400, "INVALID_ARGUMENT", "A document can have at most 20 custom_metadata entries.")
    out = []
    for item in items:
        kinds = ("stringValue", "numericValue", "stringListValue")
        values = [k for k in kinds if k in item] if isinstance(item, dict) else []
        if not values or not item.get("key") or len(values) != 1:
            raise FilesError(
                400,
                "INVALID_ARGUMENT",
                f"Invalid custom_metadata entry {item!r}: it needs a key and one value.",
            )
        out.append({"key": item["key"], values[0]: item[values[0]]})
    return out
