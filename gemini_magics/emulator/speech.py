"""Speech in the fake model: TTS answers (audio out) and transcribe answers (audio in → text).

TTS models (IDs with ``tts``) speak the prompt; an instruction such as "Say cheerfully: ..." is not
spoken. With several speakers in ``generation_config.speech_config``, lines "Name: text" are spoken in
each speaker's voice, and the step also carries the script as text with ``speech_metadata`` annotations
(speaker and UTF-8 byte span of every line). ``speech_metadata`` annotations on the *input* text assign
spans to speakers the same way. Transcribe models (IDs with ``transcribe``) read audio made this way
back to its text, with ``word_info`` annotations; other audio gets an honest description.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from . import audio
from .content import b64, text_deltas
from .directives import from_text
from .engine import Emit

if TYPE_CHECKING:
    from .turn import Turn

DELTA_SECONDS = 0.5  # raw audio streams in chunks of this length
MAX_SPOKEN_BYTES = 1000  # about 80 s of speech; longer texts are cut (the answer stays fast)
_INSTRUCTION = re.compile(
    r"^\s*((?:say|read|speak|whisper|shout|narrate|announce)\b[^:\n]{0,80}):\s*(\S.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LINE = re.compile(r"^\s*([^:\n]{1,40}):\s*(\S.*?)\s*$")


def is_tts(model: str) -> bool:
    return "tts" in model


def is_transcribe(model: str) -> bool:
    return "transcribe" in model


def speakers(turn: Turn) -> list[dict[str, Any]]:
    """The speech configs of the request: ``SpeakerConfig`` (``{"speakers": [...]}``) or a list of them."""
    config = turn.generation_config.get("speech_config")
    if isinstance(config, dict):
        config = config.get("speakers") if "speakers" in config else [config]
    return [c for c in config or [] if isinstance(c, dict)]


def _voices(turn: Turn) -> tuple[dict[str, str], str | None]:
    configs = speakers(turn)
    named = {
        str(c["speaker"]).lower(): str(c.get("voice") or audio.DEFAULT_VOICE)
        for c in configs
        if c.get("speaker")
    }
    return named, next((str(c["voice"]) for c in configs if c.get("voice")), None)


def script(turn: Turn, text: str) -> tuple[list[tuple[str, str, str | None]], str | None]:
    """What is spoken: ``[(text, voice, speaker)]`` and the style instruction, if the prompt gave one."""
    named, voice = _voices(turn)
    spans = _annotated_spans(turn, named, voice)
    if spans:
        return spans, None
    if named:
        lines = [m for m in map(_LINE.match, text.splitlines()) if m and m.group(1).strip().lower() in named]
        if lines:
            return [(m.group(2), named[m.group(1).strip().lower()], m.group(1).strip()) for m in lines], None
    instruction = _INSTRUCTION.match(text)
    if instruction:
        return [(instruction.group(2).strip(), voice or audio.DEFAULT_VOICE, None)], instruction.group(
            1
        ).strip()
    return [(text.strip() or "…", voice or audio.DEFAULT_VOICE, None)], None


def _annotated_spans(
    turn: Turn, named: dict[str, str], voice: str | None
) -> list[tuple[str, str, str | None]]:
    """Spans of the last input text that carry ``speech_metadata`` annotations (byte offsets)."""
    for step in reversed(turn.input_steps):
        for block in step.get("content") or [] if step.get("type") == "user_input" else []:
            marks = [a for a in block.get("annotations") or [] if a.get("type") == "speech_metadata"]
            if block.get("type") != "text" or not marks:
                continue
            raw = str(block.get("text", "")).encode("utf-8")
            spans = []
            for mark in sorted(marks, key=lambda a: a.get("start_index") or 0):
                span = raw[mark.get("start_index") or 0 : mark.get("end_index") or len(raw)]
                spoken = from_text(span.decode("utf-8", "replace"))[1].strip()
                speaker = mark.get("speaker")
                if spoken:
                    chosen = named.get(str(speaker).lower()) if speaker else None
                    spans.append((spoken, chosen or voice or audio.DEFAULT_VOICE, speaker))
            return spans
    return []


def audio_format(turn: Turn) -> dict[str, Any]:
    """The typed audio ``response_format`` of the request ({} when there is none)."""
    formats = turn.request.get("response_format")
    for fmt in formats if isinstance(formats, list) else [formats]:
        if isinstance(fmt, dict) and fmt.get("type") == "audio":
            return fmt
    return {}


def speech(turn: Turn, text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The content blocks and deltas of ``text`` spoken: [script with speech_metadata,] audio."""
    lines, style = script(turn, text)
    budget, segments = MAX_SPOKEN_BYTES, []
    for spoken, voice, _ in lines:
        cut = spoken.encode("utf-8")[: max(budget, 0)].decode("utf-8", "ignore")
        budget -= len(cut.encode("utf-8"))
        if cut:
            segments.append((cut, audio.voice_pitch(voice)))
    fmt = audio_format(turn)
    mime = fmt.get("mime_type") if fmt.get("mime_type") in audio.ENCODABLE else None
    if mime is None:  # no format, or one the emulator cannot encode (mp3, ogg_opus): the service's PCM / WAV
        mime = "audio/wav" if fmt.get("mime_type") else "audio/l16"
    g711 = mime in ("audio/alaw", "audio/mulaw")
    rate = min(max(int(fmt.get("sample_rate") or (8000 if g711 else audio.SERVICE_RATE)), 8000), 48000)
    data = audio.encode(audio.synthesize(segments or [("…", audio.voice_pitch(None))], rate), rate, mime)
    block = {"type": "audio", "mime_type": mime, "data": b64(data), "sample_rate": rate, "channels": 1}
    if mime == "audio/wav":  # a file cannot be cut into playable pieces: one delta
        deltas = [dict(block)]
    else:  # raw samples stream in chunks, each playable on its own
        size = int(rate * DELTA_SECONDS) * (1 if g711 else 2)
        meta = {k: v for k, v in block.items() if k != "data"}
        deltas = [dict(meta, data=b64(data[i : i + size])) for i in range(0, len(data), size)]
    blocks, text_parts = [block], []
    if any(speaker for _, _, speaker in lines):
        written, annotations = "", []
        for spoken, _, speaker in lines:
            prefix = f"{speaker}: " if speaker else ""
            start = len((written + prefix).encode("utf-8"))
            written += prefix + spoken
            mark = {
                "type": "speech_metadata",
                "start_index": start,
                "end_index": len(written.encode("utf-8")),
            }
            if speaker:
                mark["speaker"] = speaker
            if style:
                mark["style"] = style
            annotations.append(mark)
            written += "\n"
        script_block = {"type": "text", "text": written.rstrip("\n"), "annotations": annotations}
        blocks.insert(0, script_block)
        text_parts = text_deltas(script_block["text"], {})
        text_parts.append({"type": "text_annotation_delta", "annotations": annotations})
    return blocks, text_parts + deltas


