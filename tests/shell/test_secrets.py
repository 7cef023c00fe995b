"""Key hygiene: a recognisable fake key, really sent to an emulator, never shows up anywhere a user keeps.

The key comes from ``GEMINI_API_KEY`` or from ``%gemini key`` (the hidden prompt is ``getpass``). Many
cells run, failing ones included; then every captured stdout/stderr, every displayed bundle, every
exception, the log records, the chain store's bytes and a notebook saved with nbformat are scanned.
"""

from __future__ import annotations

import base64
import logging
import socket
import traceback
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from gemini_magics.backend import Backend, BackendError
from gemini_magics.turn import run

FAKE = "AIzaFAKE-gm-test-0123456789abcdef"
FLASH = "gemini-3-flash-preview"


class Notebook:
    """Runs cells like a front end and keeps every output they produce, as nbformat cells."""

    def __init__(
        self, kernel: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.kernel, self.capfd = kernel, capfd
        self.cells: list[Any] = []
        self.errors: list[str] = []
        self._outputs: list[Any] = []
        shell = kernel.shell
        publish, write = shell.display_pub.publish, shell.displayhook.write_format_data

        def spy_publish(data: dict, metadata: dict | None = None, *args: Any, **kwargs: Any) -> None:
            self._outputs.append(v4.new_output("display_data", data=_jsonable(data), metadata=metadata or {}))
            publish(data, metadata, *args, **kwargs)

        def spy_write(format_dict: dict, md_dict: dict | None = None) -> None:
            self._outputs.append(
                v4.new_output(
                    "execute_result",
                    data=_jsonable(format_dict),
                    metadata=md_dict or {},
                    execution_count=len(self.cells) + 1,
                )
            )
            write(format_dict, md_dict)

        monkeypatch.setattr(shell.display_pub, "publish", spy_publish)
        monkeypatch.setattr(shell.displayhook, "write_format_data", spy_write)
        # A kernel formats every type (the terminal test shell only text/plain): scan what a notebook keeps.
        monkeypatch.setattr(
            shell.display_formatter, "active_types", list(shell.display_formatter.format_types)
        )

    def run(self, source: str, ok: bool | None = None) -> Any:
        """Run one cell; ``ok`` (when given) is whether it must succeed."""
        self.capfd.readouterr()
        self._outputs = []
        outcome = self.kernel.run(source)
        out, err = self.capfd.readouterr()
        outputs = [v4.new_output("stream", name="stdout", text=out)] if out else []
        outputs += [v4.new_output("stream", name="stderr", text=err)] if err else []
        outputs += self._outputs
        error = outcome.error_in_exec or outcome.error_before_exec
        if error is not None:
            lines = traceback.format_exception(error)
            self.errors += [str(error), repr(error), *lines]
            outputs.append(
                v4.new_output("error", ename=type(error).__name__, evalue=str(error), traceback=lines)
            )
        self.cells.append(v4.new_code_cell(source, outputs=outputs, execution_count=len(self.cells) + 1))
        if ok is not None:
            assert outcome.success is ok, (source, error, out, err)
        return outcome

    def text(self) -> str:
        return "\n".join(str(output) for cell in self.cells for output in cell.outputs)

    def save(self, path: Path) -> bytes:
        notebook = v4.new_notebook(cells=self.cells)
        nbformat.validate(notebook)
        nbformat.write(notebook, str(path))
        return path.read_bytes()


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """A bundle as nbformat stores it (binary data base64-encoded)."""
    return {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in data.items()}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def exercise(nb: Notebook, keyed: str, refusing: str) -> None:
    """A session's worth of cells: answers, every kind of failure, the subcommands, reprs and config."""
    config = nb.kernel.shell.run_line_magic
    config("config", f"GeminiMagics.backend = {keyed!r}")
    # The keyed emulator accepts only FAKE: these succeeding proves the key really travelled.
    nb.run("%%gemini first\nHello, my name is Phil. Remember the marker tangerine-42.", ok=True)
    nb.run("%%gemini --no-stream\nWhat is my name?", ok=True)
    nb.run("%%gemini --json\nTell me a joke", ok=True)
    nb.run("%%gemini -m gemini-3-pro-image-preview\nA lighthouse", ok=True)
    nb.run("%gemini What is 2 + 2?", ok=True)
    nb.run("%%gemini --thoughts -s 'Be brief'\nExplain entropy in three bullet points", ok=True)
    for fault in ("error=429", "error=500", "error=503", "error=400", "fail=it broke", "cut=6"):
        nb.run(f"%%gemini\nWhy is the sky blue? [emulator: {fault}]", ok=False)
    nb.run("%%gemini --no-stream\nWhy? [emulator: error=429]", ok=False)
    nb.run("%%gemini -m no-such-model-anywhere\nHi", ok=False)
    nb.run("%%gemini -m gemini-2.0-flash\nHi", ok=None)
    nb.run("%gemini history", ok=True)
    nb.run("%gemini chains", ok=True)
    nb.run("%gemini help", ok=True)
    nb.run("%config GeminiMagics", ok=True)
    nb.run("first", ok=True)
    nb.run("print(repr(first), str(first), first.interaction)", ok=True)
    nb.run("print(repr(get_ipython().magics_manager.registry['GeminiMagics']))", ok=True)
    nb.run("_gm = get_ipython().magics_manager.registry['GeminiMagics']\nprint(_gm, _gm.runner().backend)")
    nb.run("print(vars(get_ipython().magics_manager.registry['GeminiMagics'].runner()))", ok=True)
    nb.run("raise ValueError(first.text)", ok=False)
    # A server that refuses this key (the key is in the request, the message must not quote it).
    config("config", f"GeminiMagics.backend = {refusing!r}")
    nb.run("%%gemini\nHi there", ok=False)
    nb.run("%%gemini --no-stream\nHi there", ok=False)
    # Nobody listening: a network error.
    config("config", f"GeminiMagics.backend = {closed_port_url()!r}")
    nb.run("%%gemini\nHi there", ok=False)
    nb.run("%%gemini --no-stream\nHi there", ok=False)
    config("config", f"GeminiMagics.backend = {keyed!r}")
    nb.run("%%gemini\nWhat did I say earlier?", ok=True)


def scan(nb: Notebook, kernel: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    text = nb.text()
    assert "tangerine-42" in text and "Phil" in text  # the outputs were captured
    assert "refused the API key" in text and "cannot reach" in text and "HTTP 429" in text
    assert "| # | interaction |" in text and "| | chain | head |" in text  # history and chains as Markdown
    assert FAKE not in text, "the key is in a cell's output"
    assert not any(FAKE in e for e in nb.errors), "the key is in an exception"
    assert FAKE not in caplog.text and not any(FAKE in r.getMessage() for r in caplog.records)
    stores = sorted(tmp_path.glob(kernel.db.name + "*"))
    assert stores and b"tangerine-42" in b"".join(p.read_bytes() for p in stores)
    for store in stores:
        assert FAKE.encode() not in store.read_bytes(), f"the key is in {store.name}"
    saved = nb.save(tmp_path / "saved.ipynb")
    assert b"tangerine-42" in saved
    assert FAKE.encode() not in saved, "the key is in the saved notebook"


@pytest.fixture
def servers(make_emulator: Any) -> tuple[str, str]:
    keyed = make_emulator(require_key=True, api_keys=frozenset({FAKE}))
    refusing = make_emulator(api_keys=frozenset({"other"}))
    return keyed.base_url, refusing.base_url


@pytest.fixture
def nb(kernel: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Notebook:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return Notebook(kernel, capfd, monkeypatch)


def test_key_from_environment_never_leaks(
    kernel: Any,
    nb: Notebook,
    servers: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE)
    exercise(nb, *servers)
    scan(nb, kernel, caplog, tmp_path)


def test_key_from_hidden_prompt_never_leaks(
    kernel: Any,
    nb: Notebook,
    servers: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    prompts: list[str] = []

    def typed_by_the_user(prompt: str = "Password: ", stream: Any = None) -> str:
        prompts.append(prompt)
        return FAKE

    monkeypatch.setattr("getpass.getpass", typed_by_the_user)
    nb.run("%gemini key", ok=True)
    assert len(prompts) == 1 and "hidden" in prompts[0]
    # The key entered once stays for the kernel's session, whatever is configured afterwards.
    exercise(nb, *servers)
    scan(nb, kernel, caplog, tmp_path)


def test_key_from_hidden_prompt_survives_config_changes(
    kernel: Any, nb: Notebook, servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed, _ = servers
    monkeypatch.setattr("getpass.getpass", lambda prompt="": FAKE)
    nb.run("%gemini key", ok=True)
    for line in (
        f"GeminiMagics.backend = {keyed!r}",
        "GeminiMagics.retries = 1",
        "GeminiMagics.notebook = 'x'",
    ):
        kernel.shell.run_line_magic("config", line)
        nb.run("%%gemini\nHello", ok=True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    nb.run("%gemini key", ok=True)  # an empty answer clears the key
    nb.run("%%gemini\nHello", ok=False)  # the keyed emulator now refuses: no key is sent
    assert "API key cleared" in nb.text()


# -- the service's own messages -------------------------------------------------------------------------


class ServiceError(Exception):
    """The attributes an SDK API error carries (``status_code``, parsed ``body``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status_code = status
        self.body = {"error": {"code": status, "message": message}}


@pytest.mark.parametrize("source", ["set_key", "GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_translate_scrubs_the_key(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    backend = Backend("emulator")
    if source == "set_key":
        backend.set_key(FAKE)
    else:
        monkeypatch.setenv(source, FAKE)
    failures: list[BaseException] = [
        ServiceError(400, f"API key not valid: {FAKE}"),
        ServiceError(403, f"key={FAKE} lacks permission"),
        ServiceError(429, f"quota for {FAKE} exhausted"),
        ServiceError(503, f"backend for {FAKE} down"),
        ServiceError(418, f"{FAKE}{FAKE}"),
        ConnectionError(f"https://example.invalid/?key={FAKE} refused"),
        TimeoutError(f"read timed out for {FAKE}"),
        RuntimeError(f"something with {FAKE} in it"),
    ]
    for exc in failures:
        error = backend.translate(exc)
        assert isinstance(error, BackendError)
        assert FAKE not in str(error) and FAKE not in repr(error), str(error)
        assert "\n" not in str(error)
    assert "API key not valid: ***" in str(backend.translate(failures[0]))
    assert "refused" in str(backend.translate(failures[5])) and "key=***" in str(
        backend.translate(failures[5])
    )
    assert FAKE not in repr(backend)


@pytest.mark.parametrize("stream", [False, True])
def test_failure_message_quoting_the_key_is_scrubbed(emulator: Any, stream: bool) -> None:
    """The emulator's ``fail=`` ends an interaction with any message: here one that quotes the key."""
    backend = Backend(emulator.base_url, retries=0)
    backend.set_key(FAKE)
    try:
        result = run(backend, {"model": FLASH, "input": f"Hi [emulator: fail=key {FAKE} rejected]"}, stream)
    finally:
        backend.close()
    assert result.status == "failed"
    assert result.error == "key *** rejected"
    from gemini_magics.render import view

    assert FAKE not in view.markdown(result) + view.plain(result) + repr(result)
