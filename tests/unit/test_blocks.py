"""Blocks from finished interactions and from their streams agree, for every step type the emulator makes."""

from __future__ import annotations

import pytest

from gemini_magics import blocks as b

TOOLS = {
    "code": [{"type": "code_execution"}],
    "search": [{"type": "google_search"}],
    "url": [{"type": "url_context"}],
    "function": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        }
    ],
}

CASES = [
    ("gemini-3-flash-preview", "Explain entropy in three bullet points", None),
    ("gemini-3-flash-preview", "What is the sum of the first 10 primes?", "code"),
    ("gemini-3-flash-preview", "History of the printing press", "search"),
    ("gemini-3-flash-preview", "Summarise https://example.com/a and https://example.com/404", "url"),
    ("gemini-3-flash-preview", "What's the weather in Boston?", "function"),
    ("gemini-3-pro-image-preview", "A lighthouse at dusk", None),
]


def _dump(obj) -> dict:
    return obj.model_dump(mode="json", exclude_none=True)


def _shape(blocks: list[b.Block]) -> list[tuple]:
    """What a reader sees of each block (signatures aside)."""
    out = []
    for block in blocks:
        if isinstance(block, b.ThoughtBlock):
            out.append(("thought", block.summary))
        else:
            out.append((type(block).__name__, repr(block)))
    return out


@pytest.mark.parametrize(("model", "prompt", "tools"), CASES)
def test_stream_and_final_agree(client, model: str, prompt: str, tools: str | None) -> None:
    kwargs = {"model": model, "input": prompt, "generation_config": {"thinking_summaries": "auto"}}
    if tools:
        kwargs["tools"] = TOOLS[tools]
    final = client.interactions.create(**kwargs)
    from_final = b.from_steps([_dump(step) for step in final.steps])
    assembler = b.Assembler()
    for event in client.interactions.create(stream=True, **kwargs):
        assembler.feed(_dump(event))
    assert _shape(assembler.blocks) == _shape(from_final)
    kinds = {type(block) for block in from_final}
    assert b.UnknownBlock not in kinds
    assert b.ThoughtBlock in kinds


def test_each_step_type_becomes_its_block(client) -> None:
    steps = client.interactions.create(
        model="gemini-3-flash-preview",
        input="What is the sum of the first 10 primes? See https://example.com/x",
        tools=TOOLS["code"] + TOOLS["search"] + TOOLS["url"],
    ).steps
    blocks = b.from_steps([_dump(s) for s in steps])
    code = next(x for x in blocks if isinstance(x, b.CodeBlock))
    assert "primes" in code.code and code.output and "129" in code.output and not code.is_error
    search = next(x for x in blocks if isinstance(x, b.SearchBlock))
    assert search.queries and all(link.url.startswith("https://") for link in search.links)
    url = next(x for x in blocks if isinstance(x, b.UrlContextBlock))
    assert url.statuses == {"https://example.com/x": "success"}
    text = [x for x in blocks if isinstance(x, b.TextBlock)][-1]
    assert [c.marker for c in text.citations] == ["[1]", "[2]", "[3]"]


def test_function_call_and_result_pair_up(client) -> None:
    first = client.interactions.create(
        model="gemini-3-flash-preview", input="What's the weather in Boston?", tools=TOOLS["function"]
    )
    call = next(
        x for x in b.from_steps([_dump(s) for s in first.steps]) if isinstance(x, b.FunctionCallBlock)
    )
    assert (call.name, call.arguments, call.answered) == ("get_weather", {"location": "Boston"}, False)
    steps = [_dump(s) for s in first.steps] + [
        {"type": "function_result", "call_id": call.call_id, "name": "get_weather", "result": "20 C"}
    ]
    paired = next(x for x in b.from_steps(steps) if isinstance(x, b.FunctionCallBlock))
    assert (paired.result, paired.answered) == ("20 C", True)


def test_unknown_and_malformed_parts_never_raise() -> None:
    blocks = b.from_steps(
        [
            {"type": "hologram", "payload": {"x": 1}},
            {
                "type": "model_output",
                "content": [{"type": "smell"}, "junk", {"type": "image", "data": "%%%"}],
            },
            {"type": "code_execution_result", "call_id": "nobody", "result": "orphan"},
            {"type": "thought", "summary": [{"type": "text", "text": "hmm"}]},
        ]
    )
    kinds = [type(x).__name__ for x in blocks]
    assert kinds == [
        "UnknownBlock",
        "UnknownBlock",
        "UnknownBlock",
        "ImageBlock",
        "UnknownBlock",
        "ThoughtBlock",
    ]
    assert blocks[3].data == b""  # invalid base64 gives an empty image, not an exception
    assembler = b.Assembler()
    for event in [
        {"event_type": "step.delta", "index": "x"},
        {"event_type": "step.delta", "index": 0, "delta": 5},
        {"event_type": "step.stop", "index": 3},
        {"event_type": "mystery"},
        {},
    ]:
        assembler.feed(event)
    assert assembler.blocks == []


def test_search_suggestion_html_is_mined_for_links_only() -> None:
    links = b._search_links(
        [{"search_suggestions": '<a href="https://a.example/x"><b>A</b> title</a><script>alert(1)</script>'}]
    )
    assert [(link.title, link.url) for link in links] == [("A title", "https://a.example/x")]


def test_search_suggestion_entities_are_decoded_once() -> None:
    """Titles and URLs come out of HTML: ``&#x27;`` and ``&amp;`` are characters, shown escaped later."""
    links = b._search_links(
        [{"search_suggestions": '<a href="https://a.example/?q=1&amp;r=2">Phil&#x27;s &lt;b&gt;</a>'}]
    )
    assert [(link.title, link.url) for link in links] == [("Phil's <b>", "https://a.example/?q=1&r=2")]


def _settled_stream(whole_steps: list) -> b.Assembler:
    """A stream that showed an answer, then was settled by an ``interaction.completed`` carrying steps
    (what a silent resume gets from a ``get``)."""
    assembler = b.Assembler()
    events = [
        {"event_type": "interaction.created", "interaction": {"id": "i1", "status": "in_progress"}},
        {"event_type": "step.start", "index": 0, "step": {"type": "model_output"}},
        {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "The lighthouse is red."}},
        {
            "event_type": "interaction.completed",
            "interaction": {"id": "i1", "status": "completed", "steps": whole_steps},
        },
    ]
    for event in events:
        assembler.feed(event)
    return assembler


def test_a_settled_hop_replaces_what_its_stream_showed() -> None:
    whole = [
        {
            "type": "model_output",
            "content": [{"type": "text", "text": "The lighthouse is red. It stands tall."}],
        }
    ]
    assembler = _settled_stream(whole)
    assert [block.text for block in assembler.blocks] == ["The lighthouse is red. It stands tall."]


def test_a_settled_hop_missing_the_shown_answer_keeps_what_was_shown() -> None:
    damaged = [{"content": [{"type": "text", "text": "The lighthouse is red."}]}, {"type": "thought"}]
    assembler = _settled_stream(damaged)
    texts = [block.text for block in assembler.blocks if isinstance(block, b.TextBlock)]
    assert texts == ["The lighthouse is red."]