def tts_answer(turn: Turn) -> Emit:
    blocks, deltas = speech(turn, turn.prompt)
    return Emit({"type": "model_output", "content": blocks}, deltas=deltas)


# -- transcription ---------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def transcribe_answer(turn: Turn) -> Emit:
    """The transcript of every audio block of the input, with ``word_info`` annotations."""
    config = turn.generation_config.get("transcription_config") or {}
    timed = "word" in (config.get("timestamp_granularities") or [])
    diarize = bool(config.get("diarization_mode"))
    parts = [
        block
        for step in turn.input_steps
        if step.get("type") == "user_input"
        for block in step.get("content") or []
        if isinstance(block, dict) and block.get("type") == "audio"
    ]
    text, annotations, pitches = "", [], []
    for part in parts:
        if text:
            text += "\n\n"
        segments, note = _read_part(part)
        if segments is None:
            text += note
            continue
        for number, segment in enumerate(segments):
            if number:
                text += "\n"
            if segment.pitch not in pitches:
                pitches.append(segment.pitch)
            base = len(text.encode("utf-8"))
            for word in re.finditer(r"\S+", segment.text):
                first = len(segment.text[: word.start()].encode("utf-8"))
                last = first + len(word.group().encode("utf-8"))
                mark: dict[str, Any] = {
                    "type": "word_info",
                    "text": word.group(),
                    "start_index": base + first,
                    "end_index": base + last,
                }
                if timed:
                    mark["start_offset"] = _duration(segment.byte_time(first))
                    mark["end_offset"] = _duration(segment.byte_time(last))
                if diarize:
                    mark["speaker"] = f"spk_{pitches.index(segment.pitch) + 1}"
                annotations.append(mark)
            text += segment.text
    if not parts:
        text = "There is no audio in the input to transcribe."
    block: dict[str, Any] = {"type": "text", "text": text}
    deltas = text_deltas(text, turn.directives)
    if annotations:
        block["annotations"] = annotations
        deltas.append({"type": "text_annotation_delta", "annotations": annotations})
    return Emit({"type": "model_output", "content": [block]}, deltas=deltas)


def _read_part(part: dict[str, Any]) -> tuple[list[audio.Segment] | None, str]:
    """The speech segments of one audio block, or None and a note saying what the audio is."""
    mime = str(part.get("mime_type") or "")
    if not part.get("data"):
        return (
            None,
            f"[{mime or 'audio'} by URI ({part.get('uri', 'no URI')}): the emulator does not fetch it]",
        )
    try:
        data = base64.b64decode(part["data"])
    except (ValueError, TypeError, binascii.Error):
        return None, f"[{mime or 'audio'}: undecodable base64 data]"
    pcm = audio.read(data, mime, part.get("sample_rate"), part.get("channels"))
    if pcm is None:
        return None, (
            f"[{mime or 'audio'}, {len(data):,} bytes: the emulator transcribes only WAV and raw PCM "
            "(audio/l16, audio/alaw, audio/mulaw)]"
        )
    segments = audio.decode(pcm)
    return (segments, "") if segments else (None, audio.describe(pcm))
