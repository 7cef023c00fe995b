"""Key hygiene: a recognisable fake key, really sent to an emulator, never shows up anywhere a user keeps.

The key comes from ``GEMINI_API_KEY`` or from ``%gemini key`` (the hidden prompt is ``getpass``). Many
cells run, failing ones included: answers, faults, refused keys, unreachable servers, notebook functions,
built-in tools, structured output, images and files (inline and by Files API), saved images, background
model and Deep Research runs with their subcommands, widgets and panel. Then every captured stdout/stderr,
every displayed bundle, every exception, the log records, the chain store's bytes, the saved images, the
widgets' state and a notebook saved with nbformat are scanned for the key (and its base64 forms). The
figures (places scanned, hits) go to ``docs/reliability.md`` as ``key_leaks_shell``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import socket
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from leak_scan import Tally
from nbformat import v4

from gemini_magics.backend import Backend, BackendError
from gemini_magics.turn import run

FAKE = "AIzaFAKE-gm-test-0123456789abcdef"
FLASH = "gemini-3-flash-preview"
AGENT = "deep-research-pro-preview-12-2025"


# -- the scan ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally(
        FAKE,
        "key_leaks_shell",
        "Every cell kind, fault, subcommand and widget of a session in an IPython shell, with a fake key "
        "from the environment and from %gemini key, against a keyed emulator; outputs, exceptions, logs, "
        "chain store, saved images, widget state and the saved notebook scanned.",
    )


@pytest.fixture(autouse=True)
def one_test_at_a_time(tally: Tally) -> None:
    """A test reports the leaks it found, not those of an earlier test that failed before its check."""
    tally.checked = len(tally.found)


class Notebook:
    """Runs cells like a front end and keeps every output they produce, as nbformat cells."""

    def __init__(
        self, kernel: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.kernel, self.capfd = kernel, capfd
        self.cells: list[Any] = []
        self.errors: list[str] = []
        self.widget_states: list[str] = []  # snapshots of every widget's state, as a front end would save it
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

    def snapshot_widgets(self) -> str:
        """The state of every live widget (what JupyterLab saves in a notebook's metadata)."""
        import ipywidgets

        state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False), default=repr)
        self.widget_states.append(state)
        return state

    def save(self, path: Path) -> bytes:
        notebook = v4.new_notebook(cells=self.cells)
        if self.widget_states:
            state = json.loads(self.widget_states[-1])
            notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
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
    nb.run("%xmode Verbose", ok=True)  # tracebacks show every frame's local variables
    # The keyed emulator accepts only FAKE: these succeeding proves the key really travelled.
    nb.run("%%gemini first\nHello, my name is Phil. Remember the marker tangerine-42.", ok=True)
    nb.run("%%gemini --no-stream\nWhat is my name?", ok=True)
    nb.run("%%gemini --json\nTell me a joke", ok=True)
    nb.run("%%gemini -m gemini-3-pro-image-preview\nA lighthouse", ok=True)
    nb.run("%gemini What is 2 + 2?", ok=True)
    nb.run("%%gemini --thoughts -s 'Be brief'\nExplain entropy in three bullet points", ok=True)
    for fault in ("error=429", "error=500", "error=503", "error=400", "fail=it broke"):
        nb.run(f"%%gemini\nWhy is the sky blue? [emulator: {fault}]", ok=False)
    nb.run("%%gemini --no-store\nWhy is the sky blue? [emulator: deltas=40, cut=12]", ok=False)  # lost
    nb.run("%%gemini\nWhy is the sky blue? [emulator: cut=6]", ok=True)  # resumed
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
    # The Python side: failures raised into user code, with verbose tracebacks.
    nb.run("_gm.runner().backend.get('v1_no-such-interaction')", ok=False)
    nb.run(
        f"_gm.runner().backend.create({{'model': {FLASH!r}, 'input': 'Hi', 'no_such_option': 1}})", ok=False
    )
    nb.run(
        f"_gm.runner().backend.create({{'model': {FLASH!r}, 'input': 'Hi [emulator: error=503]'}})", ok=False
    )
    tools_and_media(nb)
    background(nb)
    # A server that refuses this key (the key is in the request, the message must not quote it).
    config("config", f"GeminiMagics.backend = {refusing!r}")
    nb.run("%%gemini\nHi there", ok=False)
    nb.run("%%gemini --no-stream\nHi there", ok=False)
    nb.run("%%gemini --research --wait\nReefs", ok=False)
    nb.run("%%gemini --tool get_weather\nWeather in Oslo?", ok=False)
    nb.run("%gemini cancel v1_not-a-run", ok=False)
    nb.run(
        "_gm = get_ipython().magics_manager.registry['GeminiMagics']\n_gm.runner().backend.get('v1_x')",
        ok=False,
    )
    nb.run("slow.wait(0.01)", ok=None)
    # Nobody listening: a network error.
    config("config", f"GeminiMagics.backend = {closed_port_url()!r}")
    nb.run("%%gemini\nHi there", ok=False)
    nb.run("%%gemini --no-stream\nHi there", ok=False)
    nb.run("%%gemini --research\nReefs", ok=False)
    config("config", f"GeminiMagics.backend = {keyed!r}")
    nb.run("%%gemini\nWhat did I say earlier?", ok=True)
    nb.snapshot_widgets()


