"""``%gemini export``: a chain's conversation as Markdown, as raw JSON turns, and as a notebook that strict
nbval re-runs on the emulator with the same outputs.

Exact equality of a re-run's outputs with the exported ones is impossible for a few values only: every run
gets new interaction ids (the service's), takes its own time (the footer's seconds) and PNG bytes depend on
the zlib that compressed them. Those are what ``tests/notebooks/sanitize.cfg`` masks; everything else —
the answers, thoughts, reports, citations, token counts — must match.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from shell_checks import failed, ok

from gemini_magics.chain import ChainStore

REPO = Path(__file__).resolve().parents[2]
SANITIZE = REPO / "tests" / "notebooks" / "sanitize.cfg"
QUICK = "[emulator: duration=0.3]"
FUNCTION = '''
def get_weather(city: str) -> dict:
    """The weather in a city."""
    return {"temp": 21, "city": city}
'''


def shown(run: Any) -> str:
    assert run.success, run.error_in_exec
    return run.result._repr_mimebundle_()[0]["text/markdown"]


def test_markdown_and_json_hold_prompts_thoughts_tools_images_and_citations(
    kernel: Any, tmp_path: Path, capsys: Any
) -> None:
    kernel.run(FUNCTION)
    ok(kernel.run("%%gemini\nHi, my name is Phil."))
    failed(kernel.run("%%gemini\nThis fails [emulator: error=400]"), capsys)  # not in the conversation
    ok(kernel.run("%%gemini --tools code_execution\nWhat is 17 * 23?"))
    ok(kernel.run("%%gemini --tools google_search\nWho won the 2022 World Cup?"))
    ok(kernel.run("%%gemini --tool get_weather\nWhat is the weather in Paris?"))
    ok(kernel.run("%%gemini -m gemini-3.1-flash-image-preview\nDraw a red circle"))
    assert kernel.run(f"%%gemini --research --wait\nBees {QUICK}").success
    ok(kernel.run("%%gemini --chain other\nA side question"))

    text = shown(kernel.run("%gemini export"))
    assert text.startswith("# Chain `default`\n\n*6 turns · ")
    assert (
        len(re.findall(r"^## \d · `", text, re.MULTILINE)) == 6
        and "This fails" not in text
        and "A side question" not in text
    )
    assert "```text\nHi, my name is Phil.\n```" in text and "**Thoughts**" in text
    assert "391" in text and "```python" in text  # the code run and what it printed
    assert "## 2 · `gemini-3-flash-preview` (model) · `--tools code_execution`" in text
    assert "](https://" in text  # search citations, with their links
    assert "get_weather" in text and "**Function result**" in text
    assert "data:image/png;base64," in text  # the image, embedded
    assert "# Research report: Bees" in text and "(agent)" in text
    assert "<script" not in text

    assert kernel.run(f"%gemini export -o {tmp_path / 'chat.md'}").success
    assert "Exported chain 'default' (6 turns) to" in capsys.readouterr().out
    assert (tmp_path / "chat.md").read_text(encoding="utf-8") == text  # what the cell showed

    assert kernel.run(f"%gemini export other -o {tmp_path / 'other.json'}").success
    body = json.loads((tmp_path / "other.json").read_text(encoding="utf-8"))
    [turn] = body["turns"]
    with ChainStore(kernel.db) as store:
        [stored] = store.chain(kernel.notebook, "other").turns()
    assert body["chain"] == "other" and turn["prompt"] == stored.prompt == "A side question\n"
    assert turn["interaction_id"] == stored.interaction_id and turn["usage"] == stored.usage
    assert turn["usage"]["total_tokens"] > 0 and turn["view"]["markdown"].startswith("**Thoughts**")
    assert turn["view"]["plain"].endswith(" s") and turn["answer"] in turn["view"]["plain"]


def test_export_errors_are_one_line(kernel: Any, tmp_path: Path, capsys: Any) -> None:
    failed(kernel.run("%gemini export"), capsys, "nothing to export yet")
    ok(kernel.run("%%gemini\nHi"))
    failed(kernel.run("%gemini export nowhere"), capsys, "no chain 'nowhere'", "%gemini chains")
    failed(kernel.run(f"%gemini export -o {tmp_path / 'chat.txt'}"), capsys, ".md, .json or .ipynb")
    failed(kernel.run("%gemini export a b"), capsys, "usage: %gemini export [CHAIN] [-o FILE")
    failed(kernel.run("%gemini export -o"), capsys, "usage: %gemini export")
    kernel.run("%gemini new")
    failed(kernel.run("%gemini export"), capsys, "no answer since it was last reset")


def nbval(path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    """Strict nbval in a fresh process whose kernels import this checkout and run offline."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(PYTHONPATH=str(REPO), GEMINI_MAGICS_CHAIN_DB=str(db))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval"]
    command += ["--nbval-sanitize-with", str(SANITIZE), str(path)]
    return subprocess.run(command, cwd=path.parent, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(400)
def test_an_exported_notebook_reruns_under_strict_nbval(kernel: Any, tmp_path: Path) -> None:
    kernel.run("%config GeminiMagics.backend = 'emulator'")  # offline, as the re-run will be
    ok(kernel.run("%%gemini\nHi, my name is Phil."))
    ok(kernel.run("%%gemini --no-stream\nWhat is my name?"))
    ok(kernel.run("%%gemini --thinking minimal --tools code_execution -s 'Be brief'\nWhat is 17 * 23?"))
    ok(kernel.run("%%gemini -m gemini-3.1-flash-image-preview\nDraw a red circle"))
    assert kernel.run(f"%%gemini --research --wait\nBees {QUICK}").success
    ok(kernel.run("%%gemini\nWhat did I say earlier?"))
    out = tmp_path / "conversation.ipynb"
    assert kernel.run(f"%gemini export -o {out}").success

    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    sources = [cell.source for cell in nb.cells]
    assert sources[0] == "%load_ext gemini_magics" and len(sources) == 7
    assert sources[1] == "%%gemini --new -m gemini-3-flash-preview\nHi, my name is Phil."
    assert sources[3] == (
        "%%gemini -m gemini-3-flash-preview --system 'Be brief' --thinking minimal --tools code_execution\n"
        "What is 17 * 23?"
    )
    assert sources[2].startswith("%%gemini -m gemini-3-flash-preview --no-stream\n")
    assert sources[5].startswith("%%gemini --agent deep-research-pro-preview-12-2025 --wait\nBees")
    final = nb.cells[2].outputs[-1]
    assert final.output_type == "execute_result" and "Your name is **Phil**" in final.data["text/markdown"]
    assert final.metadata["gemini"]["model"] == "gemini-3-flash-preview"
    assert (
        final.metadata["gemini"]["backend"] == "emulator" and final.metadata["gemini"]["chain"] == "default"
    )
    assert "image/png" in nb.cells[4].outputs[-1].data
    assert [o.output_type for o in nb.cells[1].outputs] == ["display_data", "execute_result"]  # the live view
    assert [o.output_type for o in nb.cells[2].outputs] == ["execute_result"]  # --no-stream: none
    assert "391" in nb.cells[3].outputs[-1].data["text/markdown"]
    assert [o.output_type for o in nb.cells[5].outputs] == ["execute_result"]  # --wait: the report only

    checked = nbval(out, tmp_path / "rerun.sqlite3")
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    assert "7 passed" in checked.stdout
