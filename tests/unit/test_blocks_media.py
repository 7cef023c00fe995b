"""Audio blocks from the wire: formats, G.711, joined stream chunks, and what the wire may get wrong.

The happy paths run through real cells in tests/shell/test_audio_cells.py; these are the shapes the emulator
does not send (MIME parameters, stereo, odd byte counts, padded chunks, hostile or absurd fields).
"""

from __future__ import annotations

import base64
import io
import struct
import warnings
import wave

import pytest

from gemini_magics import blocks as b
from gemini_magics.blocks_media import AudioBlock, content, g711_to_pcm, parse_mime
from gemini_magics.render import audio, static


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wav_info(data: bytes) -> tuple[int, int, int]:
    with wave.open(io.BytesIO(data)) as file:
        return file.getframerate(), file.getnchannels(), file.getnframes()


def samples(data: bytes) -> list[int]:
    return [s for (s,) in struct.iter_unpack("<h", data)]


def test_g711_decodes_to_the_standard_values() -> None:
    """ITU-T G.711's table ends and zeros; and every code as CPython's audioop decodes it, where it exists."""
    assert samples(g711_to_pcm(bytes([0x00, 0x80, 0xFF, 0x7F]), "mulaw")) == [-32124, 32124, 0, 0]
    assert samples(g711_to_pcm(bytes([0xD5, 0x55, 0xAA, 0x2A]), "alaw")) == [8, -8, 32256, -32256]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # removed in Python 3.13
    every = bytes(range(256))
    assert g711_to_pcm(every, "mulaw") == audioop.ulaw2lin(every, 2)
    assert g711_to_pcm(every, "alaw") == audioop.alaw2lin(every, 2)


def test_pcm_format_from_mime_parameters_and_fields() -> None:
    """``audio/L16;codec=pcm;rate=16000`` as Gemini labels PCM; fields win over parameters; a cut-off
    last frame is dropped from the WAV."""
    assert parse_mime("audio/L16; codec=pcm; rate=16000") == ("audio/l16", {"codec": "pcm", "rate": "16000"})
    block = content(
        {"type": "audio", "mime_type": "audio/L16;codec=pcm;rate=16000", "data": b64(bytes(3201))}
    )
    data, mime = block.playable()
    assert mime == "audio/wav" and wav_info(data) == (16000, 1, 1600)
    assert block.seconds == pytest.approx(0.1)
    stereo = content(
        {
            "type": "audio",
            "mime_type": "audio/pcm;rate=8000",
            "sample_rate": 48000,
            "channels": 2,
            "data": b64(bytes(1000)),
        }
    )
    assert wav_info(stereo.playable()[0]) == (48000, 2, 250)
    assert "PCM 16-bit, 48,000 Hz, stereo (audio/pcm)" in audio.describe(stereo)


@pytest.mark.parametrize("rate", ["fast", 10**12, -5, 0, True, None, 1.5e300])
@pytest.mark.parametrize("channels", ["two", 0, 1000, -1, None])
def test_absurd_fields_fall_back_to_the_service_defaults(rate: object, channels: object) -> None:
    block = content(
        {
            "type": "audio",
            "mime_type": "audio/l16",
            "sample_rate": rate,
            "channels": channels,
            "data": b64(bytes(480)),
        }
    )
    assert (block.rate, block.channel_count) == (24000, 1)
    assert wav_info(block.playable()[0]) == (24000, 1, 240)
    assert static.block_markdown(block, embed_images=True).startswith(
        '<audio controls src="data:audio/wav;base64,'
    )


def test_what_the_service_names_is_never_markup() -> None:
    """A hostile MIME type or URI: reduced to safe characters, never embedded, no link but http(s)."""
    hostile = content(
        {
            "type": "audio",
            "mime_type": 'audio/x-<img src=x onerror="alert(1)">',
            "data": b64(b"x" * 10),
            "uri": "javascript:alert(1)",
        }
    )
    shown = static.block_markdown(hostile, embed_images=True)
    assert "<" not in shown and '"' not in shown and "javascript" not in shown
    assert shown == "**Audio** · audio/x-imgsrcxonerroralert1 · 10 bytes"
    assert hostile.playable()[1] == "application/octet-stream" and audio.players(hostile) == []
    linked = content(
        {"type": "audio", "mime_type": "audio/mp3", "uri": "https://example.com/files/a1?alt=media"}
    )
    assert static.block_markdown(linked) == (
        "**Audio** · MP3 (audio/mp3) · by URI · [audio file](https://example.com/files/a1?alt=media)"
    )
    odd = content({"type": "audio", "mime_type": "audio/mp3", "uri": "https://example.com/a)(b$c"})
    assert "[audio file]" not in static.block_markdown(odd)
    assert content({"type": "audio", "data": "not base64!"}).data == b""


def test_audio_files_keep_their_type() -> None:
    """MP3 from the service is played and saved as MP3 (``audio/mpeg``, the name browsers know)."""
    mp3 = b"ID3\x04" + bytes(400)
    block = content({"type": "audio", "mime_type": "audio/mp3", "data": b64(mp3)})
    assert block.playable() == (mp3, "audio/mpeg") and block.seconds is None
    assert static.block_markdown(block, embed_images=True) == (
        f'<audio controls src="data:audio/mpeg;base64,{b64(mp3)}"></audio>\n\n'
        "**Audio** · MP3 (audio/mp3) · 404 bytes"
    )
    assert audio.ipython_audio(block).mimetype == "audio/mpeg"
    huge = AudioBlock(bytes(audio.MAX_EMBEDDED + 2), "audio/l16")
    assert "<audio" not in static.block_markdown(huge, embed_images=True)


def stream(*deltas: dict) -> list[dict]:
    events = [{"event_type": "step.start", "index": 0, "step": {"type": "model_output"}}]
    events += [{"event_type": "step.delta", "index": 0, "delta": {"type": "audio", **d}} for d in deltas]
    return [*events, {"event_type": "step.stop", "index": 0}]


def test_stream_chunks_join_while_the_format_holds() -> None:
    """Raw chunks of one format join (also when a chunk's base64 is padded, for the rebuilt steps); a new
    format starts a new block; WAV files never join."""
    l16 = {"mime_type": "audio/l16", "sample_rate": 24000, "channels": 1}
    chunks = [bytes([1]) * 1000, bytes([2]) * 1001, bytes([3]) * 998]  # 1001: padded base64
    events = stream(
        *({**l16, "data": b64(c)} for c in chunks),
        {"mime_type": "audio/l16", "sample_rate": 16000, "data": b64(b"\x04" * 10)},
        {"mime_type": "audio/wav", "data": b64(b"RIFF1")},
        {"mime_type": "audio/wav", "data": b64(b"RIFF2")},
    )
    assembler, rebuilder = b.Assembler(), b.StepRebuilder()
    for event in events:
        assembler.feed(event)
        rebuilder.feed(event)
    blocks = assembler.blocks
    assert [type(x) for x in blocks] == [AudioBlock] * 4
    assert blocks[0].data == b"".join(chunks) and blocks[1].sample_rate == 16000
    assert [x.data for x in blocks[2:]] == [b"RIFF1", b"RIFF2"]
    [step] = rebuilder.steps()
    parts = step["content"]
    assert len(parts) == 4 and base64.b64decode(parts[0]["data"]) == b"".join(chunks)
    assert [base64.b64decode(p["data"]) for p in parts[1:]] == [b"\x04" * 10, b"RIFF1", b"RIFF2"]
    assert b.from_steps([step])[0].data == blocks[0].data
