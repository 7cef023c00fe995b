"""Fuzzing ``%%gemini`` cells: random magic lines and bodies through a real shell, SDK and emulator.

Property, for every generated cell: the user gets a result or one ``UsageError`` line; no other exception
leaves the magic and nothing in the output looks like a traceback; after a failure no chain head of the
notebook moved. The case count and the outcomes go to ``docs/reliability.md`` (``reliability_figures``).

``GEMINI_MAGICS_FUZZ_EXAMPLES`` changes the number of cases (the suite runs 600, about 35 s);
``GEMINI_MAGICS_FUZZ_RANDOM=1`` explores new cases instead of the suite's fixed, derandomised ones.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from mcp_testing import McpTestServer
from reliability_figures import record

from gemini_magics.chain import ChainStore
from gemini_magics.turn import Result

EXAMPLES = int(os.environ.get("GEMINI_MAGICS_FUZZ_EXAMPLES", "600"))
RANDOM = os.environ.get("GEMINI_MAGICS_FUZZ_RANDOM") == "1"

# A real MCP server (tests/mcp_testing.py) for ``--mcp kb=URL``; the ``mcp_server`` fixture runs it.
MCP_SERVER = McpTestServer(token="not-a-real-token")

junk = st.text(max_size=12).filter(lambda s: "\n" not in s and "\r" not in s)
no_newline = st.text(max_size=40).map(lambda s: s.replace("\n", " ").replace("\r", " "))


def flag(name: str, *values: Any) -> st.SearchStrategy[list[str]]:
    """``[name, value]`` with a value from ``values`` (strategies or constants) or random text."""
    options = [v if isinstance(v, st.SearchStrategy) else st.just(v) for v in values]
    return st.tuples(st.just(name), st.one_of(*options, junk)).map(list)


SWITCHES = st.sampled_from(
    [
        ["--thoughts"],
        ["--no-thoughts"],
        ["--stream"],
        ["--no-stream"],
        ["-n"],
        ["--new"],
        ["--json"],
        ["--no-store"],
        ["--background", "--wait"],
        ["--wait"],
        ["--research"],  # refused with most other flags, else the default agent (made quick below)
        ["--"],
        ["-"],
    ]
)
FLAGS = st.one_of(
    SWITCHES,
    SWITCHES,
    SWITCHES,
    flag(
        "-m",
        "gemini-3-flash-preview",
        "gemini-3.1-pro-preview",
        "gemini-2.0-flash",
        "gemini-3.1-flash-image-preview",
    ),
    flag("--thinking", "minimal", "low", "high", "xhigh", "LOW"),
    flag("-t", st.floats(allow_nan=True, allow_infinity=True).map(repr), "0.2", "3"),
    flag("--max-tokens", st.integers(-5, 10**12).map(str), "50"),
    flag("-c", "ideas", "default", no_newline),
    flag("--from", "r", "answer", "v1_nope", no_newline),
    flag("-s", "Answer in French", no_newline),
    flag("--tools", "google_search", "code_execution", "url_context,google_search", "google_maps"),
    flag("--tool", "get_weather", "nothing_here", "Person"),
    flag("--schema", "Person", "schema_dict", "get_weather", "r"),
    flag("--image", "pic", "doc", "missing.png", "r"),
    flag("--file", "doc", "pic", "no/such/file.pdf"),
    flag("--save", "out", "."),
    flag("--voice", "Puck", "kore", "Joe=Charon", "Two words", "=x", "", "Marvin"),
    flag("--audio-format", "wav", "mulaw", "l16", "flac", "audio/mp3"),
    flag("-m", "gemini-3.1-flash-tts-preview", "gemini-3.5-transcribe"),
    flag(
        "--mcp",
        st.builds(lambda: f"kb={MCP_SERVER.url}"),  # drawn once the server runs, so its port is known
        "docs=https://mcp.example.invalid/mcp",  # unreachable: a 400 at create
        "x=ftp://nope",
        "novalue",
    ),
    flag("--mcp-headers", "hdrs", "docs=hdrs", "nothing"),
    flag("--file-search", "manuals", "fileSearchStores/x"),
    flag("-a", "not-an-agent", "gemini-3-flash-preview"),
    junk.map(lambda s: [s]),
)
VARIABLE = st.sampled_from([[], [], [], [], ["r"], ["answer"], ["1bad"], ["r.x"]])

# The magic line: shell-quoted words (sometimes with raw, unquoted junk: unbalanced quotes and the like).
CLEAN = st.tuples(VARIABLE, st.lists(FLAGS, max_size=4)).map(
    lambda vf: shlex.join([*vf[0], *(w for f in vf[1] for w in f)])
)
LINE = st.one_of(
    CLEAN,
    CLEAN,
    CLEAN,
    st.tuples(st.lists(FLAGS, max_size=3), junk).map(
        lambda fj: shlex.join(w for f in fj[0] for w in f) + fj[1]
    ),
)

DIRECTIVES = [
    "error=503",
    "error=429",
    "error=500",
    "error=400",
    "cut=3",
    "fail=the model gave up",
    "invalid_json",
    "deltas=40",
    "bogus=1",
    "cut=x",
    "always_call",
    "unsafe_html",
    "expire=0",
]
PIECES = st.one_of(
    st.sampled_from(
        [
            "What is the weather in Paris?",
            "Look up the word 'emulator' and read my private_notes",
            "Hi, my name is Phil.",
            "What is my name?",
            "{r.text}",
            "{r}",
            "{pic}",
            "{missing}",
            "{{literal}}",
            "{d['k']}",
            "{d[k]}",
            "{xs[0]}",
            "{xs[99]}",
            "{xs[-1]}",
            "{get_weather}",
            "{big}",
            "```python\nprint({x})\n```",
            "`{y}`",
            "{",
            "}",
            "{{{",
        ]
    ),
    st.sampled_from(DIRECTIVES).map(lambda d: f"[emulator: {d}]"),
    st.sampled_from(DIRECTIVES).map(lambda d: f"[emulator: {d}]"),
    st.sampled_from(DIRECTIVES).map(lambda d: f"[emulator: {d}]"),
    st.text(max_size=60),
    st.text(alphabet="{}[]()'\"`.abcxr_0 \n\\$", max_size=40),  # braces, brackets, quotes, code spans
    st.binary(max_size=64).map(lambda data: data.decode("latin-1")),  # binary junk, NULs included
    st.tuples(st.sampled_from(["a", "é", "字", "🙂", "{", "x "]), st.integers(1_000, 120_000)).map(
        lambda cn: cn[0] * cn[1]
    ),  # huge bodies
)
BODY = st.one_of(
    st.lists(PIECES, min_size=1, max_size=6).map(lambda pieces: "".join(pieces) or "Hello"),
    st.lists(PIECES, min_size=1, max_size=6).map(lambda pieces: "".join(pieces) or "Hello"),
    st.lists(PIECES, min_size=1, max_size=6).map(lambda pieces: "".join(pieces) or "Hello"),
    st.sampled_from(["", " \n\t"]),  # empty cells
)

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)


def kind_of(message: str) -> str:
    """A short category for the outcome table."""
    checks = [
        ("the cell is empty", "empty cell"),
        ("HTTP 429", "quota (429)"),
        ("HTTP 5", "service unavailable (5xx)"),
        ("HTTP 404", "not found (404)"),
        ("HTTP 400", "refused request (400)"),
        ("stream ended", "stream cut"),
        ("--wait", "flag rule"),
        ("--no-store", "flag rule"),
        ("--research", "flag rule"),
        ("--tool", "tool or schema"),
        ("--schema", "tool or schema"),
        ("schema", "tool or schema"),
        ("--image", "file or image"),
        ("--file", "file or image"),
        ("--mcp", "MCP flag"),
        ("unknown name", "interpolation"),
        ("{", "interpolation"),
        ("failed:", "model failed"),
        ("stopped after", "runaway tool loop"),
    ]
    for needle, kind in checks:
        if needle in message:
            return kind
    if re.search(r"argument|unrecognized|expected|invalid choice|cannot parse|not a valid", message):
        return "bad flags (argparse)"
    return "other one-line error"


def heads(store: ChainStore, notebook: str) -> dict[str, str | None]:
    return {info.name: info.head for info in store.chains(notebook)}


@pytest.fixture
def namespace(kernel: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the generated cells may refer to: a function, a schema, an image, a file, headers, data."""
    from PIL import Image
    from pydantic import BaseModel

    monkeypatch.chdir(tmp_path)  # --save DIR and relative paths land in the test's directory

    class Person(BaseModel):
        name: str
        age: int

    def get_weather(city: str) -> str:
        """The weather in a city."""
        if city == "Nowhere":
            raise ValueError("no such city")
        return f"sunny in {city}"

    png = BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    ns = kernel.shell.user_ns
    ns.update(
        Person=Person,
        get_weather=get_weather,
        schema_dict={"type": "object", "properties": {"n": {"type": "integer"}}},
        pic=png.getvalue(),
        doc=b"%PDF-1.4\n% a tiny document\n",
        hdrs={"Authorization": "Bearer not-a-real-token"},
        d={"k": "value"},
        xs=[1, 2, 3],
        big="z" * 300_000,
    )
    return ns


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpTestServer]:
    with MCP_SERVER:
        yield MCP_SERVER


