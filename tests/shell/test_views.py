"""Each step type's view and its static fallback, from real ``%%gemini`` cells and real turns.

Cells run in a real InteractiveShell against the emulator; what a front end would receive is captured
where IPython hands it over (``display_pub.publish`` for ``display()``, ``displayhook.write_format_data``
for a cell's result). Tool steps need tools, which the magic cannot ask for yet: those views are checked
on Results that ``turn.run`` builds with the real SDK against the emulator.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from gemini_magics import blocks as b
from gemini_magics.backend import Backend
from gemini_magics.render import static, view
from gemini_magics.turn import Result, run

Bundle = tuple[dict[str, Any], dict[str, Any]]

FLASH = "gemini-3-flash-preview"
PROMPT = "Explain entropy in three bullet points"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
}


class Shown:
    """What the shell showed: every ``display()`` and every cell result, as (data, metadata) bundles."""

    def __init__(self) -> None:
        self.displays: list[Bundle] = []
        self.results: list[Bundle] = []

    @property
    def all(self) -> list[Bundle]:
        return self.displays + self.results


@pytest.fixture
def shown(kernel: Any, monkeypatch: pytest.MonkeyPatch) -> Shown:
    seen = Shown()
    publish = kernel.shell.display_pub.publish
    write = kernel.shell.displayhook.write_format_data

    def spy_publish(data: dict, metadata: dict | None = None, *args: Any, **kwargs: Any) -> None:
        seen.displays.append((data, metadata or {}))
        publish(data, metadata, *args, **kwargs)

    def spy_write(format_dict: dict, md_dict: dict | None = None) -> None:
        seen.results.append((format_dict, md_dict or {}))
        write(format_dict, md_dict)

    monkeypatch.setattr(kernel.shell.display_pub, "publish", spy_publish)
    monkeypatch.setattr(kernel.shell.displayhook, "write_format_data", spy_write)
    # A kernel formats every type (the terminal test shell only text/plain).
    formatter = kernel.shell.display_formatter
    monkeypatch.setattr(formatter, "active_types", list(formatter.format_types))
    return seen


def answer(kernel: Any, shown: Shown, source: str) -> tuple[Result, Bundle]:
    """Run a cell that must succeed; its Result and the bundle the shell showed for it."""
    before = len(shown.results)
    outcome = kernel.run(source)
    assert outcome.success, outcome.error_in_exec
    assert isinstance(outcome.result, Result)
    assert len(shown.results) == before + 1, "the cell's result was not shown"
    return outcome.result, shown.results[-1]


@pytest.fixture(scope="module")
def backend(emulator: Any) -> Iterator[Backend]:
    be = Backend(emulator.base_url, retries=0)
    yield be
    be.close()


def turn(backend: Backend, prompt: str, tools: list[dict[str, Any]] | None, stream: bool = False) -> Result:
    params: dict[str, Any] = {
        "model": FLASH,
        "input": prompt,
        "generation_config": {"thinking_summaries": "auto"},
    }
    if tools:
        params["tools"] = tools
    result = run(backend, params, stream)
    assert result.error is None, result.error
    return result


def png_size(data: bytes) -> tuple[int, int]:
    """Check ``data`` is a whole, valid PNG (chunk CRCs, IHDR, inflatable IDAT, IEND); its size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks, idat = 8, [], b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
            row = 1 + (width * channels * depth + 7) // 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    assert len(zlib.decompress(idat)) == height * row
    return width, height


def widgets(root: Any) -> Iterator[Any]:
    yield root
    for child in getattr(root, "children", ()):
        yield from widgets(child)


def outputs_markdown(root: Any) -> list[str]:
    """The Markdown of every Output widget under ``root``; asserts each output is Markdown display data."""
    import ipywidgets as w

    texts = []
    for widget in widgets(root):
        if isinstance(widget, w.Output):
            for out in widget.outputs:
                assert out["output_type"] == "display_data"
                assert "text/html" not in out["data"], "model text must never be shown as HTML"
                assert "text/markdown" in out["data"]
                texts.append(out["data"]["text/markdown"])
    return texts


UNESCAPED_JS_LINK = re.compile(r"(?<!\\)\]\(\s*<?\s*javascript:", re.IGNORECASE)


