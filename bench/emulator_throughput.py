"""Throughput and concurrency of the emulator's SSE streams, measured from a separate client process.

    python bench/emulator_throughput.py            # all benchmarks, 5 runs each after a warm-up
    python bench/emulator_throughput.py --runs 9 --clients 200

The emulator runs as ``python -m gemini_magics.emulator --port N`` in its own process, so the client's
parsing does not share a GIL with the server. Only public tools: ``time.perf_counter`` and httpx.

1. One streamed interaction of 10,000 text deltas (``[emulator: deltas=10000]``), read by a plain httpx
   client that splits SSE frames, counts ``data:`` lines and JSON-decodes each. Reports events/s (median
   of the runs after one warm-up) next to the target of 20,000 events/s.
2. N concurrent streaming clients (``httpx.AsyncClient``), each a normal short streamed interaction:
   all must end with ``interaction.completed``; reports p50/p99 time to first event and wall time.
3. For context, a shorter long stream read through the real SDK (``client.interactions.create(stream=True)``),
   which parses every event into its types: what a notebook client can actually consume.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

TARGET_EVENTS_PER_S = 20_000
MODEL = "gemini-3-flash-preview"


# -- the emulator in its own process ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """``python -m gemini_magics.emulator --port N`` as a child process, ready when its health route is."""

    def __init__(self, extra_args: Iterable[str] = ()) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gemini_magics.emulator", "--port", str(self.port), *extra_args]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{self.base_url}/emulator/health", timeout=1).raise_for_status()
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the emulator did not start on {self.base_url}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> EmulatorProcess:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- SSE parsing --------------------------------------------------------------------------------------------


def sse_events(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Split a byte stream into SSE frames (blank-line separated) and JSON-decode every ``data:`` line."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n")
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            for line in frame.split(b"\n"):
                if line.startswith(b"data:"):
                    payload = line[5:].strip()
                    if payload != b"[DONE]":
                        yield json.loads(payload)


# -- 1. throughput of one long stream --------------------------------------------------------------------


@dataclass
class StreamRun:
    events: int
    text_deltas: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def one_long_stream(client: httpx.Client, base_url: str, deltas: int) -> StreamRun:
    body = {"model": MODEL, "input": f"Benchmark [emulator: deltas={deltas}]", "stream": True}
    events = text = 0
    last: dict[str, Any] = {}
    started = time.perf_counter()
    with client.stream("POST", f"{base_url}/v1/interactions", json=body) as response:
        response.raise_for_status()
        for event in sse_events(response.iter_bytes()):
            events += 1
            if event["event_type"] == "step.delta" and event["delta"].get("type") == "text":
                text += 1
            last = event
    seconds = time.perf_counter() - started
    if text != deltas or last.get("event_type") != "interaction.completed":
        raise RuntimeError(f"incomplete stream: {text} text deltas, last event {last.get('event_type')}")
    return StreamRun(events, text, seconds)


def throughput(base_url: str, runs: int, deltas: int) -> list[StreamRun]:
    with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
        one_long_stream(client, base_url, deltas)  # warm-up: imports, JIT-free caches, connection
        return [one_long_stream(client, base_url, deltas) for _ in range(runs)]


# -- 2. many concurrent short streams -----------------------------------------------------------------------


@dataclass
class ConcurrencyRun:
    first_event: list[float]  # seconds from request to first event, per client
    wall: float
    failures: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.first_event)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def _one_client(client: httpx.AsyncClient, base_url: str, index: int) -> tuple[float, bool]:
    body = {"model": MODEL, "input": f"Tell me about owls, client {index}.", "stream": True}
    started = time.perf_counter()
    first: float | None = None
    last = ""
    async with client.stream("POST", f"{base_url}/v1/interactions", json=body) as response:
        if response.status_code != 200:
            return float("nan"), False
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                for line in frame.split(b"\n"):
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        if first is None:
                            first = time.perf_counter() - started
                        last = event["event_type"]
    return (first if first is not None else float("nan")), last == "interaction.completed"


async def _concurrent(base_url: str, clients: int) -> ConcurrencyRun:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(_one_client(client, base_url, i) for i in range(clients)))
        wall = time.perf_counter() - started
    return ConcurrencyRun([r[0] for r in results if r[1]], wall, sum(1 for r in results if not r[1]))


def concurrency(base_url: str, runs: int, clients: int) -> list[ConcurrencyRun]:
    asyncio.run(_concurrent(base_url, clients))  # warm-up
    return [asyncio.run(_concurrent(base_url, clients)) for _ in range(runs)]


# -- 3. the same long stream through the real SDK (for context) -------------------------------------------


def sdk_stream(base_url: str, runs: int, deltas: int) -> list[StreamRun]:
    """Events/s of ``client.interactions.create(stream=True)`` in google-genai: the SDK parses each event."""
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=base_url, retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key="bench", http_options=options)
    prompt = f"Benchmark [emulator: deltas={deltas}]"
    out = []
    for run in range(runs + 1):
        started = time.perf_counter()
        events = text = 0
        for event in client.interactions.create(model=MODEL, input=prompt, stream=True):
            events += 1
            text += event.event_type == "step.delta" and getattr(event.delta, "type", "") == "text"
        if run:  # the first run is the warm-up
            out.append(StreamRun(events, text, time.perf_counter() - started))
    return out


# -- report -----------------------------------------------------------------------------------------------


def machine() -> str:
    return f"{os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, {platform.platform()}"


def report_stream(title: str, runs: list[StreamRun], count: int) -> float:
    rates = [r.events_per_s for r in runs]
    median = statistics.median(rates)
    print(f"\n{title} ({runs[0].events:,} events), {count} runs after a warm-up")
    print("    runs (events/s): " + ", ".join(f"{r:,.0f}" for r in rates))
    seconds = statistics.median(r.seconds for r in runs)
    print(f"    median          : {median:,.0f} events/s ({seconds:.3f} s a stream)")
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs after one warm-up (default 5)")
    parser.add_argument("--deltas", type=int, default=10_000, help="text deltas in the long stream")
    parser.add_argument("--clients", type=int, default=100, help="concurrent streaming clients")
    parser.add_argument("--base-url", help="measure an emulator already running there instead")
    parser.add_argument("--sdk-deltas", type=int, default=2_000, help="text deltas in the SDK's stream")
    parser.add_argument("--only", choices=("throughput", "concurrency", "sdk"), help="run one benchmark")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    emulator = None if args.base_url else EmulatorProcess()
    try:
        if emulator is not None:
            emulator.wait_ready()
        base_url = args.base_url or emulator.base_url  # type: ignore[union-attr]
        ok = True
        if args.only in (None, "throughput"):
            stream_runs = throughput(base_url, args.runs, args.deltas)
            median = report_stream(
                f"[1] one stream of {args.deltas:,} text deltas read with httpx", stream_runs, args.runs
            )
            print(f"    target          : {TARGET_EVENTS_PER_S:,} events/s")
            verdict = "meets" if median >= TARGET_EVENTS_PER_S else "BELOW"
            print(f"    measured/target : {median / TARGET_EVENTS_PER_S:.2f}x ({verdict} target)")
            ok = ok and median >= TARGET_EVENTS_PER_S
        if args.only in (None, "concurrency"):
            conc_runs = concurrency(base_url, args.runs, args.clients)
            failures = sum(r.failures for r in conc_runs)
            print(f"\n[2] {args.clients} concurrent streaming clients, {args.runs} rounds after a warm-up")
            for i, r in enumerate(conc_runs, 1):
                print(
                    f"    round {i}: ok {len(r.first_event)}/{args.clients}, first event "
                    f"p50 {r.percentile(50) * 1000:.0f} ms, p99 {r.percentile(99) * 1000:.0f} ms, "
                    f"wall {r.wall:.3f} s"
                )
            print(
                "    median  : first event "
                f"p50 {statistics.median(r.percentile(50) for r in conc_runs) * 1000:.0f} ms, "
                f"p99 {statistics.median(r.percentile(99) for r in conc_runs) * 1000:.0f} ms, "
                f"wall {statistics.median(r.wall for r in conc_runs):.3f} s, failures {failures}"
            )
            ok = ok and failures == 0
        if args.only in (None, "sdk"):
            sdk_runs = sdk_stream(base_url, args.runs, args.sdk_deltas)
            report_stream(
                f"[3] for context: one stream of {args.sdk_deltas:,} text deltas read with google-genai",
                sdk_runs,
                args.runs,
            )
    finally:
        if emulator is not None:
            emulator.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