@pytest.mark.slow
def test_fuzzed_cells_give_a_result_or_one_line(
    kernel: Any, namespace: dict[str, Any], mcp_server: McpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ChainStore(kernel.db)
    outcomes: Counter[str] = Counter()
    broken: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
    )
    @given(line=LINE, body=BODY)
    def cell(line: str, body: str) -> None:
        if "--research" in line.split() or re.search(r"(^|\s)(-a|--agent)\s+deep-research", line):
            body += " [emulator: duration=0.1]"  # a research agent that finishes at once
        before = heads(store, kernel.notebook)
        capsys.readouterr()
        problem = None
        try:
            value = kernel.cell(line, body)
        except UsageError as exc:
            message = str(exc)
            outcomes[kind_of(message)] += 1
            if os.environ.get("GEMINI_MAGICS_FUZZ_SHOW"):
                print(
                    f"FUZZ {kind_of(message)}: {message[:100]} BODY={body[:60]!r} LINE={line!r}",
                    file=sys.__stdout__,
                )
            if not message.strip() or "\n" in message.strip():
                problem = f"a UsageError of several lines: {message!r}"
            after = heads(store, kernel.notebook)
            moved = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
            if moved:
                problem = f"the cell failed ({message}) but chain heads moved: {moved}"
        except BaseException as exc:  # anything else is a bug the user would see as a traceback
            outcomes[f"escaped: {type(exc).__name__}"] += 1
            problem = "".join(traceback.format_exception(exc))
        else:
            wait = getattr(value, "wait", None)
            if callable(wait) and not isinstance(value, Result):  # a background handle: let it end
                value = wait()
            outcomes["answer" if isinstance(value, Result) and value.ok else "ended (not completed)"] += 1
        shown = capsys.readouterr()
        if problem is None and TRACEBACK.search(shown.out + shown.err):
            problem = f"a traceback in the output:\n{shown.out}\n{shown.err}"
        if problem is not None:
            broken.append(f"%%gemini {line}\n{body[:300]!r}\n→ {problem}")
            raise AssertionError(broken[-1])

    try:
        cell()
    finally:
        store.close()
        cases = sum(outcomes.values())
        print(f"fuzzed {cases} cells: {dict(outcomes)}")
        record(
            "fuzz_cells",
            {
                "cases": cases,
                "max_examples": EXAMPLES,
                "random": RANDOM,
                "failures": len(broken),
                "outcomes": dict(outcomes),
            },
        )
    assert sum(outcomes.values()) >= EXAMPLES * 0.9


