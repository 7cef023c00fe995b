"""HTTP routes of the Files API and of file search stores, as google-genai 3.6.1 calls them.

``files.upload`` and ``file_search_stores.upload_to_file_search_store`` use Google's resumable upload
protocol: a ``start`` request (``X-Goog-Upload-Protocol: resumable``, ``X-Goog-Upload-Command: start``,
the size and type in ``X-Goog-Upload-Header-Content-*``) answered with an ``X-Goog-Upload-URL``, then
chunks posted there with ``upload`` / ``upload, finalize`` and their offset; the finalizing reply has
``X-Goog-Upload-Status: final`` and the ``File`` (or the upload operation) as its body. Errors keep the
classic Google shape ``{"error": {"code": 404, "message", "status": "NOT_FOUND"}}`` (unlike the
Interactions API's).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import filetext
from .filestore import FilesError, FileService, check_metadata, random_id

_MAX_BYTES = 2 * 1024**3  # the Files API's 2 GB limit per file
_GRANULARITY = str(8 * 1024 * 1024)


class KeySettings(Protocol):
    """What the routes need of the emulator's settings: the API key rules."""

    require_key: bool
    api_keys: frozenset[str]


@dataclass
class _Upload:
    """A resumable upload in progress: where the bytes go once finalized."""

    target: str  # "file" or a store name
    size: int | None
    mime_type: str
    meta: dict[str, Any]
    data: bytearray = field(default_factory=bytearray)


