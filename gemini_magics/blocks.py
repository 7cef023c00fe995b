"""The only module that knows the Interactions API's step and delta shapes.

It turns a finished interaction, or its stream of events, into ``Block``s: the project's own vocabulary
that renderers show. Everything here works on plain dicts (the JSON of the wire), so a stream can be
followed without building an SDK model per event, and parts this release does not know become an
``UnknownBlock`` instead of an exception. Audio parts and deltas are read by ``blocks_media``; grounding steps
(Maps, file search) and annotations by ``blocks_grounding``; the raw steps of a stream are rebuilt by
``blocks_steps`` (``StepRebuilder``, importable from here too).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import blocks_grounding as g
from . import blocks_media
from .blocks_grounding import Citation, FileSearchBlock, MapsBlock
from .blocks_grounding import citations as _citations
from .blocks_steps import StepRebuilder as StepRebuilder  # the SDK object of a streamed interaction
from .blocks_steps import delta_kind


@dataclass
class TextBlock:
    text: str = ""
    citations: list[Citation] = field(default_factory=list)


@dataclass
class ThoughtBlock:
    summary: str = ""  # empty when the request did not ask for summaries
    signed: bool = False


@dataclass
class ImageBlock:
    data: bytes = b""
    mime_type: str = "image/png"
    uri: str | None = None


@dataclass
class CodeBlock:
    """A ``code_execution_call`` and, once it arrives, its result."""

    call_id: str
    code: str = ""
    language: str = "python"
    output: str | None = None
    is_error: bool = False


@dataclass
class FunctionCallBlock:
    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    is_error: bool = False
    answered: bool = False
    server: str = ""  # the MCP server that runs it (the service calls it, not the notebook)


@dataclass
class SearchBlock:
    """A ``google_search_call`` with its queries and the result links."""

    call_id: str
    queries: list[str] = field(default_factory=list)
    links: list[Citation] = field(default_factory=list)


@dataclass
class UrlContextBlock:
    call_id: str
    urls: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


@dataclass
class UnknownBlock:
    """A step or part this release does not know: shown compactly, never an error."""

    kind: str
    preview: str = ""


Block = (
    TextBlock
    | ThoughtBlock
    | ImageBlock
    | CodeBlock
    | FunctionCallBlock
    | SearchBlock
    | UrlContextBlock
    | MapsBlock
    | FileSearchBlock
    | UnknownBlock
    | blocks_media.AudioBlock
)

_CALLS = (
    "code_execution_call",
    "function_call",
    "google_search_call",
    "url_context_call",
    "mcp_server_tool_call",
    *g.CALLS,
)
_LINK = re.compile(r"<a\b[^>]*\bhref=\"([^\"]+)\"[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _preview(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_of(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return "".join(part.get("text", "") for part in result if isinstance(part, dict))
    return _preview(result, 10_000)


def _search_links(results: Any) -> list[Citation]:
    """Links from search results; the suggestions HTML is mined for links, never rendered."""
    links = []
    for item in results or []:
        if not isinstance(item, dict):
            continue
        for url, label in _LINK.findall(str(item.get("search_suggestions") or "")):
            # Mined from HTML: entities decoded (the views escape what they show).
            url, label = html.unescape(url), html.unescape(_TAG.sub("", label)).strip()
            links.append(Citation(label or url, url))
        if item.get("url"):
            links.append(Citation(str(item.get("title") or item["url"]), str(item["url"])))
    return links


class Assembler:
    """Builds blocks from steps or stream events, pairing tool results with their calls."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._calls: dict[str, Block] = {}
        self._call_ids: dict[int, str] = {}  # a result step's call, by stream index
        self._open: dict[int, list[Block]] = {}  # step index → blocks of that step (streaming)
        self._arguments: dict[int, str] = {}
        self._bases: dict[int, int] = {}  # where a continued step's text starts in its block
        self._after_text = False  # the last step was answer text: a next one continues it (a new hop)
        self._hop: tuple[str, int, TextBlock | None, int, int] = ("", 0, None, 0, 0)  # id, marks to settle

    # -- whole steps ---------------------------------------------------------------------------------

    def add_step(self, step: dict[str, Any]) -> list[Block]:
        """Add one complete step; returns the blocks it created (results update their call instead).
        A malformed step (a field of the wrong type) becomes an ``UnknownBlock``, never an exception."""
        try:
            return self._add_step(step)
        except (TypeError, AttributeError, ValueError, KeyError):
            return [self._append(UnknownBlock("malformed", _preview(step)))]

    def _add_step(self, step: dict[str, Any]) -> list[Block]:
        kind = step.get("type") if isinstance(step.get("type"), str) else "unknown"
        if kind == "user_input":
            self._after_text = False
            return []
        if kind == "model_output":
            blocks: list[Block] = []
            for part in step.get("content") or []:
                block, last = self._content(part), self.blocks[-1] if self.blocks else None
                continues = not blocks and self._after_text and isinstance(last, TextBlock)
                if continues and isinstance(block, TextBlock) and isinstance(last, TextBlock):
                    last.text += block.text  # the answer went on in a continuation hop: one answer
                    last.citations.extend(block.citations)
                    block = last
                else:
                    self._append(block)
                blocks.append(block)
                if isinstance(block, TextBlock):
                    self._cite_searches(block.citations)
            self._after_text = bool(blocks) and isinstance(blocks[-1], TextBlock)
            return blocks
        self._after_text = False
        if kind == "thought":
            summary = "".join(p.get("text", "") for p in step.get("summary") or [] if isinstance(p, dict))
            return [self._append(ThoughtBlock(summary, bool(step.get("signature"))))]
        if kind.endswith("_result") and self._attach_result(step):
            return []
        if kind in _CALLS:
            return [self._append(self._call(step))]
        return [self._append(UnknownBlock(kind or "unknown", _preview(step)))]

    def _content(self, part: Any) -> Block:
        if not isinstance(part, dict):
            return UnknownBlock("content", _preview(part))
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("text") or "")
            return TextBlock(text, _citations(part, text))
        if kind == "image":
            return ImageBlock(
                blocks_media.decode(part.get("data")),
                str(part.get("mime_type") or "image/png"),
                part.get("uri"),
            )
        return blocks_media.content(part) or UnknownBlock(str(kind), _preview(part))

    def _call(self, step: dict[str, Any]) -> Block:
        kind, call_id = step["type"], str(step.get("id") or "")
        args = step.get("arguments") if isinstance(step.get("arguments"), dict) else {}
        block: Block
        if kind == "code_execution_call":
            block = CodeBlock(call_id, str(args.get("code") or ""), str(args.get("language") or "python"))
        elif kind in ("function_call", "mcp_server_tool_call"):
            server = str(step.get("server_name") or "")
            block = FunctionCallBlock(call_id, str(step.get("name") or "?"), dict(args), server=server)
        elif kind == "google_search_call":
            block = SearchBlock(call_id, [str(q) for q in args.get("queries") or []])
        elif kind in g.CALLS:
            block = g.call_block(kind, call_id, args)
        else:
            block = UrlContextBlock(call_id, [str(u) for u in args.get("urls") or []])
        self._calls[call_id] = block
        return block

    def _attach_result(self, step: dict[str, Any]) -> bool:
        call = self._calls.get(str(step.get("call_id") or ""))
        result = step.get("result")
        if isinstance(call, CodeBlock):
            call.output, call.is_error = _text_of(result), bool(step.get("is_error"))
        elif isinstance(call, FunctionCallBlock):
            call.result, call.is_error, call.answered = result, bool(step.get("is_error")), True
        elif isinstance(call, SearchBlock):
            if result is not None:  # a streamed result carries only is_error: links come with the answer
                call.links = _search_links(result)
        elif isinstance(call, UrlContextBlock):
            call.statuses = {
                str(r.get("url")): str(r.get("status")) for r in result or [] if isinstance(r, dict)
            }
        else:
            return g.attach_result(call, step)
        return True

    def _cite_searches(self, citations: list[Citation]) -> None:
        """Searches whose results carried no links (a stream's result delta has only ``is_error``) get the
        answer's cited sources, which is how the service hands the links to the client."""
        g.cite_files(self.blocks, citations)  # and file search blocks learn their cited passages
        cited = list({c.url: Citation(c.title, c.url) for c in citations if c.kind == "url"}.values())
        for block in self.blocks:
            if isinstance(block, SearchBlock) and not block.links and cited:
                block.links = list(cited)

    def _append(self, block: Block) -> Block:
        self.blocks.append(block)
        return block

    # -- stream events -------------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> bool:
        """Apply one stream event; True when the visible blocks changed. A malformed event (a field of
        the wrong type) becomes an ``UnknownBlock``, never an exception."""
        try:
            return self._feed(event)
        except (TypeError, AttributeError, ValueError, KeyError):
            self._append(UnknownBlock("malformed event", _preview(event)))
            return True

    def _feed(self, event: dict[str, Any]) -> bool:
        kind = event.get("event_type")
        index = event.get("index")
        if kind in ("interaction.created", "interaction.completed"):
            return self._hop_event(kind, event.get("interaction"))
        if kind == "step.start" and isinstance(index, int):
            step = event.get("step") if isinstance(event.get("step"), dict) else {}
            last = self.blocks[-1] if self.blocks else None
            continues = step.get("type") == "model_output" and not step.get("content") and self._after_text
            if continues and isinstance(last, TextBlock):  # a continuation hop goes on with the answer
                self._open[index], self._bases[index] = [last], len(last.text)
                return False
            before = len(self.blocks)
            self.add_step(step)
            self._open[index] = self.blocks[before:]
            self._call_ids[index] = str(step.get("call_id") or "")
            return len(self.blocks) != before
        if kind == "step.delta" and isinstance(index, int):
            return self._delta(index, event.get("delta") if isinstance(event.get("delta"), dict) else {})
        if kind == "step.stop" and isinstance(index, int):
            self._finish_arguments(index)
            opened = self._open.pop(index, None) or [None]
            self._after_text = isinstance(opened[-1], TextBlock)
        return False

    def _delta(self, index: int, delta: dict[str, Any]) -> bool:
        kind = delta_kind(delta)
        opened = self._open.setdefault(index, [])
        last = opened[-1] if opened else None
        if kind == "text":
            if not isinstance(last, TextBlock):
                last = self._append(TextBlock())
                opened.append(last)
            last.text += str(delta.get("text") or "")
            return True
        if kind == "text_annotation_delta" and isinstance(last, TextBlock):
            last.citations.extend(_citations(delta, last.text[self._bases.get(index, 0) :]))
            self._cite_searches(last.citations)
            return True
        if kind == "thought_summary":
            block = next((b for b in opened if isinstance(b, ThoughtBlock)), None)
            if block is None:
                block = self._append(ThoughtBlock())
                opened.append(block)
            content = delta.get("content") if isinstance(delta.get("content"), dict) else {}
            block.summary += str(content.get("text") or "")
            return True
        if kind == "thought_signature":
            for block in opened:
                if isinstance(block, ThoughtBlock):
                    block.signed = True
            return False
        if kind == "image":
            opened.append(self._append(self._content(delta)))
            return True
        if kind == "arguments_delta":
            self._arguments[index] = self._arguments.get(index, "") + str(delta.get("arguments") or "")
            return False
        if kind in _CALLS and kind != "function_call":
            return self._fill_call(last, delta)
        if kind and kind.endswith("_result"):  # the call it answers was named by the step's start
            return self._attach_result({"call_id": self._call_ids.get(index, ""), **delta})
        return blocks_media.feed(kind, opened, delta, self._append)

    def _hop_event(self, kind: str, info: Any) -> bool:
        """A hop starts (``interaction.created`` of a new id): remember where, so a hop settled whole (an
        ``interaction.completed`` that carries ``steps``, after a resumed stream went silent) replaces
        what its stream had shown."""
        info = info if isinstance(info, dict) else {}
        if kind == "interaction.created":
            if info.get("id") and info.get("id") != self._hop[0]:
                last = self.blocks[-1] if self.blocks and isinstance(self.blocks[-1], TextBlock) else None
                marks = (len(last.text), len(last.citations)) if last else (0, 0)
                self._hop = (str(info["id"]), len(self.blocks), last, *marks)
            return False
        steps = info.get("steps")
        if not isinstance(steps, list):
            return False
        _, start, continued, text_length, cited = self._hop
        shown, shown_text = self.blocks[start:], _answer_text(self.blocks[start:], continued, text_length)
        kept = (continued.text, list(continued.citations)) if continued is not None else None
        del self.blocks[start:]
        if continued is not None:
            continued.text, continued.citations = continued.text[:text_length], continued.citations[:cited]
        self._open.clear()
        self._arguments.clear()
        self._after_text = continued is not None
        for step in steps:
            if isinstance(step, dict):
                self.add_step(step)
        settled = _answer_text(self.blocks[start:], continued, text_length)
        if shown_text.strip() and shown_text.strip() not in settled:
            # The whole lacks answer text the stream already showed (a damaged reply): keep what was shown.
            self.blocks[start:] = shown
            if continued is not None and kept is not None:
                continued.text, continued.citations = kept
        return True

    @staticmethod
    def _fill_call(block: Block | None, delta: dict[str, Any]) -> bool:
        """A call whose arguments arrive as a delta after an empty ``step.start``."""
        args = delta.get("arguments") if isinstance(delta.get("arguments"), dict) else {}
        if isinstance(block, CodeBlock):
            block.code = str(args.get("code") or block.code)
            block.language = str(args.get("language") or block.language)
        elif isinstance(block, SearchBlock):
            block.queries = [str(q) for q in args.get("queries") or block.queries]
        elif isinstance(block, UrlContextBlock):
            block.urls = [str(u) for u in args.get("urls") or block.urls]
        elif isinstance(block, FunctionCallBlock):  # an MCP tool call
            block.arguments = dict(args) or block.arguments
            block.name = str(delta.get("name") or block.name)
            block.server = str(delta.get("server_name") or block.server)
        else:
            return g.fill_call(block, delta)
        return True

    def _finish_arguments(self, index: int) -> None:
        raw = self._arguments.pop(index, None)
        if raw is None:
            return
        for block in self._open.get(index, []):
            if isinstance(block, FunctionCallBlock):
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {"_raw": raw}
                block.arguments = parsed if isinstance(parsed, dict) else {"_value": parsed}


def _answer_text(blocks: list[Block], continued: TextBlock | None, start: int) -> str:
    """The answer text of one hop: its text blocks, and what it added to a continued block."""
    head = continued.text[start:] if continued is not None else ""
    own = (block.text for block in blocks if isinstance(block, TextBlock) and block is not continued)
    return head + "".join(own)


def from_steps(steps: list[dict[str, Any]]) -> list[Block]:
    """Blocks of a finished interaction's steps."""
    assembler = Assembler()
    for step in steps:
        if isinstance(step, dict):
            assembler.add_step(step)
    return assembler.blocks