def assert_no_html(data: dict[str, Any]) -> None:
    assert "text/html" not in data, "model output must never be shown as raw HTML"


# -- text and thoughts, through real cells ------------------------------------------------------------


def test_text_answer_is_markdown(kernel: Any, shown: Shown) -> None:
    result, (data, _) = answer(kernel, shown, f"%%gemini\n{PROMPT}")
    assert_no_html(data)
    markdown = data["text/markdown"]
    assert "Here is a short answer about *entropy*" in markdown
    assert len(re.findall(r"^- ", markdown, re.MULTILINE)) == 3
    assert result.text.strip() in markdown
    assert result.text.strip() in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # no kernel, no front end: no widget


@pytest.mark.parametrize("configured", [True, False])
def test_thoughts_flag_shows_summary_quoted(kernel: Any, shown: Shown, configured: bool) -> None:
    kernel.shell.run_line_magic("config", f"GeminiMagics.thoughts = {configured}")
    result, (data, _) = answer(kernel, shown, f"%%gemini --thoughts\n{PROMPT}")
    markdown = data["text/markdown"]
    assert result.thoughts, "--thoughts asks for summaries"
    summary = result.thoughts[0].strip()
    assert "**Thoughts**\n\n> **Understanding the request.**" in markdown
    quoted = "\n".join("> " + line if line else ">" for line in summary.splitlines())
    assert quoted in markdown
    assert markdown.index("**Thoughts**") < markdown.index(result.text.strip()[:30])


@pytest.mark.parametrize("configured", [True, False])
def test_no_thoughts_flag_hides_them(kernel: Any, shown: Shown, configured: bool) -> None:
    kernel.shell.run_line_magic("config", f"GeminiMagics.thoughts = {configured}")
    result, (data, _) = answer(kernel, shown, f"%%gemini --no-thoughts\n{PROMPT}")
    assert result.thoughts == []
    assert "Thoughts" not in data["text/markdown"]
    assert "Understanding the request" not in data["text/markdown"] + data["text/plain"]
    assert result.text.strip() in data["text/markdown"]


def test_thoughts_default_follows_config(kernel: Any, shown: Shown) -> None:
    kernel.shell.run_line_magic("config", "GeminiMagics.thoughts = False")
    _, (hidden, _) = answer(kernel, shown, f"%%gemini\n{PROMPT}")
    kernel.shell.run_line_magic("config", "GeminiMagics.thoughts = True")
    _, (visible, _) = answer(kernel, shown, f"%%gemini\n{PROMPT}")
    assert "**Thoughts**" not in hidden["text/markdown"]
    assert "**Thoughts**" in visible["text/markdown"]


# -- images ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_image_answer_carries_a_real_png(kernel: Any, shown: Shown, stream: str) -> None:
    result, (data, _) = answer(
        kernel, shown, f"%%gemini -m gemini-3-pro-image-preview {stream}\nA lighthouse"
    )
    assert_no_html(data)
    png = data["image/png"]
    assert isinstance(png, bytes)
    assert png_size(png) == (256, 256)
    assert result.image_bytes == [png]
    # The Markdown view embeds the image (JupyterLab shows Markdown, not the PNG, of a saved output).
    embedded = re.findall(
        r"!\[image: image/png, [\d,]+ bytes\]\(data:image/png;base64,([\w+/=]+)\)", data["text/markdown"]
    )
    assert [base64.b64decode(x) for x in embedded] == [png]
    assert "Here is an image for: A lighthouse" in data["text/markdown"]


# -- tool steps: Results from turn.run (real SDK + emulator) ------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_code_execution_view(backend: Backend, stream: bool) -> None:
    result = turn(backend, "What is the sum of the first 10 primes?", [{"type": "code_execution"}], stream)
    [code] = [x for x in result.blocks if isinstance(x, b.CodeBlock)]
    markdown = view.markdown(result)
    assert "**Code execution** (python)\n\n```python\n" in markdown
    assert code.code.strip() in markdown and "primes" in code.code
    assert "**Output**\n\n```\nThe first 10 primes sum to 129\n```" in markdown
    texts = outputs_markdown(view.build_widget(result))
    assert any("**Code execution**" in t and "129" in t for t in texts)