class FileRoutes:
    """Request handlers over one ``FileService``."""

    def __init__(self, service: FileService, settings: KeySettings) -> None:
        self.service, self.settings = service, settings
        self.uploads: dict[str, _Upload] = {}

    def routes(self) -> list[Route]:
        out = []
        for v in ("v1", "v1beta"):
            stores = f"/{v}/fileSearchStores"
            out += [
                Route(f"/upload/{v}/files", self._guard(self.upload_file), methods=["POST"]),
                Route(
                    f"/upload/{v}/fileSearchStores/{{store}}:uploadToFileSearchStore",
                    self._guard(self.upload_to_store),
                    methods=["POST"],
                ),
                Route(f"/{v}/files", self._guard(self.list_files), methods=["GET"]),
                Route(f"/{v}/files/{{id}}", self._guard(self.get_file), methods=["GET"]),
                Route(f"/{v}/files/{{id}}", self._guard(self.delete_file), methods=["DELETE"]),
                Route(stores, self._guard(self.create_store), methods=["POST"]),
                Route(stores, self._guard(self.list_stores), methods=["GET"]),
                Route(f"{stores}/{{store}}:importFile", self._guard(self.import_file), methods=["POST"]),
                Route(
                    f"{stores}/{{store}}/operations/{{op}}", self._guard(self.get_operation), methods=["GET"]
                ),
                Route(
                    f"{stores}/{{store}}/upload/operations/{{op}}",
                    self._guard(self.get_operation),
                    methods=["GET"],
                ),
                Route(f"{stores}/{{store}}/documents", self._guard(self.list_documents), methods=["GET"]),
                Route(
                    f"{stores}/{{store}}/documents/{{doc}}", self._guard(self.get_document), methods=["GET"]
                ),
                Route(
                    f"{stores}/{{store}}/documents/{{doc}}",
                    self._guard(self.delete_document),
                    methods=["DELETE"],
                ),
                Route(f"{stores}/{{store}}", self._guard(self.get_store), methods=["GET"]),
                Route(f"{stores}/{{store}}", self._guard(self.delete_store), methods=["DELETE"]),
            ]
        return out

    def _guard(self, handler: Any) -> Any:
        """Check the API key and turn ``FilesError`` into the classic error body."""

        async def endpoint(request: Request) -> Response:
            try:
                self._authorize(request)
                return await handler(request)
            except FilesError as exc:
                return JSONResponse(exc.body(), status_code=exc.code)

        return endpoint

    def _authorize(self, request: Request) -> None:
        if "upload_id" in request.query_params:  # a resumable upload's URL is its credential (the service)
            return
        check_key(request, self.settings)

    # -- uploads ------------------------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        if "upload_id" in request.query_params:
            return await self._chunk(request)
        meta = (await _json_body(request)).get("file") or {}
        return self._start(request, "file", meta.get("mimeType"), meta)

    async def upload_to_store(self, request: Request) -> Response:
        if "upload_id" in request.query_params:
            return await self._chunk(request)
        name = f"fileSearchStores/{request.path_params['store']}"
        self.service.store(name)
        meta = await _json_body(request)
        _check_document_options(meta)
        return self._start(request, name, meta.get("mimeType"), meta)

    def _start(self, request: Request, target: str, mime_type: str | None, meta: dict[str, Any]) -> Response:
        headers = request.headers
        if headers.get("x-goog-upload-protocol", "").lower() != "resumable":
            raise FilesError(400, "INVALID_ARGUMENT", "Only the resumable upload protocol is supported.")
        if headers.get("x-goog-upload-command", "").lower() != "start":
            raise FilesError(
                400, "INVALID_ARGUMENT", "A new upload must start with X-Goog-Upload-Command: start."
            )
        declared = headers.get("x-goog-upload-header-content-length") or meta.get("sizeBytes")
        size = int(declared) if str(declared or "").isdigit() else None
        if size is not None and size > _MAX_BYTES:
            raise FilesError(400, "INVALID_ARGUMENT", f"File size {size} exceeds the 2 GB limit.")
        mime = mime_type or headers.get("x-goog-upload-header-content-type")
        if not mime:
            raise FilesError(400, "INVALID_ARGUMENT", "The file's MIME type is required.")
        if target == "file" and meta.get("name"):  # a chosen name must be free before any byte is sent
            name = "files/" + str(meta["name"]).removeprefix("files/")
            if name in self.service.files:
                raise FilesError(409, "ALREADY_EXISTS", f"File {name} already exists.")
        upload_id = "ABgVH" + random_id(40)
        self.uploads[upload_id] = _Upload(target, size, mime, meta)
        base = str(request.base_url).rstrip("/")
        url = f"{base}{request.url.path}?upload_id={upload_id}&upload_protocol=resumable"
        return Response(
            b"",
            headers={
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-URL": url,
                "X-Goog-Upload-Control-URL": url,
                "X-Goog-Upload-Chunk-Granularity": _GRANULARITY,
            },
        )

    async def _chunk(self, request: Request) -> Response:
        upload_id = request.query_params["upload_id"]
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise FilesError(404, "NOT_FOUND", "Upload session not found or already finished.")
        command = {c.strip().lower() for c in request.headers.get("x-goog-upload-command", "").split(",")}
        received = str(len(upload.data))
        if "cancel" in command:
            del self.uploads[upload_id]
            return Response(b"", headers={"X-Goog-Upload-Status": "cancelled"})
        if "query" in command:
            return Response(
                b"", headers={"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": received}
            )
        if not command & {"upload", "finalize"}:
            raise FilesError(400, "INVALID_ARGUMENT", "Unknown X-Goog-Upload-Command.")
        offset = request.headers.get("x-goog-upload-offset", received)
        if offset != received:
            raise FilesError(
                400,
                "INVALID_ARGUMENT",
                f"Upload offset {offset} does not match the {received} bytes received.",
            )
        upload.data += await request.body()
        if upload.size is not None and len(upload.data) > upload.size:
            del self.uploads[upload_id]
            raise FilesError(400, "INVALID_ARGUMENT", f"Received more than the {upload.size} bytes declared.")
        if "finalize" not in command:
            return Response(b"", headers={"X-Goog-Upload-Status": "active"})
        del self.uploads[upload_id]
        if upload.size is not None and len(upload.data) != upload.size:
            raise FilesError(
                400,
                "INVALID_ARGUMENT",
                f"Upload finalized with {len(upload.data)} of the {upload.size} bytes declared.",
            )
        headers = {"X-Goog-Upload-Status": "final"}
        data, meta = bytes(upload.data), upload.meta
        if upload.target == "file":
            stored = self.service.add_file(data, upload.mime_type, meta.get("displayName"), meta.get("name"))
            return JSONResponse({"file": stored.resource(str(request.base_url))}, headers=headers)
        operation = self.service.add_document(
            upload.target,
            data,
            upload.mime_type,
            meta.get("displayName"),
            meta.get("customMetadata"),
            meta.get("chunkingConfig"),
            "UploadToFileSearchStore",
        )
        return JSONResponse(operation.resource(), headers=headers)

    # -- files --------------------------------------------------------------------------------------------

    async def list_files(self, request: Request) -> Response:
        base = str(request.base_url)
        files = [f.resource(base) for f in sorted(self.service.files.values(), key=lambda f: -f.created)]
        return page(request, "files", files, default=10, most=100)

    async def get_file(self, request: Request) -> Response:
        return JSONResponse(self.service.file(request.path_params["id"]).resource(str(request.base_url)))

    async def delete_file(self, request: Request) -> Response:
        self.service.delete_file(request.path_params["id"])
        return JSONResponse({})

    # -- stores -------------------------------------------------------------------------------------------

    async def create_store(self, request: Request) -> Response:
        body = await _json_body(request)
        unknown = set(body) - {"displayName", "embeddingModel"}
        if unknown:
            raise FilesError(
                400,
                "INVALID_ARGUMENT",
                f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}".',
            )
        display = body.get("displayName")
        if display is not None and (not isinstance(display, str) or len(display) > 512):
            raise FilesError(
                400, "INVALID_ARGUMENT", "display_name must be a string of at most 512 characters."
            )
        store = self.service.create_store(display, body.get("embeddingModel"))
        return JSONResponse(store.resource())

    async def list_stores(self, request: Request) -> Response:
        stores = [s.resource() for s in sorted(self.service.stores.values(), key=lambda s: -s.created)]
        return page(request, "fileSearchStores", stores, default=10, most=20)

    async def get_store(self, request: Request) -> Response:
        return JSONResponse(self.service.store(_store_name(request)).resource())

    async def delete_store(self, request: Request) -> Response:
        force = request.query_params.get("force", "false").lower() == "true"
        self.service.delete_store(_store_name(request), force)
        return JSONResponse({})

    async def import_file(self, request: Request) -> Response:
        name = _store_name(request)
        self.service.store(name)
        body = await _json_body(request)
        _check_document_options(body)
        if not body.get("fileName"):
            raise FilesError(400, "INVALID_ARGUMENT", "file_name is required.")
        stored = self.service.file(str(body["fileName"]))
        operation = self.service.add_document(
            name,
            stored.data,
            stored.mime_type,
            stored.display_name or stored.name.removeprefix("files/"),
            body.get("customMetadata"),
            body.get("chunkingConfig"),
            "ImportFile",
        )
        return JSONResponse(operation.resource())

    async def get_operation(self, request: Request) -> Response:
        path = request.url.path.split("/", 2)[2]  # drop the API version
        return JSONResponse(self.service.operation(path).resource())

    async def list_documents(self, request: Request) -> Response:
        store = self.service.store(_store_name(request))
        docs = [d.resource() for d in sorted(store.documents.values(), key=lambda d: -d.created)]
        return page(request, "documents", docs, default=10, most=20)

    async def get_document(self, request: Request) -> Response:
        return JSONResponse(self.service.document(_document_name(request))[1].resource())

    async def delete_document(self, request: Request) -> Response:
        store, document = self.service.document(_document_name(request))
        del store.documents[document.name]
        return JSONResponse({})