FUNCTIONS = '''
from pydantic import BaseModel

def get_weather(city: str) -> dict:
    """The current weather in a city."""
    return {"city": city, "celsius": 18}

def get_stock(symbol: str) -> float:
    """The price of a stock."""
    raise ValueError(f"market closed for {symbol}")

class Recipe(BaseModel):
    name: str
    minutes: int
    ingredients: list[str]

book = {"type": "object", "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"]}
'''


def tools_and_media(nb: Notebook) -> None:
    """Notebook functions, built-in tools, structured output, images and files, generated images saved."""
    nb.run(FUNCTIONS, ok=True)
    nb.run("%%gemini --tool get_weather\nWhat's the weather in Paris?", ok=True)
    nb.run("%%gemini --tool get_stock --no-stream\nGet the stock price of 'GOOG'", ok=True)  # it raises
    nb.run("%%gemini --tools google_search,url_context\nWhat happened in science this week?", ok=True)
    nb.run("%%gemini --tools code_execution\nWhat is the sum of the first 50 primes? Run code.", ok=True)
    nb.run("%%gemini --tools google_maps --no-stream\nCafes near the Louvre?", ok=True)
    nb.run("%%gemini recipe --schema Recipe\nPancakes for two", ok=True)
    nb.run("%%gemini novel --schema book --no-stream\nA classic science fiction novel", ok=True)
    nb.run("print(recipe.parsed, novel.parsed)", ok=True)
    nb.run("%%gemini --image chart.png --file notes.txt\nSummarise these", ok=True)
    nb.run("%%gemini --no-stream\nHere is a chart: {chart}", ok=True)
    nb.run("%%gemini -m gemini-3-pro-image-preview --save saved\nA red fox in snow", ok=True)
    nb.run("%%gemini --image missing.png\nWhat is it?", ok=False)
    # Large files go by the Files API (a resumable upload, whose URL carries no key).
    for line in ("files_api = 'on'", "inline_limit = 100"):
        nb.run(f"%config GeminiMagics.{line}")
    nb.run("%%gemini --image chart.png\nWhat is it?", ok=True)
    for line in ("files_api = 'auto'", "inline_limit = 20000000"):
        nb.run(f"%config GeminiMagics.{line}")


def subcommand(name: str, run: str) -> str:
    """A cell running ``%gemini NAME <the id of the run in variable RUN>`` (line magics take no ``{}``)."""
    return f"get_ipython().run_line_magic('gemini', '{name} ' + {run}.id)"


def background(nb: Notebook) -> None:
    """Deep Research and background model runs, the live widgets, the panel and every subcommand."""
    nb.run("%config GeminiMagics.research_stall = 0.5\n%config GeminiMagics.research_poll_max = 0.5")
    nb.run(f"%%gemini --agent {AGENT} --wait\nCoral reefs [emulator: duration=0.5]", ok=True)
    nb.run("%%gemini reefs --research\nSeagrass meadows [emulator: duration=1.5]", ok=True)
    nb.run("reefs", ok=True)  # the live widget
    nb.run("%gemini tasks", ok=True)
    nb.run("%gemini panel", ok=True)
    nb.snapshot_widgets()  # while the run is running (most likely)
    nb.run(subcommand("wait", "reefs"), ok=True)
    nb.run("%gemini show", ok=True)
    nb.run("print(reefs.status, reefs.text[:200], repr(reefs))", ok=True)
    nb.run("%%gemini slow --research\nKelp forests [emulator: duration=30]", ok=True)
    nb.run("%gemini cancel", ok=True)
    nb.run(subcommand("show", "slow"), ok=None)
    nb.run("%%gemini failing --research\nMangroves [emulator: duration=0.3, fail=the agent crashed]", ok=True)
    nb.run(subcommand("wait", "failing"), ok=None)
    nb.run("%%gemini --research --wait\nTides [emulator: duration=0.3, fail=no sources found]", ok=None)
    nb.run("%%gemini dunes --research\nDunes [emulator: duration=1, poll_error=503x2, stall=2]", ok=True)
    nb.run(subcommand("wait", "dunes"), ok=True)
    nb.run("%%gemini answer -b --no-stream\nA background answer, please.", ok=True)
    nb.run(subcommand("wait", "answer"), ok=True)
    nb.run("%gemini cancel v1_no-such-interaction", ok=False)  # asks the service: not found
    nb.run("%gemini wait v1_no-such-interaction", ok=None)
    nb.run("%gemini show v1_no-such-interaction", ok=None)
    nb.run("%gemini tasks", ok=True)
    nb.run("%gemini panel", ok=True)
    nb.run("%gemini history", ok=True)
    nb.snapshot_widgets()


