"""Images and files in, images out, through real ``%%gemini`` cells against the emulator.

The emulator's fake model says what it received ("I see 1 image (64×48 PNG)"), so these tests prove that
the bytes arrived, decoded, with the right MIME type. The Files API path is driven with the real SDK
against a test server: the emulator's routes plus the two upload routes the SDK's resumable upload uses.
"""

from __future__ import annotations

import base64
import copy
import functools
import http.server
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sample_server import SampleServer
from shell_checks import failed, ok
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from traitlets.config import Config

from gemini_magics import media
from gemini_magics.backend import Backend, BackendError
from gemini_magics.chain import ChainStore
from gemini_magics.emulator import EmulatorServer, Settings
from gemini_magics.turn import Result

IMAGE_MODEL = "gemini-3.1-flash-image-preview"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# -- helpers --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_config(shell: Any) -> Iterator[None]:
    saved = Config(copy.deepcopy(shell.config.get("GeminiMagics", {})))
    yield
    shell.config["GeminiMagics"] = saved


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def png(width: int, height: int, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def noise(width: int, height: int) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a PNG, a text file and a PDF (relative paths in cells resolve here)."""
    (tmp_path / "chart.png").write_bytes(png(64, 48))
    (tmp_path / "notes.txt").write_text("Revenue grew 12% in March.\n")
    (tmp_path / "report.pdf").write_bytes(PDF)
    (tmp_path / "big.png").write_bytes(noise(100, 100))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sent_input(emulator: EmulatorServer, result: Result) -> list[dict[str, Any]]:
    """The content blocks of the prompt as the service received them (the SDK wraps them in a step)."""
    record = emulator.emulator.store.get(result.id)
    assert record is not None
    return content_of(record.request["input"])


def content_of(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list) and len(value) == 1 and value[0].get("type") == "user_input":
        return value[0]["content"]
    return value


def turns(kernel: Any) -> int:
    with ChainStore(kernel.db) as store:
        return len(store.chain(kernel.notebook, store.active_name(kernel.notebook)).turns())


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A local web server for ``--image URL``: serves ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "photo.jpg").write_bytes(jpeg(32, 16))
    (root / "image").write_bytes(png(10, 20))  # no extension: the bytes tell
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


# -- inputs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_image_from_a_path_reaches_the_model(
    kernel: Any, emulator: EmulatorServer, files: Path, stream: str
) -> None:
    result = ok(kernel.run(f"%%gemini {stream} --image chart.png\nWhat does this chart show?"))
    assert result.text.startswith("I see 1 image (64×48 PNG).")
    image, text = sent_input(emulator, result)
    assert image == {
        "type": "image",
        "mime_type": "image/png",
        "data": base64.b64encode(png(64, 48)).decode(),
    }
    assert text == {"type": "text", "text": "What does this chart show?\n"}


def test_images_from_variables_pil_and_bytes(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.shell.user_ns["pic"] = Image.new("L", (30, 20))
    kernel.shell.user_ns["raw"] = jpeg(12, 8)
    kernel.shell.user_ns["where"] = Path("nowhere.png")
    result = ok(kernel.run("%%gemini --image pic --image raw\nCompare them"))
    assert result.text.startswith("I see 2 images (30×20 PNG, 12×8 JPEG).")
    assert [p.get("mime_type") for p in sent_input(emulator, result)] == ["image/png", "image/jpeg", None]


def test_interpolated_pil_image_is_an_image_part(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.shell.user_ns["img"] = Image.new("RGB", (20, 10), "white")
    result = ok(kernel.run("%%gemini\nDescribe {img} briefly"))
    assert result.text.startswith("I see 1 image (20×10 PNG).")
    kinds = [p["type"] for p in sent_input(emulator, result)]
    assert kinds == ["text", "image", "text"]


def test_the_model_names_the_main_colours_of_an_image(kernel: Any) -> None:
    from PIL import ImageDraw

    chart = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(chart).rectangle([10, 20, 60, 80], fill="steelblue")
    sketch = Image.new("RGB", (40, 40), "seagreen")
    ImageDraw.Draw(sketch).ellipse([0, 0, 39, 39], fill="orange")
    kernel.shell.user_ns.update(chart=chart, sketch=sketch)
    one = ok(kernel.run("%%gemini --image chart\nWhat is this?"))
    assert one.text.startswith("I see 1 image (120×80 PNG). Its main colours: white, steel blue.\n")
    two = ok(kernel.run("%%gemini\nCompare {chart} with {sketch}"))
    assert two.text.startswith(
        "I see 2 images (120×80 PNG, 40×40 PNG). Main colours — image 1: white, steel blue; "
        "image 2: orange, sea green.\n"
    )


def test_files_are_documents(kernel: Any, emulator: EmulatorServer, files: Path) -> None:
    result = ok(kernel.run("%%gemini --file notes.txt --file report.pdf --image chart.png\nSummarise"))
    notes = len("Revenue grew 12% in March.\n")
    assert result.text.startswith(
        f"I see 1 image (64×48 PNG) and 2 documents (text/plain, {notes} bytes, "
        f"application/pdf, {len(PDF)} bytes)."
    )
    types = [(p["type"], p.get("mime_type")) for p in sent_input(emulator, result)]
    assert types == [("image", "image/png"), ("document", "text/plain"), ("document", "application/pdf"),
                     ("text", None)]  # fmt: skip


def test_line_magic_takes_files(kernel: Any, files: Path) -> None:
    result = ok(kernel.run("%gemini --image chart.png -- What is this?"))
    assert result.text.startswith("I see 1 image (64×48 PNG).")


def test_image_from_a_url(kernel: Any, emulator: EmulatorServer, web: str) -> None:
    result = ok(kernel.run(f"%%gemini --image {web}/photo.jpg --image {web}/image\nWhat are these?"))
    assert result.text.startswith("I see 2 images (32×16 JPEG, 10×20 PNG).")


def test_missing_file_is_one_line_and_records_nothing(
    kernel: Any, files: Path, web: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failed(
        kernel.run("%%gemini --image nope.png\nHi"),
        capsys,
        "--image nope.png: no such file or notebook variable",
    )
    failed(
        kernel.run("%%gemini --file missing/report.pdf\nHi"),
        capsys,
        "--file missing/report.pdf: no such file",
    )
    failed(kernel.run("%%gemini --image notes.txt\nHi"), capsys, "is text/plain, not an image; use --file")
    failed(kernel.run(f"%%gemini --image {web}/gone.png\nHi"), capsys, "download failed (HTTP 404")
    failed(kernel.run("%%gemini --file .\nHi"), capsys, "is a folder")
    kernel.shell.user_ns["n"] = 42
    failed(kernel.run("%%gemini --image n\nHi"), capsys, "a int is not a file")
    kernel.shell.user_ns["blob"] = bytes(range(256)) * 4
    failed(kernel.run("%%gemini --file blob\nHi"), capsys, "cannot tell what kind of file")
    assert turns(kernel) == 0


def test_mime_sniffing() -> None:
    assert media.sniff(png(2, 2)) == "image/png"
    assert media.sniff(jpeg(2, 2)) == "image/jpeg"
    assert media.sniff(b"GIF89a....") == "image/gif"
    assert media.sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert media.sniff(b"RIFF\0\0\0\0WAVEfmt ") == "audio/wav"
    assert media.sniff(b"\0\0\0\x18ftypmp42") == "video/mp4"
    assert media.sniff(PDF) == "application/pdf"
    assert media.sniff(b"a,b\n1,2\n", "data.csv") == "text/csv"
    assert media.sniff(b"print(1)\n", "script.py") == "text/plain"
    assert media.sniff(b"{}", "", "application/json") == "text/plain"
    assert media.sniff("héllo".encode()) == "text/plain"
    assert media.sniff(bytes(range(256))) is None


# -- the Files API -----------------------------------------------------------------------------------------


class FilesApi:
    """The Files API's resumable upload, as the SDK speaks it, in front of an emulator."""

    def __init__(self) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}
        self.server = EmulatorServer(Settings(agent_seconds=1.0))
        inner = self.server.emulator.app
        self.server.emulator.app = Starlette(
            routes=[
                Route("/upload/{version}/files", self.start, methods=["POST"]),
                Route("/upload/session/{sid}", self.finish, methods=["POST"]),
                Mount("/", app=inner),
            ]
        )

    async def start(self, request: Request) -> Response:
        body = json.loads(await request.body())
        sid = f"s{len(self.uploads)}"
        self.uploads[sid] = {
            "file": body.get("file", {}),
            "data": b"",
            "protocol": request.headers.get("x-goog-upload-protocol"),
            "content_type": request.headers.get("x-goog-upload-header-content-type"),
        }
        url = f"http://{request.url.netloc}/upload/session/{sid}"
        return JSONResponse({}, headers={"x-goog-upload-url": url})

    async def finish(self, request: Request) -> Response:
        upload = self.uploads[request.path_params["sid"]]
        upload["data"] += await request.body()
        name = f"files/{request.path_params['sid']}"
        info = {
            "name": name,
            "uri": f"https://generativelanguage.example/v1beta/{name}",
            "mimeType": upload["content_type"],
            "sizeBytes": str(len(upload["data"])),
            "state": "ACTIVE",
        }
        return JSONResponse({"file": info}, headers={"x-goog-upload-status": "final"})