def test_a_failed_new_cell_keeps_the_chain(kernel: Any) -> None:
    """What the fuzzing found: ``--new`` reset the chain before sending, so a failing ``--new`` cell lost the
    conversation's head. The reset now happens when the new turn completes."""
    store = ChainStore(kernel.db)
    try:
        first = kernel.cell("", "Hi, my name is Phil.")
        with pytest.raises(UsageError, match="HTTP 503"):
            kernel.cell("-n", "Hello [emulator: error=503]")
        assert heads(store, kernel.notebook) == {"default": first.id}
        assert "Phil" in kernel.cell("", "What is my name?").text  # the conversation goes on
        fresh = kernel.cell("--new", "What is my name?")
        assert "Phil" not in fresh.text and heads(store, kernel.notebook) == {"default": fresh.id}
        turns = store.chain(kernel.notebook).turns()
        assert [t.segment for t in turns] == [0, 0, 0, 1] and turns[1].status == "failed"
    finally:
        store.close()


def test_a_new_background_run_resets_the_chain_once_accepted(kernel: Any) -> None:
    """``--new --background``: a refused create keeps the chain; an accepted run starts it afresh and
    becomes its head when it completes."""
    store = ChainStore(kernel.db)
    try:
        first = kernel.cell("", "Hi, my name is Phil.")
        with pytest.raises(UsageError, match="HTTP 500"):
            kernel.cell("--new --background --wait", "Hello [emulator: error=500]")
        assert heads(store, kernel.notebook) == {"default": first.id}
        run = kernel.cell("--new --background --wait", "What is my name?")
        assert run.status == "completed" and "Phil" not in run.text
        assert heads(store, kernel.notebook) == {"default": run.id}
        assert store.chain(kernel.notebook).turns()[-1].segment == 1
    finally:
        store.close()
