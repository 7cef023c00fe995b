"""Fuzzing what comes back: a hostile service between the SDK and the emulator rewrites real replies.

``Hostile`` is a small ASGI proxy on a loopback port. It forwards each request to the session's emulator,
reads the real reply (an SSE stream or a JSON interaction), applies the mutations hypothesis chose for this
case — truncated JSON, unknown step and delta types, dropped fields, wrong value types, enormous texts,
invalid base64 images, events swapped, duplicated or dropped — and sends the result on.

Property, for every case, through real ``%%gemini`` cells: the cell gives a result or one ``UsageError``
line, nothing else escapes and no traceback is shown; unknown parts render as one short line; every text
delta that arrived before the fault is kept (in the result, or in the output shown above the error).
``GEMINI_MAGICS_FUZZ_EXAMPLES_REPLIES`` scales the number of cases (the suite runs 150).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from reliability_figures import record
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_magics import blocks as b
from gemini_magics.chain import ChainStore
from gemini_magics.emulator import EmulatorServer
from gemini_magics.render import static

EXAMPLES = int(os.environ.get("GEMINI_MAGICS_FUZZ_EXAMPLES_REPLIES", "150"))
RANDOM = os.environ.get("GEMINI_MAGICS_FUZZ_RANDOM") == "1"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)
HUGE = int(os.environ.get("GEMINI_MAGICS_FUZZ_HUGE", "1000000"))


@dataclass
class Plan:
    """The mutations of one case: ``ops`` on the parsed events (or JSON), then an optional byte cut."""

    ops: list[tuple[str, int, str]] = field(default_factory=list)
    cut: float | None = None  # cut the body at this fraction of its length (truncated JSON)


class Hostile:
    """The proxy: ``plan`` is what it does to the next replies; ``delivered`` the text deltas it sent
    whole, before any cut (what the user must be able to read afterwards)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.plan = Plan()
        self.delivered: list[str] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST", "DELETE"])])
        self._server: uvicorn.Server | None = None
        self.base_url = ""

    async def forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            reply = await client.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers=headers,
            )
        body, kind = reply.content, reply.headers.get("content-type", "")
        if reply.status_code == 200 and "text/event-stream" in kind:
            body = self._stream(body)
        elif reply.status_code == 200 and "json" in kind:
            body = self._json(body)
        return Response(body, status_code=reply.status_code, media_type=kind.split(";")[0] or None)

    def _stream(self, raw: bytes) -> bytes:
        lines = [line[5:] for line in raw.decode().splitlines() if line.startswith("data:")]
        events = [json.loads(line) for line in lines if line.strip() != "[DONE]"]  # the terminator is kept
        events = mutate(events, self.plan.ops, stream=True)
        frames = [
            f"event: {e.get('event_type', 'x') if isinstance(e, dict) else 'x'}\ndata: {json.dumps(e)}\n\n"
            for e in events
        ]
        body = ("".join(frames) + "event: done\ndata: [DONE]\n\n").encode()
        end = len(body) if self.plan.cut is None else int(len(body) * self.plan.cut)
        sent = 0
        for frame, event in zip(frames, events, strict=True):
            sent += len(frame.encode())
            if sent > end:
                break
            self.delivered += text_deltas(event)
        return body[:end]

    def _json(self, raw: bytes) -> bytes:
        resource = json.loads(raw)
        if isinstance(resource, dict) and isinstance(resource.get("steps"), list):
            resource["steps"] = mutate(resource["steps"], self.plan.ops, stream=False)
        body = json.dumps(resource).encode()
        return body if self.plan.cut is None else body[: int(len(body) * self.plan.cut)]

    def __enter__(self) -> Hostile:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="critical", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not self._server.started:
            thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.should_exit = True


def text_deltas(event: Any) -> list[str]:
    """The answer text a well-formed text delta carries (what the user must get to read)."""
    if not isinstance(event, dict) or event.get("event_type") != "step.delta":
        return []
    delta = event.get("delta")
    if isinstance(event.get("index"), int) and isinstance(delta, dict) and delta.get("type") == "text":
        text = delta.get("text")
        return [text] if isinstance(text, str) and text.strip() else []
    return []


WEIRD_VALUES: list[Any] = [None, 0, -1, 3.5, "", "x", [], {}, [1, "a"], {"type": 7}, True]


