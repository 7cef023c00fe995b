"""Grounding blocks from wire steps and stream events, annotation offsets (UTF-8 bytes, and the rule for
character offsets), and the source numbers of ``[cite: N]`` markers — with the shapes the emulator and the
service send (docs/emulator.md), built here so each rule is pinned on its own."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_magics import blocks as b
from gemini_magics.blocks_grounding import FileSearchBlock, MapsBlock, cited_span
from gemini_magics.render import grounding, static

TEXT = "Zürich — 概要 🔎 [cite: 1] and résumé [cite: 2, 3]."


def offsets(text: str, part: str) -> tuple[int, int]:
    """``part``'s UTF-8 byte offsets in ``text``, as the service counts them."""
    start = len(text[: text.index(part)].encode())
    return start, start + len(part.encode())


def test_offsets_are_bytes() -> None:
    start, end = offsets(TEXT, "[cite: 1]")
    assert start != TEXT.index("[cite: 1]")  # the text is not ASCII: bytes and characters differ
    assert cited_span(TEXT, start, end) == ("[cite: 1]", TEXT.index("[cite: 1]"))
    assert cited_span("plain ascii", 6, 11) == ("ascii", 6)


def test_character_offsets_are_read_only_where_bytes_cannot_be_meant() -> None:
    # "Zürich": characters 0-2 are "Zü"; bytes 0-2 cut the ü in two, so the offsets must be characters.
    assert cited_span("Zürich", 0, 2) == ("Zü", 0)
    # A marker only the character reading finds: a sender that counts characters.
    start = TEXT.index("[cite: 1]")
    assert cited_span(TEXT, start, start + len("[cite: 1]")) == ("[cite: 1]", start)
    # Valid in both readings and no marker in either: bytes, as the SDK's types say.
    text = "é abc def"
    assert cited_span(text, 3, 6) == ("abc", 2)
    for bad in ((5, 2), (-1, 3), (0, 999), (None, 3), (True, 3), ("0", "3")):
        assert cited_span(text, *bad) == ("", -1)


def report(annotated: list[tuple[str, str]], text: str = TEXT) -> b.TextBlock:
    notes = []
    for marker, url in annotated:
        start, end = offsets(text, marker)
        notes.append(
            {"type": "url_citation", "url": url, "title": None, "start_index": start, "end_index": end}
        )
    step = {"type": "model_output", "content": [{"type": "text", "text": text, "annotations": notes}]}
    [block] = b.from_steps([step])
    assert isinstance(block, b.TextBlock)
    return block


def test_cite_targets_from_annotations_sharing_a_marker() -> None:
    block = report([("[cite: 1]", "https://a.example/1"), ("[cite: 2, 3]", "https://b.example/2")])
    block.citations += report([("[cite: 2, 3]", "https://c.example/3")]).citations
    assert [c.marker for c in block.citations] == ["[cite: 1]", "[cite: 2, 3]", "[cite: 2, 3]"]
    assert grounding.cite_targets(block) == {
        1: "https://a.example/1",
        2: "https://b.example/2",
        3: "https://c.example/3",
    }


def test_a_marker_annotated_only_for_the_source_it_cites_first() -> None:
    text = "One [cite: 1]. Again [cite: 1, 2]."
    block = report([("[cite: 1]", "https://a.example/1"), ("[cite: 1, 2]", "https://b.example/2")], text)
    assert grounding.cite_targets(block) == {1: "https://a.example/1", 2: "https://b.example/2"}


def test_cite_targets_from_the_sources_list_when_the_text_is_all_there_is() -> None:
    """A report kept only as text (``%gemini show`` after the service forgot it) still links its markers."""
    sources = "**Sources:**\n1. [a.org](https://a.org/x)\n2. [b.org](javascript:x)\n"
    text = f"Claim [cite: 1], more [cite: 2].\n\n{sources}"
    block = b.TextBlock(text)
    assert grounding.cite_targets(block) == {1: "https://a.org/x", 2: "javascript:x"}
    linked = grounding.linked_text(block)
    assert "Claim \\[[1](https://a.org/x)\\], more \\[2\\]." in linked  # no link for an unsafe target
    assert "[cite:" not in static.block_markdown(block)


def test_place_names_become_links_to_their_places() -> None:
    text = "Places: Café Zürich, and [odd] name."
    notes = []
    for name, url in (("Café Zürich", "https://maps.google.com/?cid=1"), ("[odd] name", "https://x.example")):
        start, end = offsets(text, name)
        notes.append(
            {"type": "place_citation", "name": name, "url": url, "start_index": start, "end_index": end}
        )
    [block] = b.from_steps(
        [{"type": "model_output", "content": [{"type": "text", "text": text, "annotations": notes}]}]
    )
    shown = static.block_markdown(block)
    assert (
        shown == "Places: [Café Zürich](https://maps.google.com/?cid=1), and [odd] name."
    )  # brackets: not linked


