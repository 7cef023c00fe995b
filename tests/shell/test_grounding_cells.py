"""Grounding through real ``%%gemini`` cells: Google Maps places, file search stores filled from the notebook
(``%gemini store``/``stores``) and their passages, MCP tools (``--mcp-allowed``, a URL from a variable, a
server served from the kernel), and citations sliced by UTF-8 bytes with ``[cite: N]`` markers as links.

The real SDK talks to the emulator over HTTP; the emulator's file search really indexes what the cells
upload, and its ``mcp_server`` tool really calls the MCP servers the tests run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_testing import McpTestServer
from sample_server import SampleServer
from shell_checks import failed, ok

from gemini_magics import blocks as b
from gemini_magics.blocks_grounding import CITE_MARKER, FileSearchBlock, MapsBlock
from gemini_magics.emulator import EmulatorServer
from gemini_magics.render import grounding, static, view

BOILER = "Zürich boiler manual — to reset the boiler, hold the red button for ten seconds (概要 🔎)."
PUMP = "The heat pump in the cellar needs new filters every spring; the filters are in the blue box."
STREAMS = ["", "--no-stream"]


def request(emulator: EmulatorServer, interaction_id: str | None) -> dict[str, Any]:
    record = emulator.emulator.store.get(interaction_id or "")
    assert record is not None, interaction_id
    return record.request


def widget_markdown(result: Any) -> str:
    """Every Markdown output of the result's widget view, nested ones included, joined."""
    texts: list[str] = []

    def walk(widget: Any) -> None:
        for output in getattr(widget, "outputs", ()):
            texts.append(output["data"]["text/markdown"])
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(view.build_widget(result))
    return "\n\n".join(texts)


def widgets_of(widget: Any, kind: str) -> list[Any]:
    found = [widget] if type(widget).__name__ == kind else []
    for child in getattr(widget, "children", ()):
        found += widgets_of(child, kind)
    return found


# -- Google Maps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", STREAMS)
def test_maps_places_with_names_links_and_reviews(kernel: Any, emulator: EmulatorServer, stream: str) -> None:
    result = ok(kernel.run(f"%%gemini --new {stream} --tools google_maps\nGood coffee near Zürich HB"))
    assert request(emulator, result.id)["tools"] == [{"type": "google_maps"}]
    [maps] = [x for x in result.blocks if isinstance(x, MapsBlock)]
    [query] = maps.queries
    assert "coffee" in query and query.endswith(" near Zürich HB") and maps.answered
    assert len(maps.places) == 3
    for place in maps.places:
        assert place.place_id.startswith("places/ChIJ") and place.url.startswith(
            "https://maps.google.com/?cid="
        )
        assert place.reviews and place.reviews[0].url.startswith("https://www.google.com/maps/reviews/")
    shown = view.markdown(result)
    assert f"**Google Maps**: *{query}*" in shown
    for place in maps.places:
        assert static.link(place.name, place.url) in shown  # in the places view, the answer and Sources
        assert shown.count(f"]({place.url})") == 3
        assert f"review: [“{place.reviews[0].title}”]({place.reviews[0].url})" in shown
    # The answer's place citations cover the names, found by UTF-8 byte offsets ("Zürich" is in them).
    [text] = [x for x in result.blocks if isinstance(x, b.TextBlock)]
    places = [c for c in text.citations if c.kind == "place"]
    assert [c.marker for c in places] == [p.name for p in maps.places]
    assert [text.text[c.start : c.start + len(c.marker)] for c in places] == [p.name for p in maps.places]
    assert "Zürich HB" in shown and static.link(maps.places[0].name, maps.places[0].url) in widget_markdown(
        result
    )


# -- file search stores from the notebook -----------------------------------------------------------------


@pytest.fixture
def manuals(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Two text files to upload, and a display name no other test uses (the emulator is shared)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "boiler.txt").write_text(BOILER + "\n", encoding="utf-8")
    (folder / "pump.md").write_text("# Pump\n\n" + PUMP + "\n", encoding="utf-8")
    yield f"manuals-{uuid.uuid4().hex[:6]}", folder


