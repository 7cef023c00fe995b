"""The Files API, file search stores and the ``file_search`` tool, driven by the real google-genai SDK.

Uploads go through the SDK's resumable protocol (``X-Goog-Upload-*``), stores are filled by
``upload_to_file_search_store`` and ``import_file`` with their operations polled by
``client.operations.get``, and ``interactions.create`` with a ``file_search`` tool retrieves the chunks
of those files (streamed and not). Raw httpx only where the SDK hides the wire (multi-chunk uploads,
error bodies).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_testing import sdk_client
from google.genai import _interactions as ierr
from google.genai import errors, types

from gemini_magics.emulator import EmulatorServer, Settings

MODEL = "gemini-3-flash-preview"

BOILER = (
    "Boiler manual\n\nThe boiler pressure should stay between 1.2 and 1.8 bar when the heating is cold.\n\n"
    "To reset the boiler, hold the red reset button for ten seconds until the display flashes."
)
GARDEN = "Garden notes\n\nWater the tomatoes every morning in July; the basil prefers afternoon shade."


def pdf_with(text: str) -> bytes:
    """A minimal one-page PDF whose Flate-compressed content stream shows ``text``."""
    content = zlib.compress(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    body = b"%PDF-1.4\n" + b"".join(b"%d 0 obj\n%s\nendobj\n" % (i, o) for i, o in enumerate(objects, 1))
    return body + b"trailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """An emulator of this module's own, so that listings hold only what these tests made."""
    with EmulatorServer(Settings()) as running:
        yield running


@pytest.fixture
def sdk(server: EmulatorServer) -> Any:
    return sdk_client(server.base_url)


def wait(sdk: Any, operation: Any) -> Any:
    for _ in range(100):
        if operation.done:
            return operation
        time.sleep(0.05)
        operation = sdk.operations.get(operation)
    raise AssertionError(f"operation {operation.name} never finished")


def store_with(sdk: Any, files: dict[str, tuple[bytes, str]], **config: Any) -> str:
    """A new store holding ``files`` (display name → (bytes, MIME type)), indexed; its name."""
    store = sdk.file_search_stores.create(config={"display_name": "test store"})
    for display, (data, mime) in files.items():
        operation = sdk.file_search_stores.upload_to_file_search_store(
            file_search_store_name=store.name,
            file=io.BytesIO(data),
            config={"mime_type": mime, "display_name": display, **config},
        )
        wait(sdk, operation)
    return str(store.name)


def ask(sdk: Any, store: str, question: str, **tool: Any) -> Any:
    spec = {"type": "file_search", "file_search_store_names": [store], **tool}
    return sdk.interactions.create(model=MODEL, input=question, tools=[spec])


# -- Files API ---------------------------------------------------------------------------------------------


