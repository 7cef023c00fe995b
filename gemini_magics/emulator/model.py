"""The deterministic fake model: what the emulator answers, chosen from the request and the chain.

Same request and same chain → same steps, so tests and example notebooks are reproducible. Which
behaviour a request triggers is documented in the README's emulator section; the rules, in order:

1. ``function_result`` steps in the input → an answer built from those results.
2. Declared tools run first: ``google_search``, ``url_context`` (for URLs in the prompt),
   ``code_execution`` (the emitted Python is really run), function tools (a ``function_call`` and the
   status ``requires_action``).
3. A thought step (with a summary when ``thinking_summaries`` is ``auto``) unless thinking is
   ``minimal``.
4. Image models answer with a real PNG; ``response_format`` gives JSON that fits the schema; otherwise
   Markdown text that depends on the prompt and the whole earlier conversation.

TTS and transcribe models skip all of that and speak or transcribe (``speech.py``); typed media formats
and audio/video/document modalities are answered by ``media.py`` in place of rule 4.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

from . import computer, content, controls, grounding, media, notebook, speech, tooling
from .directives import from_text, number
from .engine import Behaviour, Emit, Finish, Pause
from .turn import STOP_WORDS, Turn


def user_texts(steps: list[dict[str, Any]]) -> list[str]:
    """The text of every user turn among ``steps``, oldest first, without ``[emulator: ...]`` directives."""
    texts = []
    for step in steps:
        if step.get("type") == "user_input":
            text = " ".join(b.get("text", "") for b in step.get("content") or [] if b.get("type") == "text")
            text = from_text(text)[1]
            if text:
                texts.append(text)
    return texts


def respond(turn: Turn) -> Behaviour:
    return _respond(turn)


async def _respond(turn: Turn) -> Behaviour:  # type: ignore[misc]
    if turn.directives.get("fail"):
        yield Finish("failed", {"code": "internal_error", "message": turn.directives["fail"]})
        return
    model = str(turn.request.get("model") or "")
    if speech.is_tts(model) or speech.is_transcribe(model):  # speech models neither think nor call tools
        yield speech.tts_answer(turn) if speech.is_tts(model) else speech.transcribe_answer(turn)
        return
    results = [s for s in turn.input_steps if s.get("type") == "function_result"]
    # With functions declared too, the model looks things up first and then thinks about which function
    # to call (real-samples/docs_stream_google_search_plus_function_call.json); otherwise it thinks first
    # (docs_sync_google_search_grounding.json).
    tools_first = not results and any(t.get("type") == "function" for t in turn.tools if isinstance(t, dict))
    if thinks(turn) and not tools_first:
        yield thought(thought_summary_for(turn, results), summaries(turn))
    if not results:
        async for item in tooling.run_builtin_tools(turn):
            yield item
        if thinks(turn) and tools_first:
            yield thought(thought_summary_for(turn, results), summaries(turn))
        calls = tooling.function_calls_for(turn)
    else:
        calls = calls_again(turn, results) if _conversation_directive(turn, "always_call") else []
    if not calls:  # Computer Use actions, a client-side tool search (computer.py)
        calls = computer.client_calls(turn, results)
    if calls:
        for call in calls:
            yield Emit(
                call,
                start=dict(call, arguments={}),
                deltas=[{"type": "arguments_delta", "arguments": content.dumps(call["arguments"])}],
            )
        yield Finish("requires_action")
        return
    rate = number(turn.directives, "rate")
    delay = 1.0 / rate if rate else 0.0
    typed = media.output(turn, lambda: compose_answer(turn))  # typed formats, audio/video/document
    if typed is not None:
        yield typed
        return
    if content.wants_image(turn):
        yield content.image_output(turn)
        return
    structured = media.wants_json(turn)  # not for a text/plain format
    if structured:
        text = content.structured_json(turn)
        if turn.directives.get("invalid_json"):
            text = text[: len(text) // 2]  # cut mid-value: not JSON any more
    elif results:
        text = tooling.answer_from_results(turn, results)
    elif turn.notes:
        text = tooling.notes_text(turn) or ("" if turn.grounded else compose_answer(turn))
    else:
        text = controls.reword(turn, compose_answer(turn))  # seed, temperature, top_p
    seen = media_note(turn)
    if seen and not structured:
        text = f"{seen}\n\n{text}"
    block = {"type": "text", "text": text} if structured else tooling.cited_text(turn, text)
    if not structured:
        block = grounding.annotate(turn, block)  # places and documents found, with their citations
    block, cut = controls.limit(turn, block)  # stop_sequences, max_output_tokens
    deltas = content.text_deltas(block["text"], turn.directives)
    if block.get("annotations"):
        deltas.append({"type": "text_annotation_delta", "annotations": block["annotations"]})
    if delay:
        # Spread over time: the engine sleeps between deltas; yield Pause first so a stall is visible.
        yield Pause(0)
    yield Emit({"type": "model_output", "content": [block]}, deltas=deltas, delay=delay)
    if cut:
        yield Finish("incomplete")  # max_output_tokens reached: the answer is cut


def _conversation_directive(turn: Turn, key: str) -> bool:
    """A directive of this prompt or, for an input of tool results only, of the conversation's last prompt."""
    if key in turn.directives:
        return True
    for step in reversed(turn.history + turn.input_steps):
        if step.get("type") == "user_input":
            text = " ".join(b.get("text", "") for b in step.get("content") or [] if b.get("type") == "text")
            if text.strip():
                return key in from_text(text)[0]
    return False


