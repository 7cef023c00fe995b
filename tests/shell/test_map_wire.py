"""``--map`` rows sent without the SDK's per-request marshalling (gemini_magics/mapping/wire.py).

Against a server that plays the real service's recordings back and keeps every request it gets: the rows
the fast path sends must be the requests the SDK itself would send (same URL, same headers, the row's
body), their answers and failures must read as on the SDK path, and a body the SDK would change never
takes the fast path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sample_server import SampleServer

from gemini_magics.backend import Backend
from gemini_magics.mapping import answer, wire

TEXT = "sample:docs_stream_text#raw"
PARAMS = {"model": "gemini-3-flash-preview", "store": False}


class CountingResource:
    """The SDK's interactions resource with its ``create`` calls counted (everything else passes through)."""

    def __init__(self, resource: Any) -> None:
        self.resource, self.creates = resource, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resource, name)

    async def create(self, **params: Any) -> Any:
        self.creates += 1
        return await self.resource.create(**params)


def client_for(server: SampleServer, hook: bool = True) -> Any:
    backend = Backend(server.base_url)
    return backend, backend.async_client(attempts=1, request_hook=wire.keep_request if hook else None)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def lines_of(path: wire.FastPath, params: dict[str, Any]) -> list[str]:
    return [line async for line in path.open(params)]


def test_rows_after_the_first_are_the_sdks_own_requests_with_their_own_body() -> None:
    with SampleServer() as server:
        _, client = client_for(server)
        resource = CountingResource(client.aio.interactions)
        path = wire.FastPath(resource)
        rows = [{**PARAMS, "input": f"{TEXT}"}, *({**PARAMS, "input": f"{TEXT} \n"} for _ in range(3))]

        async def main() -> list[list[str]]:
            return [await lines_of(path, row) for row in rows]

        answers = run(main())
        assert resource.creates == 1 and path.active  # the SDK vouched once, three rows went direct
        assert len({tuple(a) for a in answers}) == 1 and any("model_output" in line for line in answers[0])
        assert [r[2] for r in server.requests] == [{**row, "stream": True} for row in rows]
        assert {r[1] for r in server.requests} == {"/v1/interactions"}
        first, *others = ({k: v for k, v in h.items() if k != "content-length"} for h in server.headers)
        assert all(h == first for h in others)
        assert first["x-goog-api-key"] == "emulator-no-key" and first["accept"] == "text/event-stream"


def test_a_fast_row_reads_as_the_sdk_row_it_replaces() -> None:
    with SampleServer() as server:
        _, client = client_for(server)
        send = answer.sender(client)

        async def main() -> list[Any]:
            return [await send({**PARAMS, "input": TEXT}) for _ in range(2)]

        by_sdk, direct = run(main())
        assert by_sdk == direct and by_sdk.status == "completed" and by_sdk.text


def test_a_failed_fast_row_explains_itself_as_the_sdk_path_does() -> None:
    from gemini_magics.mapping import explainer

    with SampleServer() as server:
        backend, client = client_for(server)
        explain = explainer(backend)
        refused = {**PARAMS, "input": "not a recording"}

        async def main() -> tuple[BaseException, BaseException]:
            path = wire.FastPath(client.aio.interactions)
            try:
                await lines_of(path, refused)  # the SDK's path: nothing vouched yet
            except Exception as exc:
                by_sdk = exc
            await lines_of(path, {**PARAMS, "input": TEXT})  # vouches for this shape
            try:
                await lines_of(path, refused)
            except Exception as exc:
                return by_sdk, exc
            raise AssertionError("the fast path took a refused row")

        by_sdk, direct = run(main())
        assert isinstance(direct, wire.WireError)
        assert explain(direct) == explain(by_sdk)
        assert explain(direct).status == 400 and "input must name a sample" in explain(direct).message


def test_the_fast_path_keeps_to_shapes_the_sdk_sent_unchanged() -> None:
    with SampleServer() as server:
        _, client = client_for(server)
        resource = CountingResource(client.aio.interactions)
        path = wire.FastPath(resource)
        other_shape = {**PARAMS, "input": TEXT, "generation_config": {"temperature": 0.5}}

        async def main() -> None:
            await lines_of(path, {**PARAMS, "input": TEXT})
            await lines_of(path, other_shape)  # a new shape: the SDK again
            await lines_of(path, {**other_shape, "generation_config": {"temperature": 0.9}})
            await lines_of(path, {**PARAMS, "input": TEXT, "system_instruction": "Be brief."})

        run(main())
        assert resource.creates == 3  # one per shape; the second body of the second shape went direct


@pytest.mark.parametrize("hook", [False, True])
def test_without_the_sdks_request_every_row_takes_the_sdk_path(hook: bool) -> None:
    with SampleServer() as server:
        _, client = client_for(server, hook=hook)
        resource = CountingResource(client.aio.interactions)
        path = wire.FastPath(resource)
        rows = [{**PARAMS, "input": TEXT} for _ in range(3)]
        if hook:  # the SDK's request is seen, but the SDK rewrote the body (it drops None, sends 5 for 5.0)
            rows = [
                {**rows[0], "system_instruction": None},
                {**rows[1], "generation_config": {"max_output_tokens": 5.0}},
                {**rows[2], "generation_config": {"max_output_tokens": 5.0}},
            ]

        async def main() -> None:
            for row in rows:
                await lines_of(path, row)

        run(main())
        assert resource.creates == 3 and not path.active
