"""The server extension's REST API against real runs: the magics of this process (an ``InteractiveShell``)
write them into the chain and map stores as a kernel would, on the emulator the extension started."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from server_testing import get_json, run_of, wait_for
from tornado.httpclient import HTTPClientError

from gemini_magics.chain import ChainStore

RUNNING = ("in_progress", "queued")


async def fails(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a request that must fail."""
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("gemini-magics", "api", *parts, **kwargs)
    response = caught.value.response
    assert response is not None
    return caught.value.code, json.loads(response.body)


async def test_runs_of_two_notebooks_are_listed_with_their_paths(
    jp_fetch: Any, jp_root_dir: Path, notebook: Any
) -> None:
    first = notebook(f"notebook:{jp_root_dir / 'a.ipynb'}")
    reefs = first.cell("--research", "Coral reefs [emulator: duration=3]")
    second = notebook(f"notebook:{jp_root_dir / 'sub' / 'b.ipynb'}")
    bees = second.cell("--research", "Bees [emulator: duration=0.5]")
    second.shell.user_ns["items"] = ["one", "two", "three"]
    second.cell("out --map items --store", "Say {text}")
    lonely = notebook("session:no-server")  # a kernel that no server named: listed, without a path
    lonely.cell("--research --wait", "Moss [emulator: duration=0.2]")

    # The run of a.ipynb is listed while it runs, followed by its kernel (this process), with its thoughts.
    answer = await wait_for(jp_fetch, lambda a: bool((run_of(a, reefs.id) or {}).get("thought")))
    run = run_of(answer, reefs.id)
    assert run is not None
    assert run["status"] in RUNNING and run["followed_by"] == "kernel" and not run["has_report"]
    assert run["kind"] == "research" and run["path"] == "a.ipynb" and run["chain"] == "default"
    assert run["agent"].startswith("deep-research") and run["finished"] is None and run["elapsed"] >= 0

    answer = await wait_for(
        jp_fetch,
        lambda a: all((run_of(a, i) or {}).get("status") == "completed" for i in (reefs.id, bees.id)),
    )
    by_id = {run["id"]: run for run in answer["runs"]}
    assert by_id[bees.id]["path"] == "sub/b.ipynb" and by_id[bees.id]["has_report"]
    assert (
        by_id[reefs.id]["finished"] >= by_id[reefs.id]["started"] and by_id[reefs.id]["followed_by"] is None
    )
    reef = by_id[reefs.id]
    # ``started`` is when the kernel recorded the run, after the create returned: under load a 3 s run can
    # read as a little over 2 s.
    assert reef["elapsed"] >= 1.5 and reef["elapsed"] == pytest.approx(
        reef["finished"] - reef["started"], abs=0.5
    )
    jobs = [run for run in answer["runs"] if run["kind"] == "map"]
    assert len(jobs) == 1 and jobs[0]["id"].startswith("map-")
    assert jobs[0]["status"] == "completed" and jobs[0]["path"] == "sub/b.ipynb" and jobs[0]["model"]
    moss = [run for run in answer["runs"] if run["notebook"] == "session:no-server"]
    assert len(moss) == 1 and moss[0]["path"] is None and moss[0]["status"] == "completed"
    assert [run["started"] for run in answer["runs"]] == sorted(
        (r["started"] for r in answer["runs"]), reverse=True
    )
    assert answer["now"] >= max(run["started"] for run in answer["runs"])


async def test_requests_without_the_token_are_refused(
    jp_fetch: Any, notebook: Any, jp_root_dir: Path
) -> None:
    run = notebook(f"notebook:{jp_root_dir / 'a.ipynb'}").cell("--research", "Comets [emulator: duration=5]")
    wrong = {"Authorization": "token not-the-token"}
    for parts, method in (
        (("runs",), "GET"),
        (("runs", run.id, "report"), "GET"),
        (("runs", run.id, "cancel"), "POST"),
        (("status",), "GET"),
    ):
        body = b"" if method == "POST" else None
        code, _ = await fails(jp_fetch, *parts, method=method, body=body, headers=wrong)
        assert code == 403, parts
    # The run was not cancelled by the refused request.
    answer = await get_json(jp_fetch, "runs")
    assert run_of(answer, run.id)["status"] in RUNNING  # type: ignore[index]
    run.cancel()


