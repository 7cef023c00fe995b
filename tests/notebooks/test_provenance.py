"""Every answer's provenance is saved with its output: a notebook run headless in a real kernel (nbclient,
through ``gemini-magics run``) and read back with nbformat carries ``{"gemini": {...}}`` in the metadata of
each answer's output — streamed (its live view too), waited for, stateless, and research reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from gemini_magics import cli

KEYS = {"interaction_id", "backend", "chain", "replayed", "status", "usage"}


def answer(cell: Any) -> Any:
    """The cell's final view: its execute_result."""
    [found] = [o for o in cell.outputs if o.output_type == "execute_result"]
    return found


@pytest.mark.timeout(300)
def test_a_saved_notebook_keeps_each_answers_provenance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_MAGICS_CHAIN_DB", str(tmp_path / "chains.sqlite3"))
    cells = [
        "%load_ext gemini_magics",
        "%%gemini\nHi, my name is Phil.",
        "%%gemini --no-stream --chain side\nWhat is my name?",
        "%%gemini --no-store\nSay hello",
        "%%gemini --research --wait\nBees [emulator: duration=0.3]",
        "%%gemini --research\nWasps [emulator: duration=0.3]",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "provenance.ipynb"
    nbformat.write(nb, source)
    out = tmp_path / "run" / "provenance.ipynb"
    assert cli.main(["run", str(source), "-o", str(out), "--offline"]) == 0

    saved = nbformat.read(out, as_version=4).cells
    live, final = saved[1].outputs
    found = final.metadata["gemini"]
    assert KEYS | {"model"} == set(found)
    assert found["model"] == "gemini-3-flash-preview" and found["chain"] == "default"
    assert found["backend"] == "emulator" and found["replayed"] is False and found["status"] == "completed"
    assert found["interaction_id"].startswith("v1_") and found["interaction_id"] in final.data["text/plain"]
    assert found["usage"]["total_tokens"] == int(final.data["text/plain"].split(" tokens")[0].split()[-1])
    # The live view ends empty; its metadata names the answer it showed as it streamed.
    assert dict(live.data) == {"text/plain": ""} and live.metadata["gemini"] == {**found, "live": True}

    side = answer(saved[2]).metadata["gemini"]
    assert side["chain"] == "side" and "Phil" not in answer(saved[2]).data["text/markdown"]
    stateless = answer(saved[3]).metadata["gemini"]
    assert stateless["chain"] is None and stateless["interaction_id"].startswith("v2_")

    report = answer(saved[4]).metadata["gemini"]
    assert KEYS | {"agent"} == set(report) and report["agent"] == "deep-research-pro-preview-12-2025"
    assert report["usage"]["total_output_tokens"] > 0 and report["chain"] == "default"

    # A run followed live: its widget's output names the run at once (the report comes later).
    [running] = saved[5].outputs
    follows = running.metadata["gemini"]
    assert follows["agent"] == "deep-research-pro-preview-12-2025" and follows["background"] is True
    assert follows["chain"] == "default" and follows["backend"] == "emulator"
    assert follows["interaction_id"] in running.data["text/markdown"].replace("\\_", "_")