@pytest.mark.parametrize("stream", [False, True])
def test_google_search_view_links(backend: Backend, stream: bool) -> None:
    result = turn(backend, "History of the printing press", [{"type": "google_search"}], stream)
    [search] = [x for x in result.blocks if isinstance(x, b.SearchBlock)]
    markdown = view.markdown(result)
    assert "**Google Search**: *History of the printing press*" in markdown
    links = re.findall(r"^- \[([^\]]+)\]\((https://[^)\s]+)\)$", markdown, re.MULTILINE)
    assert len(links) == 3 and len(search.links) == 3
    assert (
        "History Of The Printing - Wikipedia",
        "https://en.wikipedia.org/wiki/History_Of_The_Printing",
    ) in links
    # The search suggestions are HTML from the service: mined for links, never passed on.
    assert "<a " not in markdown and "carousel" not in markdown


def test_search_link_titles_are_escaped(backend: Backend) -> None:
    result = turn(backend, "History of the printing press", [{"type": "google_search"}])
    [search] = [x for x in result.blocks if isinstance(x, b.SearchBlock)]
    search.links[0].title = "Evil](javascript:alert(1)) *loud* <b>bold</b> [x]"
    search.links[1].url = "javascript:alert(2)"
    markdown = view.markdown(result)
    # The title's brackets are escaped, so the link text ends at the last "](" and the target is https.
    assert r"[Evil\](javascript:alert(1)) \*loud\* \<b\>bold\</b\> \[x\]](https://" in markdown
    assert not UNESCAPED_JS_LINK.search(markdown)
    assert "- History Of The Printing - Encyclopaedia Britannica (javascript:alert(2))" in markdown  # text
    for text in outputs_markdown(view.build_widget(result)):
        assert not UNESCAPED_JS_LINK.search(text)


@pytest.mark.parametrize("stream", [False, True])
def test_url_context_view(backend: Backend, stream: bool) -> None:
    prompt = "Summarise https://example.com/a and https://example.com/404"
    result = turn(backend, prompt, [{"type": "url_context"}], stream)
    markdown = view.markdown(result)
    assert "**URL context**" in markdown
    assert "- [https://example.com/a](https://example.com/a) — success" in markdown
    assert "- [https://example.com/404](https://example.com/404) — error" in markdown


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_view(backend: Backend, stream: bool) -> None:
    result = turn(backend, "What's the weather in Boston?", [WEATHER], stream)
    assert result.status == "requires_action" and result.ok
    [call] = result.function_calls
    assert (call.name, call.arguments) == ("get_weather", {"location": "Boston"})
    markdown = view.markdown(result)
    # Inside a code span backslash escapes are literal: the name must be shown as it is.
    assert "**Function call** `get_weather`" in markdown
    assert '```json\n{\n "location": "Boston"\n}\n```' in markdown
    assert "Function result" not in markdown


def test_function_result_view(backend: Backend) -> None:
    """A call and its result pair up in one view (the service can return both in one interaction)."""
    result = turn(backend, "What's the weather in Boston?", [WEATHER])
    steps = [s.model_dump(mode="json", exclude_none=True) for s in result.interaction.steps]
    call = next(s for s in steps if s["type"] == "function_call")
    steps.append({"type": "function_result", "call_id": call["id"], "name": "get_weather", "result": "21 °C"})
    steps.append({"type": "function_result", "call_id": "nobody", "name": "x", "result": "lost"})
    result.blocks = b.from_steps(steps)
    markdown = view.markdown(result)
    assert "**Function result**\n\n```\n21 °C\n```" in markdown
    assert "*[function\\_result step]*" in markdown  # a result without its call: compact, not an error


# -- unknown steps, footer, badge, metadata, --json -----------------------------------------------------