async def test_cancel_report_and_status(jp_fetch: Any, notebook: Any, jp_root_dir: Path) -> None:
    nb = notebook(f"notebook:{jp_root_dir / 'a.ipynb'}")
    done = nb.cell("--research --wait", "Lichens [emulator: duration=0.3]")
    slow = nb.cell("--research", "Glaciers [emulator: duration=60]")
    nb.shell.user_ns["items"] = ["one", "two"]
    nb.cell("out --map items --store", "Say {text}")

    report = await get_json(jp_fetch, "runs", done.id, "report")
    assert report["id"] == done.id and report["status"] == "completed"
    assert done.text.strip()[:40] in report["markdown"]

    code, body = await fails(jp_fetch, "runs", slow.id, "report")
    assert code == 409 and "still" in body["message"]
    cancelled = await get_json(jp_fetch, "runs", slow.id, "cancel", method="POST", body=b"")
    assert cancelled["id"] == slow.id and cancelled["status"] in ("cancelled", *RUNNING)
    answer = await wait_for(jp_fetch, lambda a: (run_of(a, slow.id) or {}).get("status") == "cancelled")
    assert not run_of(answer, slow.id)["has_report"]  # type: ignore[index]
    store = ChainStore(Path(nb.shell.config.GeminiMagics.chain_db))
    for _ in range(100):  # its kernel (this process) settles it when its own tracker hears of the cancel
        if store.find(slow.id)[2].status == "cancelled":  # type: ignore[index]
            break
        await asyncio.sleep(0.1)
    assert store.find(slow.id)[2].status == "cancelled"  # type: ignore[index]

    code, body = await fails(jp_fetch, "runs", slow.id, "cancel", method="POST", body=b"")
    assert code == 409 and "already ended cancelled" in body["message"]
    job = next(run for run in answer["runs"] if run["kind"] == "map")
    code, body = await fails(jp_fetch, "runs", job["id"], "cancel", method="POST", body=b"")
    assert code == 409 and "\n" not in body["message"]
    summary = await get_json(jp_fetch, "runs", job["id"], "report")
    assert "2 of 2 rows answered" in summary["markdown"]
    for parts in (("runs", "nope", "report"), ("runs", "map-nope", "report")):
        code, body = await fails(jp_fetch, *parts)
        assert code == 404 and body["message"]
    code, _ = await fails(jp_fetch, "runs", "v1_nope", "cancel", method="POST", body=b"")
    assert code == 404

    status = await get_json(jp_fetch, "status", params={"path": "a.ipynb"})
    assert status["chain"] == "default" and status["turns"] >= 1 and status["model"]
    assert status["tokens"] > 0 and status["cost_usd"] > 0 and status["backend"] == "offline emulator"
    assert (await get_json(jp_fetch, "status", params={"path": "elsewhere.ipynb"}))["turns"] == 0
    code, body = await fails(jp_fetch, "status")
    assert code == 400 and "path" in body["message"]


async def test_runs_are_listed_while_many_requests_come_at_once(
    jp_fetch: Any, notebook: Any, jp_root_dir: Path
) -> None:
    """The handlers work off the event loop: twenty concurrent requests all answer."""
    notebook(f"notebook:{jp_root_dir / 'a.ipynb'}").cell("--research --wait", "Owls [emulator: duration=0.2]")
    answers = await asyncio.gather(*(get_json(jp_fetch, "runs") for _ in range(20)))
    assert all(len(a["runs"]) == 1 for a in answers)