def test_upload_a_path_and_a_stream(sdk: Any, tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nThe keeper logs the tide at dawn.\n", encoding="utf-8")
    by_path = sdk.files.upload(file=path)
    data = b"\x89PNG not really an image"
    by_stream = sdk.files.upload(
        file=io.BytesIO(data), config={"mime_type": "image/png", "display_name": "Pic"}
    )

    assert by_path.name.startswith("files/") and by_path.name != by_stream.name
    assert by_path.mime_type == "text/markdown" and by_path.size_bytes == path.stat().st_size
    assert by_stream.mime_type == "image/png" and by_stream.size_bytes == len(data)
    assert by_stream.display_name == "Pic" and by_path.display_name is None
    for file in (by_path, by_stream):
        assert file.state == types.FileState.ACTIVE and file.source == types.FileSource.UPLOADED
        assert file.uri and file.uri.endswith(f"/v1beta/{file.name}")
        assert isinstance(file.create_time, datetime) and file.expiration_time is not None
        assert file.expiration_time - file.create_time == timedelta(hours=48)
        assert abs(file.create_time - datetime.now(UTC)) < timedelta(minutes=1)
    expected = base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
    assert by_stream.sha256_hash == expected


def test_get_list_and_delete(sdk: Any) -> None:
    made = [
        sdk.files.upload(file=io.BytesIO(f"file {i}".encode()), config={"mime_type": "text/plain"})
        for i in range(3)
    ]
    got = sdk.files.get(name=made[0].name)
    assert got.name == made[0].name and got.size_bytes == 6
    assert sdk.files.get(name=made[0].name.removeprefix("files/")).name == made[0].name
    listed = [f.name for f in sdk.files.list(config={"page_size": 2})]  # several pages
    assert {f.name for f in made} <= set(listed) and len(listed) == len(set(listed))

    sdk.files.delete(name=made[1].name)
    with pytest.raises(errors.ClientError) as missing:
        sdk.files.get(name=made[1].name)
    assert missing.value.code == 403 and missing.value.status == "PERMISSION_DENIED"
    assert made[1].name.removeprefix("files/") in str(missing.value.message)
    assert made[1].name not in [f.name for f in sdk.files.list()]


def test_a_chosen_file_name_is_kept_and_unique(sdk: Any) -> None:
    file = sdk.files.upload(file=io.BytesIO(b"x"), config={"mime_type": "text/plain", "name": "my-file-1"})
    assert file.name == "files/my-file-1"
    with pytest.raises(errors.ClientError) as taken:
        sdk.files.upload(file=io.BytesIO(b"y"), config={"mime_type": "text/plain", "name": "my-file-1"})
    assert taken.value.code == 409 and taken.value.status == "ALREADY_EXISTS"


def test_resumable_upload_in_several_chunks(server: EmulatorServer) -> None:
    """The SDK's protocol in pieces: start, chunks at offsets, a query, finalize; bad offsets fail."""
    base, key = server.base_url, {"x-goog-api-key": "k"}
    start = httpx.post(
        f"{base}/upload/v1beta/files",
        json={"file": {"display_name": "parts.txt"}},
        headers={
            **key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "10",
            "X-Goog-Upload-Header-Content-Type": "text/plain",
        },
    )
    assert start.status_code == 200 and start.headers["x-goog-upload-status"] == "active"
    url = start.headers["x-goog-upload-url"]
    assert url.startswith(f"{base}/upload/v1beta/files?upload_id=")
    first = httpx.post(
        url, content=b"01234", headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
    )
    assert first.headers["x-goog-upload-status"] == "active"
    query = httpx.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "5"
    wrong = httpx.post(
        url, content=b"56789", headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "3"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["status"] == "INVALID_ARGUMENT"
    last = httpx.post(
        url,
        content=b"56789",
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "5"},
    )
    assert last.headers["x-goog-upload-status"] == "final"
    file = last.json()["file"]
    assert file["displayName"] == "parts.txt" and file["sizeBytes"] == "10" and file["state"] == "ACTIVE"
    gone = httpx.post(url, content=b"", headers={"X-Goog-Upload-Command": "upload, finalize"})
    assert gone.status_code == 404


def test_errors_keep_the_classic_google_shape(make_emulator: Any) -> None:
    server = make_emulator(api_keys=frozenset({"good"}))
    bad_key = httpx.get(f"{server.base_url}/v1beta/files", headers={"x-goog-api-key": "bad"})
    assert bad_key.status_code == 400
    assert bad_key.json() == {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
        }
    }
    missing = httpx.get(f"{server.base_url}/v1beta/fileSearchStores/nope", headers={"x-goog-api-key": "good"})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": 404,
        "message": "FileSearchStore fileSearchStores/nope not found.",
        "status": "NOT_FOUND",
    }


# -- file search stores ------------------------------------------------------------------------------------


def test_store_create_list_get_delete(sdk: Any) -> None:
    store = sdk.file_search_stores.create(config={"display_name": "Product Manuals"})
    assert store.name.startswith("fileSearchStores/product-manuals-")
    assert store.display_name == "Product Manuals" and isinstance(store.create_time, datetime)
    assert store.active_documents_count is None  # an empty store (the service omits zero counts)
    assert store.name in [s.name for s in sdk.file_search_stores.list(config={"page_size": 1})]
    assert sdk.file_search_stores.get(name=store.name).display_name == "Product Manuals"

    operation = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store.name, file=io.BytesIO(b"content"), config={"mime_type": "text/plain"}
    )
    wait(sdk, operation)
    with pytest.raises(errors.ClientError) as not_empty:
        sdk.file_search_stores.delete(name=store.name)
    assert not_empty.value.code == 400 and not_empty.value.status == "FAILED_PRECONDITION"
    sdk.file_search_stores.delete(name=store.name, config={"force": True})
    with pytest.raises(errors.ClientError) as gone:
        sdk.file_search_stores.get(name=store.name)
    assert gone.value.code == 404 and store.name in str(gone.value.message)
    assert store.name not in [s.name for s in sdk.file_search_stores.list()]