def test_store_creates_uploads_and_lists(
    kernel: Any, manuals: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    name, folder = manuals
    shown = kernel.line(f"store {name} {folder}/*.txt '{folder}/pump.md'")
    printed = capsys.readouterr().out
    assert re.search(
        rf"^Created file search store {name} \(fileSearchStores/{name}-[a-z0-9]{{12}}\)\.$", printed, re.M
    )
    assert "[1/2] boiler.txt (" in printed and " uploading… indexing… indexed" in printed
    assert re.search(r"^\[2/2\] pump\.md \(\d+ bytes\): uploading… indexing… indexed$", printed, re.M)
    markdown = shown.data
    assert f"**{name}**: 2 files indexed. `%%gemini --file-search {name}` searches it." in markdown
    assert re.search(rf"\| `fileSearchStores/{name}-[a-z0-9]{{12}}` \| {name} \| 2 \| \d+ bytes \|", markdown)

    listed = kernel.line("stores").data
    assert listed.startswith("**File search stores**") and f"| {name} | 2 |" in listed

    # Again: the same files are skipped, a new one is added, and the store is found by its display name.
    (folder / "notes.txt").write_text("Spare fuses are in the kitchen drawer.\n", encoding="utf-8")
    shown = kernel.line(f"store {name} {folder}/*.txt")
    printed = capsys.readouterr().out
    assert f"Using file search store {name} (fileSearchStores/{name}-" in printed
    assert "boiler.txt (" in printed and "already in the store, skipped" in printed
    assert re.search(r"notes\.txt \(\d+ bytes\): uploading… indexing… indexed", printed)
    assert "1 file indexed, 1 already there" in shown.data and f"| {name} | 3 |" in shown.data


@pytest.mark.parametrize("stream", STREAMS)
def test_file_search_by_display_name_shows_passages_files_and_citations(
    kernel: Any, emulator: EmulatorServer, manuals: tuple[str, Path], stream: str
) -> None:
    name, folder = manuals
    kernel.line(f"store {name} {folder}/boiler.txt {folder}/pump.md")
    result = ok(kernel.run(f"%%gemini --new {stream} --file-search {name}\nHow do I reset the boiler?"))
    [tool] = request(emulator, result.id)["tools"]
    [store] = tool["file_search_store_names"]  # the display name became the store's resource name
    assert re.fullmatch(rf"fileSearchStores/{name}-[a-z0-9]{{12}}", store)
    assert result.interaction is not None  # the SDK's object, rebuilt from the stream too
    [search] = [x for x in result.blocks if isinstance(x, FileSearchBlock)]
    boiler = [c for c in search.chunks if c.file == "boiler.txt"]
    assert boiler and boiler[0].text.strip() == BOILER and boiler[0].store == store and boiler[0].cited
    # The answer quotes the passage; its file_citation's UTF-8 byte offsets cover exactly the quote.
    [text] = [x for x in result.blocks if isinstance(x, b.TextBlock)]
    [cited] = [c for c in text.citations if c.kind == "file" and c.title == "boiler.txt"]
    assert cited.marker == BOILER and text.text[cited.start : cited.start + len(BOILER)] == BOILER
    assert cited.source == store and cited.document.startswith(f"{store}/documents/boiler-txt-")
    shown = view.markdown(result)
    assert "**File search**:" in shown and f"1. *boiler.txt* · `{store}` · cited in the answer" in shown
    assert f"   > {static.escape(BOILER)}" in shown
    assert "**Sources**" in shown and "\n1. boiler.txt" in shown
    # The widget: the passages in a collapsed accordion titled by file, the text a Markdown output.
    [accordion] = widgets_of(view.build_widget(result), "Accordion")[-1:]
    assert "boiler.txt · cited" in accordion.titles and accordion.selected_index is None


def test_file_search_name_that_is_no_store(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"nowhere-{uuid.uuid4().hex[:6]}"
    message = failed(kernel.run(f"%%gemini --file-search {name}\nHi"), capsys)
    assert f"fileSearchStores/{name}" in message and "not found" in message


def test_file_search_names_go_as_written_where_the_backend_has_no_store_api(
    kernel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded-traffic server has the Interactions API only: the listing fails, the cell does not."""
    with SampleServer() as server:
        kernel.run(f"%config GeminiMagics.backend = '{server.base_url}'")
        recorded = "sample:docs_quickstart_stream_and_stateless#stateless_store_false_response"
        result = ok(kernel.run(f"%%gemini --no-stream --file-search manuals\n{recorded}"))
        assert result.text.startswith("There are 8 paws in your house.")
        [(_, _, body)] = [r for r in server.requests if r[0] == "POST"]
        assert body is not None and body["tools"] == [
            {"type": "file_search", "file_search_store_names": ["fileSearchStores/manuals"]}
        ]
        assert any(r[0] == "GET" and "fileSearchStores" in r[1] for r in server.requests)  # it did ask
        failed(kernel.run("%gemini stores"), capsys, "listing file search stores failed", "404")


def test_store_mistakes_are_one_line(
    kernel: Any, manuals: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    name, folder = manuals
    failed(kernel.run("%gemini store"), capsys, "usage: %gemini store NAME FILE…")
    failed(kernel.run(f"%gemini store {name} {folder}/missing.txt"), capsys, "no such file", "missing.txt")
    failed(kernel.run(f"%gemini store {name} {folder}/*.pdf"), capsys, "matches no file")
    failed(kernel.run(f"%gemini store {name} {folder}"), capsys, "is a folder", "/*.md")
    failed(kernel.run(f"%gemini store {name} '{folder}"), capsys, "cannot read the arguments")
    failed(kernel.run("%gemini stores everything"), capsys, "takes no argument")
    failed(kernel.run("%gemini store fileSearchStores/not-there x"), capsys, "no such file")
    made = kernel.run("%gemini store fileSearchStores/not-there-at-all")
    failed(made, capsys, "there is no file search store fileSearchStores/not-there-at-all", "display name")


# -- MCP --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpTestServer]:
    with McpTestServer() as server:
        yield server


def test_mcp_allowed_limits_the_tools_and_the_view_shows_server_tool_arguments_result(
    kernel: Any, emulator: EmulatorServer, mcp_server: McpTestServer
) -> None:
    mcp_server.calls.clear()
    line = f"%%gemini --new --mcp kb={mcp_server.url} --mcp-allowed kb=lookup_word"
    result = ok(kernel.run(f"{line}\nPlease lookup_word 'emulator' and add_numbers 2 and 3"))
    assert request(emulator, result.id)["tools"] == [
        {
            "type": "mcp_server",
            "name": "kb",
            "url": mcp_server.url,
            "allowed_tools": [{"mode": "auto", "tools": ["lookup_word"]}],
        }
    ]
    assert [c.tool for c in mcp_server.calls] == ["lookup_word"]  # add_numbers was not allowed
    [call] = result.function_calls
    assert (call.server, call.name, call.arguments) == ("kb", "lookup_word", {"word": "emulator"})
    shown = view.markdown(result)
    assert "**MCP tool** `kb: lookup_word`" in shown and '"word": "emulator"' in shown
    assert "**MCP result**\n\n```\nemulator: a program that imitates another system" in shown
    # Without the limit both are called; two flags for one server add up.
    mcp_server.calls.clear()
    both = f"--mcp kb={mcp_server.url} --mcp-allowed kb=lookup_word --mcp-allowed kb=add_numbers"
    result = ok(kernel.run(f"%%gemini --new {both}\nPlease lookup_word 'emulator' and add_numbers 2 and 3"))
    assert request(emulator, result.id)["tools"][0]["allowed_tools"] == [
        {"mode": "auto", "tools": ["lookup_word", "add_numbers"]}
    ]
    assert sorted(c.tool for c in mcp_server.calls) == ["add_numbers", "lookup_word"]


def test_mcp_errors_and_images_are_shown(kernel: Any, mcp_server: McpTestServer) -> None:
    result = ok(kernel.run(f"%%gemini --new --no-stream --mcp kb={mcp_server.url}\nPlease explode 'now'"))
    shown = view.markdown(result)
    assert "**MCP error**" in shown and "the tool exploded: now" in shown
    result = ok(kernel.run(f"%%gemini --new --mcp kb={mcp_server.url}\nPlease draw_square 'red'"))
    shown = view.markdown(result)  # the saved view embeds the image, the widget shows it as an image
    assert "**MCP result**\n\n```\nA red square\n```" in shown
    assert re.search(r"!\[image: image/png, \d+ bytes\]\(data:image/png;base64,[A-Za-z0-9+/=]+\)", shown)
    [image] = widgets_of(view.build_widget(result), "Image")
    assert bytes(image.value).startswith(b"\x89PNG")


def test_mcp_url_from_a_variable_and_a_server_served_from_the_kernel(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.run(
        "from gemini_magics.mcp_local import serve\n"
        "def shout(word: str) -> str:\n"
        '    """Say a word loudly."""\n'
        "    return word.upper() + '!'\n"
        "loud = serve('loud', shout)"
    )
    server = kernel.shell.user_ns["loud"]
    try:
        assert repr(server) == "<MCP server 'loud' in this kernel, serving: shout>" and str(
            server.url
        ) not in repr(server)
        result = ok(kernel.run("%%gemini --new --mcp loud=loud\nPlease shout 'hello'"))
        assert request(emulator, result.id)["tools"][0]["url"] == server.url
        assert result.function_calls[0].result == "HELLO!" and "HELLO!" in result.text
        kernel.run(f"endpoint = {server.url!r}")
        assert ok(kernel.run("%%gemini --new --mcp loud=endpoint\nPlease shout 'again'")).function_calls
    finally:
        server.stop()
    failed(kernel.run("%%gemini --mcp loud=nothing_here\nHi"), capsys, "no variable 'nothing_here'")
    kernel.run("number = 3")
    failed(kernel.run("%%gemini --mcp loud=number\nHi"), capsys, "holds no http(s) URL")
    failed(kernel.run("%%gemini --mcp kb=ftp://x\nHi"), capsys, "NAME=URL", "NAME=VAR")
    failed(
        kernel.run("%%gemini --mcp kb=https://x.example/mcp --mcp-allowed kb\nHi"), capsys, "NAME=tool1,tool2"
    )
    failed(
        kernel.run("%%gemini --mcp kb=https://x.example/mcp --mcp-allowed gh=a\nHi"),
        capsys,
        "no --mcp server named 'gh'",
    )


# -- Deep Research citations ------------------------------------------------------------------------------


def test_research_report_citations_by_bytes_become_links(kernel: Any) -> None:
    result = kernel.cell("--new --research --wait", "Zürich trams and their 概要 [emulator: duration=0.5]")
    assert result.status == "completed"
    [report] = [x for x in result.blocks if isinstance(x, b.TextBlock)]
    assert "— " in report.text and "🔎" in report.text and "résumés" in report.text  # not ASCII
    # Every annotation covers a [cite: …] marker: read as bytes; as characters they would not.
    assert report.citations and all(CITE_MARKER.fullmatch(c.marker) for c in report.citations)
    assert all(report.text[c.start : c.start + len(c.marker)] == c.marker for c in report.citations)
    targets = grounding.cite_targets(report)
    numbers = {int(n) for m in CITE_MARKER.finditer(report.text) for n in re.findall(r"\d+", m.group(1))}
    assert set(targets) == numbers and all(
        url.startswith("https://vertexaisearch.cloud.google.com/") for url in targets.values()
    )
    sources = re.findall(r"^(\d+)\. \[[^\]]+\]\((\S+)\)$", report.text, re.M)
    assert {int(n): url for n, url in sources} == targets  # the annotations agree with the Sources list
    first, second, third = (static.safe_url(targets[n]) for n in (1, 2, 3))
    saved = result._repr_mimebundle_()[0]["text/markdown"]
    assert f"commentary \\[[1]({first})\\]." in saved and f"\\[[2]({second}), [3]({third})\\]" in saved
    assert "[cite:" not in saved
    assert f"\\[[2]({second}), [3]({third})\\]" in widget_markdown(result)  # the widget view too


def test_help_lists_the_store_subcommands_and_mcp_allowed(
    kernel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel.line("help")
    shown = capsys.readouterr().out
    assert "--mcp-allowed NAME=TOOLS" in shown and "variable with it" in shown
    assert "%gemini stores " in shown and "%gemini store    store NAME FILE…" in shown