@pytest.fixture
def files_api() -> Iterator[FilesApi]:
    api = FilesApi()
    api.server.start()
    yield api
    api.server.stop()


def test_large_files_go_by_the_files_api(kernel: Any, files_api: FilesApi, files: Path) -> None:
    for line in (f"backend = {files_api.server.base_url!r}", "files_api = 'on'", "inline_limit = 5000"):
        kernel.run(f"%config GeminiMagics.{line}")
    result = ok(kernel.run("%%gemini --image big.png --image chart.png\nCompare"))
    assert result.text.startswith("I see 2 images (image/png, by URI, 64×48 PNG).")
    (upload,) = files_api.uploads.values()
    assert upload["data"] == (files / "big.png").read_bytes()
    assert upload["file"]["mime_type"] == upload["content_type"] == "image/png"
    assert upload["protocol"] == "resumable" and upload["file"]["display_name"] == "big.png"
    record = files_api.server.emulator.store.get(result.id)
    assert record is not None
    big, small, _ = content_of(record.request["input"])
    assert big == {"type": "image", "uri": "https://generativelanguage.example/v1beta/files/s0",
                   "mime_type": "image/png"}  # fmt: skip
    assert small["data"]
    kernel.run("%config GeminiMagics.files_api = 'off'")
    ok(kernel.run("%%gemini --image big.png\nAgain"))
    assert len(files_api.uploads) == 1  # off: inline however large