def test_unknown_steps_are_compact(backend: Backend) -> None:
    result = turn(backend, PROMPT, None)
    steps = [s.model_dump(mode="json", exclude_none=True) for s in result.interaction.steps]
    payload = {"server": "files", "arguments": {"path": "/" + "x" * 500}, "note": "`ticks` and *stars*"}
    steps.insert(1, {"type": "quantum_oracle_call", "id": "m1", **payload})
    steps.append(
        {"type": "model_output", "content": [{"type": "hologram", "data": "AAAA", "mime_type": "model/x-h"}]}
    )
    result.blocks = b.from_steps(steps)
    markdown = view.markdown(result)
    [line] = [x for x in markdown.splitlines() if x.startswith("*[quantum\\_oracle\\_call step]*")]
    assert len(line) < 200 and "xxxx" in line and "\\" not in line.split("]*", 1)[1]
    assert "*[hologram step]*" in markdown  # audio is known now: tests/shell/test_audio_cells.py
    assert result.text.strip() in markdown  # the known steps are still shown
    texts = outputs_markdown(view.build_widget(result))
    assert any("quantum\\_oracle\\_call step" in t for t in texts)


def test_footer_has_model_id_tokens_seconds(kernel: Any, shown: Shown) -> None:
    result, (data, _) = answer(kernel, shown, "%%gemini -m gemini-3-pro-image-preview\nA red kite")
    footer = data["text/markdown"].rstrip().splitlines()[-1]
    total = result.usage["total_tokens"]
    assert total >= 1000  # so the thousands separator is exercised
    match = re.fullmatch(r"<sub>(.+) · (.+) · ([\d,]+) tokens · (\d+\.\d) s</sub>", footer)
    assert match, footer
    assert match.group(1) == "gemini-3-pro-image-preview"
    assert match.group(2).replace("\\", "") == result.id
    assert match.group(3) == f"{total:,}"
    assert abs(float(match.group(4)) - result.elapsed) <= 0.051
    assert data["text/plain"].splitlines()[-1].startswith(f"-- gemini-3-pro-image-preview · {result.id} · ")