def scan(nb: Notebook, kernel: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path, tally: Tally) -> None:
    text = nb.text()
    assert "tangerine-42" in text and "Phil" in text  # the outputs were captured
    assert "refused the API key" in text and "cannot reach" in text and "HTTP 429" in text
    assert "in Backend.get(self=<Backend" in text  # verbose tracebacks: every frame's arguments and locals
    assert "| # | interaction |" in text and "| | chain | head |" in text  # history and chains as Markdown
    assert "Research report: Seagrass meadows" in text and "the agent crashed" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the research widgets were displayed
    assert "market closed for GOOG" in text
    assert any("Research report: Seagrass meadows" in state for state in nb.widget_states)
    scan_cells(nb, tally)
    tally.scan("the log records", caplog.text + "\n".join(r.getMessage() for r in caplog.records))
    for i, state in enumerate(nb.widget_states):
        tally.scan(f"widget state snapshot {i}", state)
    stores = sorted(tmp_path.glob(kernel.db.name + "*"))
    assert stores and b"tangerine-42" in b"".join(p.read_bytes() for p in stores)
    for store in stores:
        tally.scan(store.name, store.read_bytes())
    images = sorted((tmp_path / "saved").glob("*"))
    assert images, "--save wrote no image"
    for image in images:
        tally.scan(f"saved image {image.name}", image.read_bytes())
    saved = nb.save(tmp_path / "saved.ipynb")
    assert b"tangerine-42" in saved and b"widget-state+json" in saved
    tally.scan("the saved notebook", saved)
    tally.check()


def scan_cells(nb: Notebook, tally: Tally) -> None:
    """Every output of every cell and every exception text, each a place."""
    for number, cell in enumerate(nb.cells, 1):
        for i, output in enumerate(cell.outputs):
            tally.scan(f"cell {number} ({cell.source.splitlines()[0][:40]}) output {i}", str(output))
    for i, error in enumerate(nb.errors):
        tally.scan(f"exception text {i}", error)


@pytest.fixture
def servers(make_emulator: Any) -> tuple[str, str]:
    keyed = make_emulator(require_key=True, api_keys=frozenset({FAKE}))
    refusing = make_emulator(api_keys=frozenset({"other"}))
    return keyed.base_url, refusing.base_url


@pytest.fixture
def nb(
    kernel: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Notebook]:
    """A notebook in ``tmp_path`` (its files: ``chart.png``, ``notes.txt``), shown as in a kernel: live
    views and research widgets (the widgets have no front end; their state is read from ipywidgets)."""
    from PIL import Image

    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, format="PNG")
    (tmp_path / "chart.png").write_bytes(buffer.getvalue())
    (tmp_path / "notes.txt").write_text("Revenue grew 12% in March.\n")
    kernel.shell.user_ns["chart"] = Image.new("RGB", (32, 32), "blue")
    monkeypatch.setattr("gemini_magics.render.view.in_kernel", lambda: True)
    notebook = Notebook(kernel, capfd, monkeypatch)
    yield notebook
    kernel.run("%gemini cancel")  # nothing keeps running into the next test (an error when nothing runs)
    kernel.run("%xmode Context")


def test_key_from_environment_never_leaks(
    kernel: Any,
    nb: Notebook,
    servers: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    tally: Tally,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE)
    exercise(nb, *servers)
    scan(nb, kernel, caplog, tmp_path, tally)