def test_the_emulator_takes_everything_inline(kernel: Any, emulator: EmulatorServer, files: Path) -> None:
    """A URL backend (here the test emulator) gets files inline unless files_api = 'on'; the embedded
    emulator always does."""
    kernel.run("%config GeminiMagics.inline_limit = 10")
    result = ok(kernel.run("%%gemini --image big.png\nWhat is it?"))
    assert result.text.startswith("I see 1 image (100×100 PNG).")
    assert sent_input(emulator, result)[0]["data"]
    kernel.run("%config GeminiMagics.files_api = 'on'")
    kernel.run("%config GeminiMagics.backend = 'emulator'")
    result = ok(kernel.run("%%gemini --image big.png\nWhat is it?"))
    assert result.text.startswith("I see 1 image (100×100 PNG).")
    assert result.backend == "offline emulator"


def test_plan_uploads_the_largest_until_the_rest_fits() -> None:
    parts = [media.Media(b"x" * size, "image/png", str(size)) for size in (30, 100, 60)]
    assert media.plan(parts, "gemini", 100) == [False, True, False]
    assert media.plan(parts, "gemini", 10) == [True, True, True]
    assert media.plan(parts, "gemini", 1000) == [False, False, False]
    assert media.plan(parts, "emulator", 10, "on") == [False, False, False]
    assert media.plan(parts, "url", 10) == [False, False, False]
    assert media.plan(parts, "url", 10, "on") == [True, True, True]
    assert media.plan(parts, "gemini", 10, "off") == [False, False, False]


def test_upload_failure_is_one_line(no_files_api: str) -> None:
    """A service without the Files API → one line naming the file and the cause."""
    backend = Backend(no_files_api, retries=0)
    try:
        with pytest.raises(BackendError) as caught:
            media.upload(backend, media.Media(png(4, 4), "image/png", "--image big.png"))
    finally:
        backend.close()
    message = str(caught.value)
    assert message.startswith("--image big.png: Files API upload failed: the backend has no Files API")
    assert "\n" not in message and caught.value.status == 404


@pytest.fixture
def no_files_api() -> Iterator[str]:
    """A service that has the Interactions API but no Files API: the recorded-traffic server."""
    with SampleServer() as server:
        yield server.base_url


def test_upload_failure_fails_the_cell(
    kernel: Any, no_files_api: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(f"%config GeminiMagics.backend = '{no_files_api}'")
    kernel.run("%config GeminiMagics.files_api = 'on'")
    kernel.run("%config GeminiMagics.inline_limit = 10")
    failed(
        kernel.run("%%gemini --image big.png\nHi"), capsys, "--image big.png: Files API upload failed", "404"
    )
    assert turns(kernel) == 0


# -- image output --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["", "--no-stream"])
def test_image_model_gives_pil_images_and_saves_them(kernel: Any, tmp_path: Path, stream: str) -> None:
    out = tmp_path / "out"
    result = ok(kernel.run(f"%%gemini -m {IMAGE_MODEL} {stream} --save {out}\nA red fox in snow"))
    (image,) = result.images
    assert isinstance(image, Image.Image) and image.size == (256, 256)
    (data,) = result.image_bytes
    saved = out / f"{result.id}-1.png"
    assert saved.read_bytes() == data
    assert f"saved {saved}" in result.notes
    bundle, _ = result._repr_mimebundle_()
    assert bundle["image/png"] == data
    again = result.save(out)
    assert again == [saved]


def test_save_without_images_says_so(kernel: Any, tmp_path: Path) -> None:
    result = ok(kernel.run(f"%%gemini --save {tmp_path / 'none'}\nHello"))
    assert "--save: the answer has no images or audio" in result.notes
    assert not (tmp_path / "none").exists()


def test_image_model_sees_an_input_image(kernel: Any, emulator: EmulatorServer, files: Path) -> None:
    """Editing: an image model gets the picture and answers with a new one."""
    result = ok(kernel.run(f"%%gemini -m {IMAGE_MODEL} --image chart.png\nMake it blue"))
    assert len(result.images) == 1
    assert sent_input(emulator, result)[0]["mime_type"] == "image/png"