def test_upload_and_import_into_a_store_with_operations(sdk: Any) -> None:
    store = sdk.file_search_stores.create(config={"display_name": "ops"})
    uploaded = sdk.file_search_stores.upload_to_file_search_store(
        file_search_store_name=store.name,
        file=io.BytesIO(BOILER.encode()),
        config={
            "mime_type": "text/plain",
            "display_name": "boiler.txt",
            "custom_metadata": [
                {"key": "kind", "string_value": "manual"},
                {"key": "year", "numeric_value": 2024},
            ],
        },
    )
    assert isinstance(uploaded, types.UploadToFileSearchStoreOperation)
    assert uploaded.name.startswith(f"{store.name}/upload/operations/") and not uploaded.done
    file = sdk.files.upload(file=io.BytesIO(GARDEN.encode()), config={"mime_type": "text/plain"})
    imported = sdk.file_search_stores.import_file(file_search_store_name=store.name, file_name=file.name)
    assert isinstance(imported, types.ImportFileOperation)
    assert imported.name.startswith(f"{store.name}/operations/") and not imported.done
    pending = sdk.file_search_stores.get(name=store.name)
    assert pending.pending_documents_count == 2 and pending.active_documents_count is None

    uploaded, imported = wait(sdk, uploaded), wait(sdk, imported)
    assert uploaded.response.parent == store.name and imported.response.parent == store.name
    documents = {d.name: d for d in sdk.file_search_stores.documents.list(parent=store.name)}
    assert set(documents) == {uploaded.response.document_name, imported.response.document_name}
    boiler = documents[uploaded.response.document_name]
    assert boiler.display_name == "boiler.txt" and boiler.state == types.DocumentState.STATE_ACTIVE
    assert boiler.size_bytes == len(BOILER.encode()) and boiler.mime_type == "text/plain"
    assert {m.key: m.string_value or m.numeric_value for m in boiler.custom_metadata} == {
        "kind": "manual",
        "year": 2024,
    }
    assert documents[imported.response.document_name].display_name == file.name.removeprefix("files/")
    ready = sdk.file_search_stores.get(name=store.name)
    assert ready.active_documents_count == 2 and ready.size_bytes == len(BOILER) + len(GARDEN)

    sdk.file_search_stores.documents.delete(name=imported.response.document_name)
    assert [d.name for d in sdk.file_search_stores.documents.list(parent=store.name)] == [boiler.name]


def test_bad_chunking_or_metadata_is_refused_before_the_upload(sdk: Any) -> None:
    store = sdk.file_search_stores.create(config={"display_name": "strict"})
    chunking = {"white_space_config": {"max_tokens_per_chunk": 10, "max_overlap_tokens": 10}}
    with pytest.raises(errors.ClientError, match="max_overlap_tokens"):
        sdk.file_search_stores.upload_to_file_search_store(
            file_search_store_name=store.name,
            file=io.BytesIO(b"text"),
            config={"mime_type": "text/plain", "chunking_config": chunking},
        )
    with pytest.raises(errors.ClientError, match="custom_metadata"):
        sdk.file_search_stores.import_file(
            file_search_store_name=store.name,
            file_name="files/whatever",
            config={"custom_metadata": [{"key": "k"}]},
        )
    assert sdk.file_search_stores.get(name=store.name).pending_documents_count is None


# -- the file_search tool ----------------------------------------------------------------------------------


def text_of(interaction: Any) -> tuple[str, list[Any]]:
    (output,) = [s for s in interaction.steps if s.type == "model_output"]
    (block,) = output.content
    return block.text, list(block.annotations or [])