def calls_again(turn: Turn, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``always_call``: the functions that just answered are called again with the same arguments."""
    asked = {s.get("id"): s for s in turn.history + turn.input_steps if s.get("type") == "function_call"}
    latest: list[dict[str, Any]] = []  # a re-sent conversation holds earlier rounds too: answer the last
    for step in reversed(turn.input_steps):
        if step.get("type") != "function_result":
            break
        latest.insert(0, step)
    calls = []
    for result in latest or results:
        previous = asked.get(result.get("call_id"))
        if previous is not None:
            calls.append(
                {
                    "type": "function_call",
                    "id": turn.new_id("call"),
                    "name": previous.get("name"),
                    "arguments": previous.get("arguments") or {},
                }
            )
    return calls


def media_note(turn: Turn) -> str:
    """What the fake model sees besides text, e.g. "I see 1 image (256×256 PNG)." ("" when nothing)."""
    seen: dict[str, list[str]] = {}
    for step in turn.input_steps:
        if step.get("type") != "user_input":
            continue
        for part in step.get("content") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("image", "audio", "video", "document"):
                seen.setdefault(kind, []).append(_describe_media(part))
    if not seen:
        return ""
    parts = [f"{len(d)} {kind}{'s' if len(d) > 1 else ''} ({', '.join(d)})" for kind, d in seen.items()]
    note = "I see " + " and ".join(parts) + "."
    colours = [
        _colours(part)
        for step in turn.input_steps
        if step.get("type") == "user_input"
        for part in step.get("content") or []
        if isinstance(part, dict) and part.get("type") == "image"
    ]
    if len(colours) == 1 and colours[0]:
        note += f" Its main colours: {colours[0]}."
    elif any(colours):
        listed = "; ".join(f"image {i}: {c or 'unknown'}" for i, c in enumerate(colours, 1))
        note += f" Main colours — {listed}."
    return note


# CSS colour names, so a picture drawn with PIL's names ("steelblue") is described with them.
_PALETTE = {
    "white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "silver": (192, 192, 192),
    "red": (255, 0, 0), "maroon": (128, 0, 0), "orange": (255, 165, 0), "gold": (255, 215, 0),
    "yellow": (255, 255, 0), "brown": (165, 42, 42), "olive": (128, 128, 0), "green": (0, 128, 0),
    "lime": (0, 255, 0), "sea green": (46, 139, 87), "teal": (0, 128, 128), "navy": (0, 0, 128),
    "blue": (0, 0, 255), "steel blue": (70, 130, 180), "sky blue": (135, 206, 235),
    "purple": (128, 0, 128), "magenta": (255, 0, 255), "pink": (255, 192, 203),
}  # fmt: skip


def _colours(part: dict[str, Any], most: int = 3) -> str:
    """The main colours of an inline image, most frequent first ("white, steel blue"); "" if unreadable."""
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(base64.b64decode(part.get("data") or ""))) as image:
            small = image.convert("RGB").resize((48, 48), Image.Resampling.NEAREST)
            counts = small.getcolors(48 * 48) or []
    except Exception:  # no data (a URI), not an image PIL reads, or no Pillow
        return ""
    shares: dict[str, int] = {}
    for count, rgb in counts:
        name = min(_PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(rgb, _PALETTE[n], strict=True)))
        shares[name] = shares.get(name, 0) + count
    ranked = sorted(shares, key=lambda n: (-shares[n], n))
    return ", ".join(n for n in ranked[:most] if shares[n] >= 0.03 * 48 * 48)


def _describe_media(part: dict[str, Any]) -> str:
    """ "256×256 PNG" for image data whose header gives a size; else the MIME type and the size or URI."""
    mime = str(part.get("mime_type") or "unknown type")
    if not part.get("data"):
        return f"{mime}, by URI" if part.get("uri") else mime
    try:
        data = base64.b64decode(part["data"])
    except (ValueError, TypeError):
        return f"{mime}, undecodable data"
    size = None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        size = struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        size = struct.unpack("<HH", data[6:10])
    elif data[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
    if size:
        return f"{size[0]}×{size[1]} {mime.split('/')[-1].upper()}"
    return f"{mime}, {len(data):,} bytes"


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def summaries(turn: Turn) -> bool:
    return turn.generation_config.get("thinking_summaries") == "auto"


def thinks(turn: Turn) -> bool:
    return turn.generation_config.get("thinking_level", "high") != "minimal"


def thought(summary: str, with_summary: bool) -> Emit:
    """A thought step: always a signature; the summary only when the request asked for summaries."""
    signature = content.b64(hashlib.sha256(summary.encode()).digest())
    if not with_summary:
        step = {"type": "thought", "signature": signature}
        return Emit(
            step, deltas=[{"type": "thought_signature", "signature": signature}], start={"type": "thought"}
        )
    step = {"type": "thought", "signature": signature, "summary": [{"type": "text", "text": summary}]}
    deltas = [
        {"type": "thought_summary", "content": {"type": "text", "text": part}} for part in _sentences(summary)
    ]
    deltas.append({"type": "thought_signature", "signature": signature})
    return Emit(step, deltas=deltas, start={"type": "thought"})


def thought_summary_for(turn: Turn, results: list[dict[str, Any]]) -> str:
    if results:
        names = ", ".join(sorted({str(r.get("name") or r.get("call_id")) for r in results}))
        return f"**Reading the tool results.** {names} answered; I will summarise what they returned."
    earlier = len(user_texts(turn.history))
    level = turn.generation_config.get("thinking_level", "high")
    context = f"We have exchanged {earlier} earlier message(s). " if earlier else ""
    tools = [t.get("name") or t.get("type") for t in turn.tools if isinstance(t, dict)]
    plan = f"I can use {', '.join(map(str, tools))}. " if tools else ""
    return (
        f'**Understanding the request.** The user asks: "{_clip(turn.prompt)}". {context}{plan}'
        f"I will answer directly and concisely (thinking level: {level})."
    )


_NAME = re.compile(r"\bmy name is ([A-Z][\w'-]*(?: [A-Z][\w'-]*)?)", re.IGNORECASE)
_JOKES = [
    "Why do programmers prefer dark mode? Because light attracts bugs.",
    "There are 10 kinds of people: those who understand binary and those who don't.",
    'A SQL query walks into a bar, walks up to two tables and asks: "Can I join you?"',
]
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "2": 2, "3": 3, "4": 4, "5": 5}


def compose_answer(turn: Turn) -> str:
    """Markdown that depends on the prompt, the earlier conversation and the notebook context it got."""
    if turn.directives.get("unsafe_html"):
        return content.UNSAFE_HTML
    if turn.directives.get("deltas"):
        return content.counted_text(int(turn.directives["deltas"]))
    text = notebook.answer(turn.prompt, bool(turn.tools)) or _conversational(turn)  # fixes, Python asked for
    note = notebook.context_note(turn.input_steps)  # "From your notebook I was given 3 cells …"
    return f"{note}\n\n{text}" if note else text


def _conversational(turn: Turn) -> str:
    prompt = turn.prompt
    lower = prompt.lower()
    earlier = user_texts(turn.history)
    if "my name" in lower and "?" in prompt:
        names = [m.group(1) for text in earlier for m in _NAME.finditer(text)]
        if names:
            return f"Your name is **{names[-1]}**."
        return "You haven't told me your name yet."
    introduced = _NAME.search(prompt)
    if introduced:
        return f"Nice to meet you, {introduced.group(1)}! How can I help you today?"
    if "joke" in lower:
        return _JOKES[turn.seed() % len(_JOKES)]
    if re.search(r"\b(earlier|before|previous|so far)\b", lower) and earlier:
        listed = "\n".join(f"{i}. {_clip(text, 80)}" for i, text in enumerate(earlier, 1))
        return f"So far you said:\n\n{listed}"
    if turn.request.get("system_instruction"):
        style = f"\n\n_(Following the system instruction: {_clip(turn.request['system_instruction'], 80)})_"
    else:
        style = ""
    bullets = re.search(r"\b(two|three|four|five|[2-5])\s+(bullet|point|idea|reason|tip)", lower)
    count = _NUMBERS[bullets.group(1)] if bullets else 3
    topic = _topic(prompt)
    points = [
        f"**{topic.capitalize()}** is the subject of your request ({len(prompt.split())} words).",
        f"The key idea: state *{topic}* clearly, then check it against the data.",
        "Keep the answer short and concrete; follow up with a narrower question for detail.",
        "Numbers in the prompt are taken as given; nothing was looked up.",
        "Ask again with more context for a deeper answer.",
    ]
    body = "\n".join(f"- {p}" for p in points[:count])
    return f"Here is a short answer about *{topic}*:\n\n{body}{style}"


def _topic(prompt: str) -> str:
    words = [w.strip(".,:;!?\"'()[]{}").lower() for w in prompt.split()]
    keep = [w for w in words if w and w not in STOP_WORDS and w.isalpha()]
    return " ".join(keep[:4]) or "your question"


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", text)
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts) if p]


def _clip(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = ["Pause", "Turn", "respond", "thought", "user_texts"]