def mutate(items: list[Any], ops: list[tuple[str, int, str]], stream: bool) -> list[Any]:
    """Apply each ``(op, position, word)`` to a list of events (or steps)."""
    items = json.loads(json.dumps(items))
    for op, pos, word in ops:
        at = pos % (len(items) + 1)
        target = items[at] if at < len(items) else None
        if op == "unknown_step":
            step = {"type": word or "hologram", "payload": {"deep": [word] * 3}}
            items.insert(at, {"event_type": "step.start", "index": pos % 7, "step": step} if stream else step)
        elif op == "unknown_delta" and stream:
            delta = {"type": word or "quantum_foam", "stuff": word}
            items.insert(at, {"event_type": "step.delta", "index": pos % 7, "delta": delta})
        elif op == "unknown_event" and stream:
            items.insert(at, {"event_type": word or "interaction.teleported", "index": pos})
        elif op == "unknown_content":
            content = [{"type": word or "smell", "data": word}, {"type": "text", "text": f"kept {word}"}]
            step = {"type": "model_output", "content": content}
            items.insert(at, {"event_type": "step.start", "index": pos % 7, "step": step} if stream else step)
        elif op == "huge_text":
            text = (word or "big ") * (HUGE // max(1, len(word or "big ")))
            if stream:
                items.insert(
                    at, {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": text}}
                )
            else:
                items.insert(at, {"type": "model_output", "content": [{"type": "text", "text": text}]})
        elif op == "bad_image":
            image = {"type": "image", "data": word + "!!not base64", "mime_type": "image/png"}
            if stream:
                items.insert(at, {"event_type": "step.delta", "index": pos % 7, "delta": image})
            else:
                items.insert(at, {"type": "model_output", "content": [image]})
        elif op == "drop_field" and isinstance(target, dict) and target:
            target.pop(sorted(target)[pos % len(target)])
        elif op == "drop_nested" and isinstance(target, dict):
            inner = target.get("delta") or target.get("step") or target.get("interaction")
            if isinstance(inner, dict) and inner:
                inner.pop(sorted(inner)[pos % len(inner)])
        elif op == "wrong_type" and isinstance(target, dict) and target:
            key = sorted(target)[pos % len(target)]
            target[key] = WEIRD_VALUES[pos % len(WEIRD_VALUES)]
        elif op == "swap" and len(items) > 1:
            other = (at + 1 + pos) % len(items)
            at = at % len(items)
            items[at], items[other] = items[other], items[at]
        elif op == "duplicate" and target is not None:
            items.insert(at, json.loads(json.dumps(target)))
        elif op == "drop" and target is not None:
            items.pop(at)
        elif op == "not_an_object":
            items.insert(at, WEIRD_VALUES[pos % len(WEIRD_VALUES)])
    return items


OPS = st.sampled_from(
    [
        "unknown_step",
        "unknown_delta",
        "unknown_event",
        "unknown_content",
        "huge_text",
        "bad_image",
        "drop_field",
        "drop_nested",
        "wrong_type",
        "swap",
        "duplicate",
        "drop",
        "not_an_object",
    ]
)
WORDS = st.one_of(
    st.sampled_from(["", "x", "step.delta", "text", "image", "<b>hi</b>"]), st.text(max_size=30)
)
PLANS = st.builds(
    Plan,
    ops=st.lists(
        st.tuples(OPS, st.integers(0, 10_000), st.one_of(WORDS, WORDS.map(lambda w: w * 500))), max_size=4
    ),
    cut=st.one_of(st.none(), st.none(), st.floats(0.0, 1.0)),
)
PROMPTS = st.sampled_from(
    [
        ("", "Hi, my name is Phil. Tell me a joke."),
        ("--no-stream", "Hi, my name is Phil. Tell me a joke."),
        ("-m gemini-3.1-flash-image-preview", "Draw a red lighthouse"),
        ("-m gemini-3.1-flash-image-preview --no-stream", "Draw a red lighthouse"),
        ("--tools code_execution", "What is 12345 * 6789? Compute it."),
        ("--tools google_search", "Who won the 2022 World Cup?"),
        ("--tools google_search --no-stream", "Who won the 2022 World Cup?"),
        ("--thinking high", "Give me three bullet points about tea."),
    ]
)


@pytest.fixture
def hostile(emulator: EmulatorServer) -> Iterator[Hostile]:
    with Hostile(emulator.base_url) as proxy:
        yield proxy


def run_case(
    kernel: Any,
    store: ChainStore,
    hostile: Hostile,
    capsys: pytest.CaptureFixture[str],
    prompt: tuple[str, str],
    plan: Plan,
    outcomes: Counter[str],
) -> str | None:
    """One ``%%gemini`` cell through the hostile proxy; what went wrong, or None."""
    line, body = prompt
    hostile.plan, hostile.delivered = plan, []
    before = {info.name: info.head for info in store.chains(kernel.notebook)}
    capsys.readouterr()
    problem, value, message = None, None, ""
    try:
        value = kernel.cell(f"--new {line}", body)
        outcomes["answer"] += 1
    except UsageError as exc:
        message = str(exc)
        outcomes["one-line error"] += 1
        if "\n" in message.strip() or len(message) > 2_000:
            problem = f"not one short line ({len(message)} chars): {message[:500]!r}"
        after = {info.name: info.head for info in store.chains(kernel.notebook)}
        moved = {name: head for name, head in after.items() if before.get(name) != head}
        if any(head is not None or name in before for name, head in moved.items()):  # not a new empty chain
            problem = f"the cell failed but the chain head moved: {before} → {after} ({message})"
    except BaseException as exc:
        outcomes[f"escaped: {type(exc).__name__}"] += 1
        problem = "".join(traceback.format_exception(exc))
    shown = capsys.readouterr()
    output = shown.out + shown.err
    if problem is None and TRACEBACK.search(output):
        problem = f"a traceback in the output: {output[-3000:]}"
    if problem is None and value is not None:
        for block in value.blocks:
            if isinstance(block, b.UnknownBlock):
                outcomes["unknown part shown"] += 1
                line_md = static.block_markdown(block)
                if len(line_md) > 400 or "\n" in line_md:
                    problem = f"an unknown part renders as {len(line_md)} chars: {line_md[:300]!r}"
        value._repr_mimebundle_()  # the view renders whatever arrived
    if problem is None:
        readable = (value.text if value is not None else "") + output
        missing = [t for t in hostile.delivered if t.strip()[:60] not in readable]
        if missing:
            problem = f"delivered text is lost: {missing[0][:200]!r} ({message})"
    return problem


# Cases the random runs found (scripts/reliability.py --large), kept as regressions.
FOUND = [
    # A grounding step's field replaced by {} (search results, a query list): unhashable, text lost.
    (("--tools google_search", "Who won the 2022 World Cup?"), Plan([("wrong_type", 29, "")])),
    (("--tools google_search --no-stream", "Who won the 2022 World Cup?"), Plan([("wrong_type", 29, "")])),
]


@pytest.mark.parametrize(("prompt", "plan"), FOUND)
def test_replies_the_random_runs_broke_on(
    make_kernel: Any,
    hostile: Hostile,
    shell: Any,
    capsys: pytest.CaptureFixture[str],
    prompt: tuple[str, str],
    plan: Plan,
) -> None:
    kernel = make_kernel("fuzz-found.ipynb", base_url=hostile.base_url)
    store = ChainStore(kernel.db)
    try:
        for ops in (
            [op] for op in [(kind, pos + shift, w) for kind, pos, w in plan.ops for shift in range(22)]
        ):
            problem = run_case(kernel, store, hostile, capsys, prompt, Plan(ops, plan.cut), Counter())
            assert problem is None, f"plan={ops!r}: {problem}"
    finally:
        store.close()


@pytest.mark.slow
def test_fuzzed_replies_never_crash_and_keep_the_partial_answer(
    make_kernel: Any, hostile: Hostile, shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = make_kernel("fuzz-replies.ipynb", base_url=hostile.base_url)
    store = ChainStore(kernel.db)
    outcomes: Counter[str] = Counter()
    broken: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(prompt=PROMPTS, plan=PLANS)
    def case(prompt: tuple[str, str], plan: Plan) -> None:
        started = time.monotonic()
        problem = run_case(kernel, store, hostile, capsys, prompt, plan, outcomes)
        if os.environ.get("GEMINI_MAGICS_FUZZ_SHOW"):
            print(
                f"FUZZ {time.monotonic() - started:.2f}s {prompt[0]} {plan.ops!r:.300} {plan.cut}",
                file=sys.__stdout__,
            )
        if problem is not None:
            line, body = prompt
            broken.append(f"%%gemini {line}\n{body}\nplan={plan.ops!r} cut={plan.cut}\n→ {problem[:4000]}")
            raise AssertionError(broken[-1])

    try:
        case()
    finally:
        store.close()
        cases = (
            outcomes["answer"]
            + outcomes["one-line error"]
            + sum(v for k, v in outcomes.items() if k.startswith("escaped"))
        )
        print(f"fuzzed {cases} replies: {dict(outcomes)}")
        record(
            "fuzz_replies",
            {
                "cases": cases,
                "max_examples": EXAMPLES,
                "random": RANDOM,
                "failures": len(broken),
                "outcomes": dict(outcomes),
            },
        )