def test_file_search_finds_the_right_file_and_cites_it(sdk: Any) -> None:
    store = store_with(
        sdk, {"boiler.txt": (BOILER.encode(), "text/plain"), "garden.md": (GARDEN.encode(), "text/markdown")}
    )
    interaction = ask(sdk, store, "How do I reset the boiler?")
    kinds = [s.type for s in interaction.steps]
    assert kinds[kinds.index("file_search_call") + 1] == "file_search_result" and kinds[-1] == "model_output"
    call = interaction.steps[kinds.index("file_search_call")]
    result = interaction.steps[kinds.index("file_search_result")]
    assert result.call_id == call.id and call.signature and result.signature
    text, annotations = text_of(interaction)
    assert "hold the red reset button for ten seconds" in text
    assert annotations and all(a.type == "file_citation" for a in annotations)
    first = annotations[0]
    assert first.file_name == "boiler.txt" and first.source == store
    assert first.document_uri.startswith(f"{store}/documents/boiler-txt-")
    cited = text.encode("utf-8")[first.start_index : first.end_index].decode("utf-8")  # UTF-8 byte offsets
    assert "red reset button" in cited
    assert "tomatoes" not in text  # nothing about the boiler in the garden notes

    garden = ask(sdk, store, "When should the tomatoes be watered?")
    assert text_of(garden)[1][0].file_name == "garden.md"
    nothing = ask(sdk, store, "Quantum chromodynamics lattice")
    assert "found nothing" in text_of(nothing)[0] and not text_of(nothing)[1]


def test_file_search_streams_like_the_service(sdk: Any) -> None:
    store = store_with(
        sdk, {"boiler.txt": (BOILER.encode(), "text/plain"), "garden.md": (GARDEN.encode(), "text/markdown")}
    )
    spec = {"type": "file_search", "file_search_store_names": [store]}
    events = list(
        sdk.interactions.create(
            model=MODEL, input="What pressure should the boiler have?", tools=[spec], stream=True
        )
    )
    starts = {e.step.type: e for e in events if e.event_type == "step.start"}
    deltas = {e.delta.type: e.delta for e in events if e.event_type == "step.delta"}
    call = starts["file_search_call"].step
    assert call.model_dump(exclude_none=True) == {"id": call.id, "signature": "", "type": "file_search_call"}
    result_start = starts["file_search_result"].step
    assert result_start.model_dump(exclude_none=True) == {
        "call_id": call.id,
        "signature": "",
        "type": "file_search_result",
    }
    assert deltas["file_search_call"].signature
    chunks = [item.model_dump() for item in deltas["file_search_result"].result]
    assert chunks[0]["title"] == "boiler.txt" and chunks[0]["file_search_store"] == store
    assert "1.2 and 1.8 bar" in chunks[0]["text"]
    text = "".join(d.text for e in events if e.event_type == "step.delta" and (d := e.delta).type == "text")
    annotations = deltas["text_annotation_delta"].annotations
    assert annotations[0].type == "file_citation" and annotations[0].file_name == "boiler.txt"
    assert "1.2 and 1.8 bar" in text.encode()[annotations[0].start_index : annotations[0].end_index].decode()


def test_top_k_and_metadata_filter(sdk: Any) -> None:
    store = sdk.file_search_stores.create(config={"display_name": "filtered"})
    for lang, text in (
        ("en", "The ferry to the island leaves at noon."),
        ("de", "Die Fähre zur Insel: ferry at noon."),
    ):
        wait(
            sdk,
            sdk.file_search_stores.upload_to_file_search_store(
                file_search_store_name=store.name,
                file=io.BytesIO(text.encode()),
                config={
                    "mime_type": "text/plain",
                    "display_name": f"ferry-{lang}.txt",
                    "custom_metadata": [
                        {"key": "lang", "string_value": lang},
                        {"key": "year", "numeric_value": 2020},
                    ],
                },
            ),
        )
    both = {a.file_name for a in text_of(ask(sdk, store.name, "When does the ferry leave?"))[1]}
    assert both == {"ferry-en.txt", "ferry-de.txt"}
    (only,) = text_of(ask(sdk, store.name, "When does the ferry leave?", top_k=1))[1]
    assert only.file_name in both
    german = text_of(ask(sdk, store.name, "ferry", metadata_filter='lang = "de" AND year >= 2020'))[1]
    assert [a.file_name for a in german] == ["ferry-de.txt"] and german[0].custom_metadata == {
        "lang": "de",
        "year": 2020,
    }
    none = text_of(ask(sdk, store.name, "ferry", metadata_filter='year > 2021 OR lang = "fr"'))
    assert not none[1]
    with pytest.raises(ierr.BadRequestError, match="metadata_filter"):
        ask(sdk, store.name, "ferry", metadata_filter="lang = ")


