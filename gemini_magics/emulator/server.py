"""Run the emulator in a background thread of the current process (for the magics and the tests)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import urllib.request
from types import TracebackType

import uvicorn

from .app import Emulator, Settings


class EmulatorServer:
    """An emulator on a loopback port, served by uvicorn in a daemon thread.

    ``start()`` returns the base URL to hand to ``genai.Client(http_options=HttpOptions(base_url=...))``;
    ``stop()`` shuts it down and waits for the thread.
    """

    def __init__(self, settings: Settings | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = Emulator(settings)
        self.host, self.port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.emulator.app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="gemini-emulator", daemon=True
        )
        self._thread.start()
        ready = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                ready.set()
                break
            ready.wait(0.01)
        if not self._server.started:
            raise RuntimeError(f"the emulator did not start on {self.base_url}")
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def expire(self, interaction_id: str | None = None) -> int:
        """Expire one stored interaction (or all) now, through the emulator's admin route."""
        query = "?" + urllib.parse.urlencode({"id": interaction_id}) if interaction_id else ""
        request = urllib.request.Request(f"{self.base_url}/emulator/expire{query}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(json.load(reply)["expired"])

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(settings: Settings | None = None, port: int = 0) -> EmulatorServer:
    """Start an emulator on a free loopback port; call ``.stop()`` (or use ``with``) when done."""
    server = EmulatorServer(settings, port=port)
    server.start()
    return server