def test_key_from_hidden_prompt_never_leaks(
    kernel: Any,
    nb: Notebook,
    servers: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    tally: Tally,
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
    scan(nb, kernel, caplog, tmp_path, tally)


def test_key_from_hidden_prompt_survives_config_changes(
    kernel: Any, nb: Notebook, servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tally: Tally
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
    scan_cells(nb, tally)
    tally.check()


@pytest.mark.parametrize("ending", ["", "\n"], ids=["key", "key-read-from-a-file"])
def test_a_service_failure_quoting_the_key_never_leaks(
    ending: str,
    kernel: Any,
    nb: Notebook,
    make_emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    tally: Tally,
) -> None:
    """Every interaction fails with a message that quotes the key (the emulator's ``fail=`` on every
    request): streamed, whole, as raw JSON, in the background, through the subcommands and the store. The
    key is sent stripped, so a variable read from a file (a newline at its end) must be scrubbed stripped."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE + ending)
    quoting = make_emulator(require_key=True, api_keys=frozenset({FAKE}), faults={"fail": f"key {FAKE} bad"})
    nb.kernel.shell.run_line_magic("config", f"GeminiMagics.backend = {quoting.base_url!r}")
    nb.run(FUNCTIONS, ok=True)
    for source in (
        "%%gemini first\nHi, the marker is tangerine-42",
        "%%gemini --no-stream\nHi",
        "%%gemini --json\nHi",
        "%%gemini --json --no-stream\nHi",
        "%%gemini --tool get_weather\nWeather in Paris?",
        "%%gemini --research --wait\nReefs [emulator: duration=0.3]",
        "%%gemini --research --json --wait\nReefs [emulator: duration=0.3]",
        "%%gemini run --research\nDunes [emulator: duration=0.3]",
        subcommand("wait", "run"),
        subcommand("show", "run"),
        "print(run.status, run.error, run.text, repr(run), run.result.interaction)",
        "print(first, repr(first), first.error, first.interaction)",
        "%gemini tasks",
        "%gemini panel",
        "%gemini history",
    ):
        nb.run(source)
    nb.snapshot_widgets()
    text = nb.text()
    assert re.search(r"failed: key \S+ bad", text) and "tangerine-42" in text, text[-2000:]  # shown
    assert re.search(r"errors=\[.*key \S+ bad'", text)  # the interaction's own errors were printed
    scan_cells(nb, tally)
    tally.scan("the log records (a failure quoting the key)", caplog.text)
    tally.scan("widget state (a failure quoting the key)", nb.widget_states[-1])
    for store in sorted(tmp_path.glob(kernel.db.name + "*")):
        tally.scan(f"{store.name} (a failure quoting the key)", store.read_bytes())
    tally.scan("the saved notebook (a failure quoting the key)", nb.save(tmp_path / "saved.ipynb"))
    tally.check()


# -- the service's own messages -------------------------------------------------------------------------


class ServiceError(Exception):
    """The attributes an SDK API error carries (``status_code``, parsed ``body``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status_code = status
        self.body = {"error": {"code": status, "message": message}}


@pytest.mark.parametrize("source", ["set_key", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY\n"])
def test_translate_scrubs_the_key(monkeypatch: pytest.MonkeyPatch, source: str, tally: Tally) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    backend = Backend("emulator")
    if source == "set_key":
        backend.set_key(FAKE)
    else:  # "GEMINI_API_KEY\n": a variable read from a file, with its newline (the key sent is stripped)
        monkeypatch.setenv(source.strip(), FAKE + source[len(source.strip()) :])
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
    for i, exc in enumerate(failures):
        error = backend.translate(exc)
        assert isinstance(error, BackendError)
        tally.scan(f"translated {type(exc).__name__} {i} ({source})", f"{error}\n{error!r}")
        assert FAKE not in str(error) and FAKE not in repr(error), str(error)
        assert "\n" not in str(error)
    assert "API key not valid: ***" in str(backend.translate(failures[0]))
    assert "refused" in str(backend.translate(failures[5])) and "key=***" in str(
        backend.translate(failures[5])
    )
    assert FAKE not in repr(backend)
    tally.check()


@pytest.mark.parametrize("stream", [False, True])
def test_failure_message_quoting_the_key_is_scrubbed(emulator: Any, stream: bool, tally: Tally) -> None:
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
    tally.scan(f"a failed result's views (stream={stream})", view.markdown(result) + view.plain(result))
    tally.check()


def test_the_scan_finds_the_key_in_every_form() -> None:
    """The control: the scan is not blind (a key as text, URL-quoted, base64 in an image or a widget)."""
    control = Tally(FAKE, "unused", "the control")
    png = io.BytesIO()
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("Comment", f"made with {FAKE}", zip=False)
    Image.new("RGB", (4, 4)).save(png, format="PNG", pnginfo=info)
    for k in range(3):
        blob = base64.b64encode(b"x" * k + png.getvalue()).decode()
        assert control.scan(f"a base64 PNG (shift {k})", json.dumps({"image/png": blob})) == 1
        assert control.scan(
            f"URL-safe base64 (shift {k})", base64.urlsafe_b64encode(b"y" * k + FAKE.encode())
        )
    assert control.scan("text", f"Traceback: key={FAKE}") == 1
    assert control.scan("a URL", "https://example.invalid/?key=" + urllib.parse.quote(FAKE)) == 1
    assert control.scan("a truncated key", FAKE[:20] + "…") == 1
    assert control.scan("bytes", b"\x00" + FAKE.encode() + b"\xff") == 1
    assert control.scan("nothing", "AIza" + "X" * 35) == 0
    assert len(control.found) == control.places - 1 and control.hits == control.places - 1