def maps_steps() -> list[dict[str, Any]]:
    place = {
        "name": "Café Zürich",
        "place_id": "places/ChIJx",
        "url": "https://maps.google.com/?cid=1",
        "address": "Bahnhofplatz 1",
        "review_snippets": [{"review_id": "r", "title": "Great value", "url": "https://maps.google.com/r"}],
    }
    return [
        {"type": "google_maps_call", "id": "m1", "arguments": {"queries": ["coffee near Zürich"]}},
        {"type": "google_maps_result", "call_id": "m1", "result": [{"places": [place]}]},
    ]


def events(steps: list[tuple[dict[str, Any], Any]]) -> list[dict[str, Any]]:
    """A stream: each (start, delta or deltas) as step.start, its step.deltas, step.stop."""
    out = []
    for index, (start, deltas) in enumerate(steps):
        out.append({"event_type": "step.start", "index": index, "step": start})
        for delta in deltas if isinstance(deltas, list) else [deltas]:
            out.append({"event_type": "step.delta", "index": index, "delta": delta})
        out.append({"event_type": "step.stop", "index": index})
    return out


@pytest.mark.parametrize("streamed", [False, True])
def test_maps_call_and_result(streamed: bool) -> None:
    call, result = maps_steps()
    if streamed:
        assembler = b.Assembler()
        for event in events(
            [
                (
                    {"id": "m1", "signature": "", "type": "google_maps_call"},
                    {"type": "google_maps_call", **call},
                ),
                (
                    {"call_id": "m1", "signature": "", "type": "google_maps_result"},
                    {"type": "google_maps_result", "result": result["result"]},
                ),
            ]
        ):
            assembler.feed(event)
        blocks = assembler.blocks
    else:
        blocks = b.from_steps([call, result])
    [maps] = blocks
    assert isinstance(maps, MapsBlock) and maps.queries == ["coffee near Zürich"] and maps.answered
    [place] = maps.places
    assert (place.name, place.address, place.reviews[0].title) == (
        "Café Zürich",
        "Bahnhofplatz 1",
        "Great value",
    )
    assert grounding.maps_markdown(maps) == (
        "**Google Maps**: *coffee near Zürich*\n"
        "- [Café Zürich](https://maps.google.com/?cid=1) · Bahnhofplatz 1 · "
        "review: [“Great value”](https://maps.google.com/r)"
    )


def test_file_search_chunks_from_the_stream_and_from_citations() -> None:
    quote = "Den Knopf zehn Sekunden halten — 概要."
    text = f"From the files:\n\n> {quote}\n\n— *kessel.txt*"
    start, end = offsets(text, quote)
    citation = {
        "type": "file_citation",
        "file_name": "kessel.txt",
        "document_uri": "fileSearchStores/s-1/documents/kessel-txt-1",
        "source": "fileSearchStores/s-1",
        "page_number": 2,
        "start_index": start,
        "end_index": end,
    }
    answer = {"type": "model_output", "content": [{"type": "text", "text": text, "annotations": [citation]}]}
    # Stored steps carry no chunks: the answer's citation gives them.
    stored = b.from_steps(
        [{"type": "file_search_call", "id": "f1"}, {"type": "file_search_result", "call_id": "f1"}, answer]
    )
    search = stored[0]
    assert isinstance(search, FileSearchBlock)
    [chunk] = search.chunks
    assert (chunk.file, chunk.text, chunk.store, chunk.page, chunk.cited) == (
        "kessel.txt",
        quote,
        "fileSearchStores/s-1",
        2,
        True,
    )
    assert chunk.document == "fileSearchStores/s-1/documents/kessel-txt-1"
    # Streamed, the result delta carries them; the citation marks the one quoted.
    assembler = b.Assembler()
    found = [
        {"title": "kessel.txt", "text": quote + " Mehr Text.", "file_search_store": "fileSearchStores/s-1"},
        {"title": "other.txt", "text": "Unrelated.", "file_search_store": "fileSearchStores/s-1"},
    ]
    for event in events(
        [
            (
                {"id": "f1", "signature": "", "type": "file_search_call"},
                {"type": "file_search_call", "signature": "s"},
            ),
            (
                {"call_id": "f1", "signature": "", "type": "file_search_result"},
                {"type": "file_search_result", "result": found},
            ),
            (
                {"type": "model_output"},
                [
                    {"type": "text", "text": text},
                    {"type": "text_annotation_delta", "annotations": [citation]},
                ],
            ),
        ]
    ):
        assembler.feed(event)
    search = assembler.blocks[0]
    assert isinstance(search, FileSearchBlock)
    assert [(c.file, c.cited) for c in search.chunks] == [("kessel.txt", True), ("other.txt", False)]
    shown = grounding.file_search_markdown(search)
    assert shown.startswith(
        "**File search**: 2 passages from 2 files\n1. *kessel.txt* · `fileSearchStores/s-1` · cited"
    )
    assert "\n2. *other.txt* · `fileSearchStores/s-1`\n   > Unrelated." in shown