def test_emulator_badge_on_every_answer(kernel: Any, shown: Shown, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    kernel.shell.run_line_magic("config", "GeminiMagics.backend = 'emulator'")
    for source in (
        f"%%gemini\n{PROMPT}",
        f"%%gemini --no-stream\n{PROMPT}",
        "%%gemini -m gemini-3-pro-image-preview\nA lighthouse",
        "%gemini What is 2 + 2?",
    ):
        _, (data, _) = answer(kernel, shown, source)
        assert data["text/markdown"].startswith(view.EMULATOR_BADGE)
        assert data["text/plain"].startswith("[offline emulator]\n")
    # A cut stream that cannot be resumed (not stored) is shown (what arrived, marked failed), with the badge.
    before = len(shown.displays)
    outcome = kernel.run(f"%%gemini --no-store\n{PROMPT} [emulator: deltas=40, cut=12]")
    assert not outcome.success
    [(data, _)] = shown.displays[before:]
    assert data["text/markdown"].startswith(view.EMULATOR_BADGE)
    assert "**Failed**" in data["text/markdown"]


def test_no_badge_for_other_backends(kernel: Any, shown: Shown) -> None:
    _, (data, _) = answer(kernel, shown, f"%%gemini\n{PROMPT}")  # the kernel fixture names a URL
    assert "offline emulator" not in data["text/markdown"] + data["text/plain"]


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_output_metadata(kernel: Any, shown: Shown, stream: str) -> None:
    result, (_, metadata) = answer(kernel, shown, f"%%gemini {stream}\n{PROMPT}")
    assert re.fullmatch(r"v1_\w+", result.id or "")
    provenance = {"backend": "endpoint", "chain": "default", "replayed": False, "usage": result.usage}
    expected = {"gemini": {"interaction_id": result.id, "model": FLASH, "status": "completed", **provenance}}
    assert metadata == expected and result.usage["total_tokens"] > 0
    assert result._repr_mimebundle_()[1] == expected
    assert json.loads(json.dumps(metadata)) == expected  # survives in an .ipynb


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_json_flag_shows_the_interaction(kernel: Any, shown: Shown, stream: str) -> None:
    result, (data, _) = answer(kernel, shown, f"%%gemini --json {stream}\n{PROMPT}")
    markdown = data["text/markdown"]
    assert "**Interaction JSON**" in markdown
    raw = re.search(r"\*\*Interaction JSON\*\*\n\n(`{3,})json\n(.*?)\n\1", markdown, re.DOTALL)
    assert raw, markdown[-400:]
    interaction = json.loads(raw.group(2))
    assert interaction["id"] == result.id and interaction["status"] == "completed"
    texts = [
        part["text"]
        for step in interaction["steps"]
        if step["type"] == "model_output"
        for part in step["content"]
        if part["type"] == "text"
    ]
    assert "".join(texts) == result.text
    _, (plain, _) = answer(kernel, shown, f"%%gemini {stream}\n{PROMPT}")
    assert "Interaction JSON" not in plain["text/markdown"]


def test_streamed_and_whole_answers_agree(kernel: Any, shown: Shown) -> None:
    streamed, _ = answer(kernel, shown, f"%%gemini --no-store --stream\n{PROMPT}")
    whole, _ = answer(kernel, shown, f"%%gemini --no-store --no-stream\n{PROMPT}")
    assert streamed.text and streamed.text == whole.text
    assert streamed.thoughts == whole.thoughts
    assert streamed.id != whole.id
    streamed_image, _ = answer(
        kernel, shown, "%%gemini --no-store --stream -m gemini-3-pro-image-preview\nA fox"
    )
    whole_image, _ = answer(
        kernel, shown, "%%gemini --no-store --no-stream -m gemini-3-pro-image-preview\nA fox"
    )
    assert streamed_image.image_bytes == whole_image.image_bytes != []


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_unsafe_html_is_neutralised(kernel: Any, shown: Shown, stream: str) -> None:
    result, (data, _) = answer(kernel, shown, f"%%gemini {stream}\nShow me something [emulator: unsafe_html]")
    assert "](javascript:" in result.text  # the payload really arrived
    for bundle, _ in shown.all:
        assert_no_html(bundle)
    markdown = data["text/markdown"]
    assert "](javascript:" not in markdown
    assert "[Click me](#blocked-javascript-link:" in markdown
    for text in outputs_markdown(view.build_widget(result)):
        assert "](javascript:" not in text


# -- widget views -----------------------------------------------------------------------------------------


def test_widget_thoughts_collapsed_in_accordion(kernel: Any, shown: Shown) -> None:
    import ipywidgets as w

    result, _ = answer(kernel, shown, f"%%gemini --thoughts\n{PROMPT}")
    root = view.build_widget(result)
    assert isinstance(root, w.VBox)
    [accordion] = [x for x in widgets(root) if isinstance(x, w.Accordion)]
    assert accordion.selected_index is None  # collapsed
    assert accordion.get_title(0) == "Thoughts"
    assert outputs_markdown(accordion) == [static.safe_markdown(result.thoughts[0])]
    texts = outputs_markdown(root)
    assert any(result.text.strip() in t for t in texts)
    assert texts[-1] == view.footer(result)

    hidden, _ = answer(kernel, shown, f"%%gemini --no-thoughts\n{PROMPT}")
    assert not [x for x in widgets(view.build_widget(hidden)) if isinstance(x, w.Accordion)]


def test_widget_image(kernel: Any, shown: Shown) -> None:
    import ipywidgets as w

    result, _ = answer(kernel, shown, "%%gemini -m gemini-3-pro-image-preview\nA lighthouse")
    [image] = [x for x in widgets(view.build_widget(result)) if isinstance(x, w.Image)]
    assert bytes(image.value) == result.image_bytes[0]
    assert image.format == "png"
    png_size(bytes(image.value))


def test_widget_tool_views_are_markdown(backend: Backend) -> None:
    import ipywidgets as w

    for prompt, tools in (
        ("What is the sum of the first 10 primes?", [{"type": "code_execution"}]),
        ("History of the printing press", [{"type": "google_search"}]),
        ("What's the weather in Boston?", [WEATHER]),
    ):
        result = turn(backend, prompt, tools)
        root = view.build_widget(result)
        kinds = {type(x) for x in widgets(root)}
        assert kinds <= {w.VBox, w.Output, w.Accordion}, kinds
        texts = outputs_markdown(root)
        for block in result.blocks:
            if not isinstance(block, b.ThoughtBlock):
                assert static.block_markdown(block) in texts
