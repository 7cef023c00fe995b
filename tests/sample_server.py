"""A tiny HTTP server that answers with the recorded real exchanges in tests/real_samples/.

It plays the real service back to clients (google-genai 3.6.1 and 1.55, the magics): a create whose input
names a recording (``"sample:NAME"`` or ``"sample:NAME#part"``) gets that recording — as SSE when it is a
stream (the raw text as sent when the file has it, else the parsed events re-encoded), as JSON otherwise;
``GET /{v}/interactions/ID`` answers with the recording registered for that id. Nothing here is the
emulator: it only repeats what the service said.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "real_samples"


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def sample_names() -> list[str]:
    return sorted(p.stem for p in SAMPLES.glob("*.json"))


def part(name: str) -> Any:
    """``NAME`` → the file's ``sample``; ``NAME#key`` → ``sample[key]``; ``NAME#raw`` → the raw SSE text."""
    base, _, key = name.partition("#")
    data = load(base)
    if key == "raw":
        return data["raw"]
    sample = data["sample"]
    return sample[key] if key else sample


def sse_text(events: list[dict[str, Any]]) -> str:
    """Parsed events (``{"event", "data"}``) back into SSE frames, ``data: [DONE]`` kept as sent."""
    frames = []
    for event in events:
        if "event" not in event:  # a bare event dict (the pre-GA reference lists them so): data only
            frames.append(f"data: {json.dumps(event)}\n\n")
            continue
        data = event["data"] if isinstance(event["data"], str) else json.dumps(event["data"])
        frames.append(f"event: {event['event']}\ndata: {data}\n\n")
    return "".join(frames)


def is_stream(value: Any) -> bool:
    """Raw SSE text, a list of recorded events, or one recorded event (``{"event", "data"}``)."""
    if isinstance(value, dict):
        return set(value) == {"event", "data"}
    return isinstance(value, str) or (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and ("event" in value[0] or "event_type" in value[0])
    )


class SampleServer:
    """``with SampleServer() as server: server.base_url``; ``server.by_id[ID] = "NAME#key"`` for gets
    (``by_id["ID#stream"]`` for streamed gets only: a plain get of that ID is then a 404)."""

    def __init__(self) -> None:
        self.by_id: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.headers: list[dict[str, str]] = []  # each request's headers, in the order of ``requests``
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(("POST", self.path, body))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if not self.path.split("?")[0].endswith("/interactions"):  # no other API here (no Files API)
                    self._json(404, {"error": {"message": f"Not found: {self.path}", "code": "not_found"}})
                    return
                # A cell's body ends in a newline: the recording's name is the input without it.
                text = body.get("input").strip() if isinstance(body.get("input"), str) else ""
                if not text.startswith("sample:"):
                    self._json(
                        400, {"error": {"message": "input must name a sample", "code": "invalid_request"}}
                    )
                    return
                self._answer(part(text.removeprefix("sample:")))

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, None))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                interaction_id = self.path.split("?")[0].rsplit("/", 1)[-1]
                streamed = "stream=true" in self.path  # ``by_id["ID#stream"]`` answers those only
                name = server.by_id.get(f"{interaction_id}#stream") if streamed else None
                name = name or server.by_id.get(interaction_id)
                if name is None:
                    self._json(404, {"error": {"message": "Result not found.", "code": "not_found"}})
                    return
                self._answer(part(name))

            def _answer(self, value: Any) -> None:
                if is_stream(value):
                    events = [value] if isinstance(value, dict) else value
                    text = value if isinstance(value, str) else sse_text(events)
                    self._send(200, "text/event-stream", text.encode())
                else:
                    self._json(200, value)

            def _json(self, status: int, value: Any) -> None:
                self._send(status, "application/json", json.dumps(value).encode())

            def _send(self, status: int, kind: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> SampleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