def check_key(request: Request, settings: KeySettings) -> None:
    """The API key rules of the Interactions routes (``app._authorize``), with the classic error body."""
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if settings.require_key and not key:
        raise FilesError(
            401,
            "UNAUTHENTICATED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    if settings.api_keys and key and key not in settings.api_keys:
        raise FilesError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")


def _store_name(request: Request) -> str:
    return f"fileSearchStores/{request.path_params['store']}"


def _document_name(request: Request) -> str:
    return f"{_store_name(request)}/documents/{request.path_params['doc']}"


def _check_document_options(body: dict[str, Any]) -> None:
    """Refuse bad metadata or chunking before any byte is uploaded, as the service does."""
    check_metadata(body.get("customMetadata") or [])
    try:
        filetext.chunking_limits(body.get("chunkingConfig"))
    except filetext.ChunkingError as exc:
        raise FilesError(400, "INVALID_ARGUMENT", str(exc)) from None


def camel(value: Any) -> Any:
    """Keys in lowerCamelCase: the service's JSON parser accepts proto field names too (google-genai sends
    ``display_name`` inside ``file``), so requests are read in one spelling."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise FilesError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise FilesError(400, "INVALID_ARGUMENT", "Invalid JSON payload received: expected an object.")
    return camel(body)


def page(request: Request, key: str, items: list[dict[str, Any]], default: int, most: int) -> Response:
    """One page of a list reply; ``pageToken`` is opaque to clients (here: the offset)."""
    query = request.query_params
    size = int(query["pageSize"]) if query.get("pageSize", "").isdigit() else default
    size = min(max(size, 1), most) if size else default
    token = query.get("pageToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise FilesError(400, "INVALID_ARGUMENT", "Invalid page token.") from None
    body: dict[str, Any] = {}
    if items[start : start + size]:
        body[key] = items[start : start + size]
    if start + size < len(items):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return JSONResponse(body)


def routes(service: FileService, settings: KeySettings) -> list[Route]:
    """The Files and file search stores routes over ``service``."""
    return FileRoutes(service, settings).routes()
