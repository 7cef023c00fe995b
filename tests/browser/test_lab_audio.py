"""Audio answers in JupyterLab in Chromium: the players are there and the browser can play what they hold.

notebooks/11_audio.ipynb is run with Run All against the offline emulator: every TTS answer shows its
widget view with an ``ipywidgets.Audio`` player, and ``bye.audio`` (IPython's ``Audio``) shows an HTML5
player. The notebook as committed, opened without running, shows the static fallback: an ``<audio>`` whose
``src`` is a ``data:audio/wav`` URI, kept by JupyterLab's sanitizer in the untrusted notebook. For each
player Chromium loads the audio (``loadedmetadata``) and decodes it with Web Audio; its duration must be the
one the answer's line states ("**Audio** · 1.28 s · …"), so a player that shows but cannot play fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "11_audio.ipynb"
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / NAME
# The duration the browser reads from an <audio> element's metadata, and from decoding its bytes.
DURATIONS = """async a => {
  if (a.readyState < 1) {
    await new Promise((ok, fail) => {
      a.addEventListener('loadedmetadata', ok, {once: true});
      const failed = () => fail(new Error('audio error ' + (a.error && a.error.code)));
      a.addEventListener('error', failed, {once: true});
      a.load();
    });
  }
  const src = a.currentSrc || a.src || a.querySelector('source').src;
  const bytes = await (await fetch(src)).arrayBuffer();
  const decoded = await new OfflineAudioContext(1, 1, 24000).decodeAudioData(bytes);
  return [a.duration, decoded.duration];
}"""
LINE = re.compile(r"\*\*Audio\*\* · (\d+\.\d\d) s · ")


def speech_cells(nb: Any) -> list[tuple[int, float]]:
    """(cell index, seconds its answer's line states) for each answer that carries audio."""
    found = []
    for i, cell in enumerate(nb.nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            said = LINE.search(output.get("data", {}).get("text/markdown", ""))
            if said:
                found.append((i, float(said.group(1))))
    return found


def assert_plays(player: Any, seconds: float) -> None:
    expect(player).to_be_visible()
    metadata, decoded = player.evaluate(DURATIONS)
    assert metadata == pytest.approx(seconds, abs=0.01) and decoded == pytest.approx(seconds, abs=0.01)


def test_audio_players_play_in_a_running_notebook(open_notebook: Any, artifacts: Path) -> None:
    nb = open_notebook(NAME)
    nb.run_all()
    nb.wait_until_done()
    cells = speech_cells(nb)
    assert len(cells) == 4, cells  # three TTS answers and the WAV one
    for index, seconds in cells:
        view = nb.outputs(index).locator(".jupyter-widgets").first
        expect(view).to_be_visible()
        players = nb.outputs(index).locator("audio.jupyter-widgets")
        expect(players).to_have_count(1)
        assert players.first.get_attribute("src").startswith("blob:")
        assert players.first.evaluate("a => a.controls && !a.autoplay && a.paused")
        assert_plays(players.first, seconds)
        expect(nb.outputs(index).get_by_text(re.compile(rf"Audio · {seconds:.2f} s · "))).to_be_visible()
    dialogue = nb.outputs(nb.index("%%gemini --no-store -m gemini-3.1-flash-tts-preview --voice Joe="))
    expect(dialogue.get_by_text("Jane: Hello!")).to_be_visible()
    bye = dict(cells)[nb.index("%%gemini bye")]
    assert_plays(nb.outputs(nb.index("bye.audio")).locator("audio"), bye)  # IPython.display.Audio
    transcript = nb.outputs(nb.index("%%gemini --new -m gemini-3.5-transcribe"))
    expect(transcript.get_by_text("Hello, Jupyter!")).to_be_visible()
    problems = nb.problems()
    nb.cell(
        nb.index("%%gemini --no-store -m gemini-3.1-flash-tts-preview --voice Joe=")
    ).scroll_into_view_if_needed()
    nb.screenshot(artifacts, "11_audio-players")
    assert not problems, problems


def test_saved_notebook_keeps_playable_audio(open_notebook: Any, lab: Any, artifacts: Path) -> None:
    """Opened as committed, not run: each answer's Markdown holds an ``<audio>`` with the WAV as a data
    URI; the sanitizer keeps it (the output is not trusted) and the browser plays it."""
    folder = lab.root / "saved-audio"
    folder.mkdir(exist_ok=True)
    (folder / NAME).write_bytes(NOTEBOOK.read_bytes())
    nb = open_notebook(f"saved-audio/{NAME}")
    cells = speech_cells(nb)
    assert len(cells) == 4, cells
    for index, seconds in cells:
        players = nb.outputs(index).locator('.jp-RenderedMarkdown audio[src^="data:audio/wav;base64,"]')
        expect(players).to_have_count(1)
        shown_in = players.first.locator("xpath=ancestor::div[contains(@class, 'jp-RenderedMarkdown')]")
        expect(shown_in).not_to_have_class(re.compile("jp-mod-trusted"))
        assert_plays(players.first, seconds)
    nb.cell(cells[0][0]).scroll_into_view_if_needed()
    nb.screenshot(artifacts, "as_committed_11_audio-players")
    assert not nb.problems(), nb.problems()