@pytest.mark.parametrize(
    ("name", "data", "mime", "question", "needle"),
    [
        (
            "tide.pdf",
            pdf_with("The lighthouse keeper logs the tide at dawn."),
            "application/pdf",
            "When is the tide logged?",
            "tide at dawn",
        ),
        (
            "page.html",
            b"<html><head><script>var tide = 1;</script></head><body><h1>Harbour</h1>"
            b"<p>Boats moor at the <b>east</b> quay overnight.</p></body></html>",
            "text/html",
            "Where do boats moor?",
            "east quay",
        ),
        (
            "prices.csv",
            b"item,price\nlantern,12 euros\nrope,3 euros\n",
            "text/csv",
            "What does the lantern cost?",
            "price: 12 euros",
        ),
        (
            "config.json",
            json.dumps({"harbour": {"opening_hours": "six to ten"}}).encode(),
            "application/json",
            "harbour opening hours",
            "six to ten",
        ),
        (
            "tool.py",
            b"def knot_strength(rope):\n    '''Strength of a bowline knot.'''\n    return rope * 0.7\n",
            "text/x-python",
            "bowline knot strength",
            "bowline",
        ),
    ],
)
def test_text_comes_out_of_each_kind_of_file(
    sdk: Any, name: str, data: bytes, mime: str, question: str, needle: str
) -> None:
    store = store_with(sdk, {name: (data, mime), "other.txt": (GARDEN.encode(), "text/plain")})
    text, annotations = text_of(ask(sdk, store, question))
    assert annotations[0].file_name == name, text
    assert needle in text
    if name.endswith(".pdf"):
        assert annotations[0].page_number == 1
    if name.endswith(".html"):
        assert "var tide" not in text


def test_white_space_chunking_cuts_windows(sdk: Any) -> None:
    words = " ".join(f"w{i}" for i in range(40)) + " anchorword"
    chunking = {"white_space_config": {"max_tokens_per_chunk": 10, "max_overlap_tokens": 2}}
    store = store_with(sdk, {"long.txt": (words.encode(), "text/plain")}, chunking_config=chunking)
    spec = {"type": "file_search", "file_search_store_names": [store]}
    events = sdk.interactions.create(model=MODEL, input="anchorword", tools=[spec], stream=True)
    (delta,) = [
        e.delta for e in events if e.event_type == "step.delta" and e.delta.type == "file_search_result"
    ]
    (chunk,) = [item.model_dump() for item in delta.result]
    assert chunk["text"].split() == [f"w{i}" for i in range(32, 40)] + ["anchorword"]


def test_unknown_or_malformed_stores_fail_clearly(sdk: Any) -> None:
    with pytest.raises(ierr.NotFoundError) as missing:
        ask(sdk, "fileSearchStores/no-such-store", "Anything?")
    assert missing.value.status_code == 404
    assert "fileSearchStores/no-such-store" in str(missing.value) and "not_found" in str(missing.value)
    with pytest.raises(ierr.BadRequestError, match="fileSearchStores/"):
        ask(sdk, "manuals", "Anything?")


def test_steps_can_be_sent_back_as_input(sdk: Any) -> None:
    """A stateless client re-sends the steps it got: they must pass the service's own strictness."""
    store = store_with(sdk, {"boiler.txt": (BOILER.encode(), "text/plain")})
    first = ask(sdk, store, "How do I reset the boiler?")
    replay = [{"type": "user_input", "content": [{"type": "text", "text": "How do I reset the boiler?"}]}]
    replay += [s.model_dump(mode="json", exclude_none=True) for s in first.steps]
    replay.append({"type": "user_input", "content": [{"type": "text", "text": "And the pressure?"}]})
    spec = {"type": "file_search", "file_search_store_names": [store]}
    second = sdk.interactions.create(model=MODEL, input=replay, tools=[spec], store=False)
    assert second.status == "completed" and "1.2 and 1.8 bar" in text_of(second)[0]
