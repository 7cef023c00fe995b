"""Conformance: audio out (TTS), audio in (transcribe) and typed media output, through the real SDK.

Every check decodes what the emulator sent with tools independent of it (``wave``, RIFF/AVI and PDF
parsing, Pillow, a zero-crossing pitch estimate); only the round trip TTS → transcribe uses the emulator
on both ends, which is the point of it.
"""

from __future__ import annotations

import array
import base64
import io
import itertools
import json
import math
import re
import struct
import sys
import wave
from typing import Any

import pytest
from google.genai import interactions as gi
from pydantic import BaseModel

from gemini_magics.emulator import EmulatorServer

TTS_MODELS = ["gemini-3.1-flash-tts-preview", "gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts"]
TRANSCRIBE = "gemini-3.5-transcribe"
MODEL = "gemini-3-flash-preview"
WORD_TIMES = {"transcription_config": {"timestamp_granularities": ["word"]}}


@pytest.fixture(scope="module")
def sdk(emulator: EmulatorServer) -> Any:
    from google import genai
    from google.genai import types

    http = types.HttpOptions(base_url=emulator.base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="test-key", http_options=http)


def typed(obj: Any, cls: type[BaseModel]) -> Any:
    """``obj`` is the SDK's class ``cls`` and passes its strict validation."""
    assert isinstance(obj, cls), f"expected {cls.__name__}, got {type(obj).__name__}: {obj!r}"
    cls.model_validate(obj.model_dump(mode="json", by_alias=True, exclude_none=True))
    return obj


_CONTENT = {
    "text": gi.TextContent,
    "audio": gi.AudioContent,
    "image": gi.ImageContent,
    "video": gi.VideoContent,
    "document": gi.DocumentContent,
}


def create(sdk: Any, **request: Any) -> Any:
    interaction = sdk.interactions.create(**request)
    assert interaction.status == "completed", (interaction.status, interaction.errors)
    for step in interaction.steps:
        if step.type == "model_output":
            for block in step.content:
                typed(block, _CONTENT[block.type])
    return interaction


def streamed(sdk: Any, **request: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """The last step's content rebuilt from a stream (audio deltas joined by their bytes), and its deltas."""
    blocks: list[dict[str, Any]] = []
    deltas: list[Any] = []
    completed = False
    for event in sdk.interactions.create(stream=True, **request):
        if isinstance(event, gi.StepStart):
            blocks, deltas = [], []
        elif isinstance(event, gi.StepDelta):
            delta = event.delta
            deltas.append(delta)
            last = blocks[-1] if blocks else {}
            if delta.type == "text":
                if last.get("type") == "text":
                    last["text"] += delta.text
                else:
                    blocks.append({"type": "text", "text": delta.text})
            elif delta.type == "text_annotation_delta":
                last.setdefault("annotations", []).extend(
                    a.model_dump(exclude_none=True) for a in delta.annotations
                )
            elif delta.type == "audio" and last.get("type") == "audio":
                last["bytes"] += base64.b64decode(delta.data)
            elif delta.type in ("audio", "image", "video", "document"):
                fields = delta.model_dump(exclude_none=True)
                blocks.append(dict(fields, bytes=base64.b64decode(fields.pop("data"))))
        elif isinstance(event, gi.InteractionCompletedEvent):
            completed = event.interaction.status == "completed"
    assert completed, "the stream did not complete"
    return blocks, deltas


def audio_of(interaction: Any) -> tuple[Any, bytes]:
    block = typed(interaction.output_audio, gi.AudioContent)
    assert block is [b for b in interaction.steps[-1].content if b.type == "audio"][-1]
    return block, base64.b64decode(block.data, validate=True)


def pcm_samples(block: Any, data: bytes) -> tuple[array.array, int]:
    """Mono 16-bit samples and rate of an audio block, read without the emulator's code."""
    if block.mime_type == "audio/wav":
        with wave.open(io.BytesIO(data)) as source:
            assert source.getsampwidth() == 2 and source.getnchannels() == 1
            samples, rate = array.array("h", source.readframes(source.getnframes())), source.getframerate()
    else:
        assert block.mime_type == "audio/l16" and block.channels == 1
        samples, rate = array.array("h", data), block.sample_rate
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, rate


def rms(samples: array.array) -> float:
    return math.sqrt(sum(x * x for x in samples) / max(len(samples), 1))


def pitch(samples: array.array, rate: int) -> float:
    """The frequency of the first 40 ms, from its zero crossings."""
    window = samples[: int(rate * 0.04)]
    crossings = sum(1 for a, b in itertools.pairwise(window) if (a >= 0) != (b >= 0))
    return crossings * rate / (2 * len(window))


def transcribe(sdk: Any, block: Any, **config: Any) -> Any:
    part = {"type": "audio", "data": block.data, "mime_type": block.mime_type}
    if block.sample_rate:
        part["sample_rate"] = block.sample_rate
    generation = {"transcription_config": config} if config else None
    return create(sdk, model=TRANSCRIBE, input=[part], generation_config=generation)


# -- TTS -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TTS_MODELS)
def test_tts_returns_the_services_raw_pcm(sdk: Any, model: str) -> None:
    interaction = create(sdk, model=model, input="Have a wonderful day!")
    assert [s.type for s in interaction.steps if s.type != "user_input"] == ["model_output"]  # no thought
    assert [b.type for b in interaction.steps[-1].content] == ["audio"]
    block, data = audio_of(interaction)
    assert (block.mime_type, block.sample_rate, block.channels) == ("audio/l16", 24000, 1)
    samples, rate = pcm_samples(block, data)
    assert 0.5 < len(samples) / rate < 5 and rms(samples) > 1000  # seconds of sound, not silence


def test_wav_format_parses_and_honours_the_sample_rate(sdk: Any) -> None:
    fmt = {"type": "audio", "mime_type": "audio/wav", "sample_rate": 16000}
    block, data = audio_of(create(sdk, model=TTS_MODELS[0], input="Testing one two", response_format=fmt))
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    samples, rate = pcm_samples(block, data)
    assert rate == block.sample_rate == 16000
    assert rms(samples) > 1000


def test_audio_depends_on_the_prompt_and_the_voice(sdk: Any) -> None:
    def speak(text: str, voice: str | None = None) -> tuple[bytes, float]:
        config = {"speech_config": [{"voice": voice}]} if voice else None
        block, data = audio_of(create(sdk, model=TTS_MODELS[1], input=text, generation_config=config))
        return data, pitch(*pcm_samples(block, data))

    hello, _ = speak("Hello there")
    assert speak("Hello there")[0] == hello  # deterministic
    assert speak("Goodbye now")[0] != hello
    pitches = {voice: speak("Hello there", voice)[1] for voice in ("Puck", "Charon", "Fenrir")}
    assert len({round(p, -1) for p in pitches.values()}) == 3, pitches  # a different pitch per voice
    assert speak("Hello there", "Puck")[0] != speak("Hello there", "Charon")[0]
    assert speak("Hello there", "Kore")[0] == hello  # Kore is the default voice


def test_stream_sends_audio_deltas_that_join_to_the_same_audio(sdk: Any) -> None:
    request = {"model": TTS_MODELS[0], "input": "A longer sentence, spoken in several chunks."}
    _, data = audio_of(create(sdk, **request))
    blocks, deltas = streamed(sdk, **request)
    audio_deltas = [typed(d, gi.AudioDelta) for d in deltas]
    assert len(audio_deltas) > 1 and all(
        d.mime_type == "audio/l16" and d.sample_rate == 24000 for d in deltas
    )
    assert [b["type"] for b in blocks] == ["audio"] and blocks[0]["bytes"] == data


@pytest.mark.parametrize("mime", ["audio/l16", "audio/wav", "audio/alaw", "audio/mulaw"])
def test_tts_then_transcribe_recovers_the_text(sdk: Any, mime: str) -> None:
    text = "Grüße from the emulator: 42 tones, one voice."
    fmt = {"type": "audio", "mime_type": mime}
    block, data = audio_of(create(sdk, model=TTS_MODELS[2], input=f"Say slowly: {text}", response_format=fmt))
    assert block.mime_type == mime
    if mime in ("audio/alaw", "audio/mulaw"):  # G.711: one byte a sample at 8 kHz
        assert block.sample_rate == 8000 and 1 < len(data) / 8000 < 10
    transcript = transcribe(sdk, block)
    assert transcript.output_text == text  # the instruction "Say slowly:" was not spoken
    assert [s.type for s in transcript.steps][-1] == "model_output"


def test_word_info_offsets_are_consistent(sdk: Any) -> None:
    text = "Naïve words take time"
    block, data = audio_of(create(sdk, model=TTS_MODELS[0], input=text))
    seconds = len(data) / 2 / block.sample_rate
    transcript = transcribe(sdk, block, timestamp_granularities=["word"])
    output = typed(transcript.steps[-1].content[0], gi.TextContent)
    assert output.text == text
    words = [typed(a, gi.WordInfo) for a in output.annotations]
    assert [w.text for w in words] == text.split()
    encoded, previous_end = text.encode(), 0.0
    for word in words:
        assert encoded[word.start_index : word.end_index].decode() == word.text  # UTF-8 byte offsets
        start, end = (
            float(re.fullmatch(r"(\d+\.\d{3})s", o).group(1)) for o in (word.start_offset, word.end_offset)
        )
        assert previous_end <= start < end <= seconds + 1e-9
        previous_end = end
    assert end == pytest.approx(seconds)  # the last word ends with the audio
    untimed = transcribe(sdk, block).steps[-1].content[0].annotations
    assert [w.text for w in untimed] == text.split() and all(w.start_offset is None for w in untimed)
    # Streamed: the same text, then the annotations in a text_annotation_delta.
    blocks, deltas = streamed(
        sdk,
        model=TRANSCRIBE,
        input=[{"type": "audio", "data": block.data, "mime_type": "audio/l16"}],
        generation_config=WORD_TIMES,
    )
    assert blocks == [output.model_dump(exclude_none=True)]
    assert isinstance(deltas[-1], gi.TextAnnotationDelta)


def test_multi_speaker_script_has_speech_metadata_and_diarizes(sdk: Any) -> None:
    script = "Read this dialogue.\nJoe: How's it going today, Jane?\nJane: Not too bad, how about you?"
    config = {
        "speech_config": {
            "speakers": [{"speaker": "Joe", "voice": "Puck"}, {"speaker": "Jane", "voice": "Zephyr"}]
        }
    }
    interaction = create(sdk, model=TTS_MODELS[1], input=script, generation_config=config)
    text, audio = interaction.steps[-1].content
    assert text.text == "Joe: How's it going today, Jane?\nJane: Not too bad, how about you?"
    marks = [typed(a, gi.SpeechAnnotation) for a in text.annotations]
    assert [(m.speaker, text.text.encode()[m.start_index : m.end_index].decode()) for m in marks] == [
        ("Joe", "How's it going today, Jane?"),
        ("Jane", "Not too bad, how about you?"),
    ]
    transcript = transcribe(sdk, audio, diarization_mode="auto", timestamp_granularities=["word"])
    assert transcript.output_text == "How's it going today, Jane?\nNot too bad, how about you?"
    speakers = [w.speaker for w in transcript.steps[-1].content[0].annotations]
    assert speakers == ["spk_1"] * 5 + ["spk_2"] * 6
    blocks, _ = streamed(sdk, model=TTS_MODELS[1], input=script, generation_config=config)
    assert [b["type"] for b in blocks] == ["text", "audio"] and blocks[0]["text"] == text.text


def test_input_speech_metadata_annotations_pick_the_voices(sdk: Any) -> None:
    text = "First part. Second part."
    marks = [
        {"type": "speech_metadata", "speaker": "A", "start_index": 0, "end_index": 11},
        {"type": "speech_metadata", "speaker": "B", "start_index": 12, "end_index": 24},
    ]
    config = {"speech_config": [{"speaker": "A", "voice": "Orus"}, {"speaker": "B", "voice": "Leda"}]}
    block = create(
        sdk,
        model=TTS_MODELS[0],
        input=[{"type": "text", "text": text, "annotations": marks}],
        generation_config=config,
    ).output_audio
    words = transcribe(sdk, block, diarization_mode="auto").steps[-1].content[0].annotations
    assert [(w.text, w.speaker) for w in words] == [
        ("First", "spk_1"),
        ("part.", "spk_1"),
        ("Second", "spk_2"),
        ("part.", "spk_2"),
    ]


# -- audio in --------------------------------------------------------------------------------------------


def _wav(seconds: float, rate: int, channels: int) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(
            array.array(
                "h", (int(9000 * math.sin(i * (0.05 + i / 90000))) for i in range(frames * channels))
            ).tobytes()
        )
    return base64.b64encode(buffer.getvalue()).decode()


def test_other_audio_is_described_honestly(sdk: Any) -> None:
    wav = {"type": "audio", "data": _wav(1.5, 16000, 2), "mime_type": "audio/wav"}
    text = create(sdk, model=TRANSCRIBE, input=[wav]).output_text
    assert (
        text == "[1.50 s of WAV audio, 16,000 Hz, 2 channels, 16-bit; no speech the emulator can transcribe]"
    )
    mp3 = {"type": "audio", "data": base64.b64encode(b"ID3" + bytes(100)).decode(), "mime_type": "audio/mp3"}
    assert "103 bytes" in create(sdk, model=TRANSCRIBE, input=[mp3]).output_text
    # A model that does not transcribe keeps saying what it sees.
    seen = create(sdk, model=MODEL, input=[{"type": "text", "text": "What is this?"}, wav]).output_text
    assert seen.startswith("I see 1 audio (audio/wav")


# -- typed response formats -------------------------------------------------------------------------------


def test_typed_formats_give_their_content_types(sdk: Any) -> None:
    formats = [
        {"type": "text"},
        {"type": "audio", "mime_type": "audio/wav"},
        {"type": "image"},
        {"type": "video"},
    ]
    interaction = create(sdk, model=MODEL, input="A lighthouse at dusk", response_format=formats)
    blocks = interaction.steps[-1].content
    assert [(b.type, getattr(b, "mime_type", None)) for b in blocks] == [
        ("text", None),
        ("audio", "audio/wav"),
        ("image", "image/png"),
        ("video", "video/avi"),
    ]
    typed(interaction.output_video, gi.VideoContent)
    typed(interaction.output_image, gi.ImageContent)
    # The audio speaks the text answer.
    assert transcribe(sdk, interaction.output_audio).output_text == interaction.output_text
    stream_blocks, deltas = streamed(sdk, model=MODEL, input="A lighthouse at dusk", response_format=formats)
    assert [b["type"] for b in stream_blocks] == ["text", "audio", "image", "video"]
    assert stream_blocks[3]["bytes"] == base64.b64decode(interaction.output_video.data)
    typed(next(d for d in deltas if d.type == "video"), gi.VideoDelta)


def test_text_formats_are_plain_or_json(sdk: Any) -> None:
    plain = create(
        sdk,
        model=MODEL,
        input="Tell me about tides",
        response_format={"type": "text", "mime_type": "text/plain"},
    )
    assert "tides" in plain.output_text and not plain.output_text.lstrip().startswith(("{", '"'))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fmt = {"type": "text", "mime_type": "application/json", "schema": schema}
    answer = create(sdk, model=MODEL, input="A tide table", response_format=fmt).output_text
    assert set(json.loads(answer)) == {"name"}
    # A bare schema without a top-level type: the SDK sends it as a text format with the keys inline.
    bare = {"properties": {"port": {"type": "string"}}, "required": ["port"]}
    assert set(json.loads(create(sdk, model=MODEL, input="A port", response_format=bare).output_text)) == {
        "port"
    }


def test_unencodable_audio_formats_fall_back_to_wav(sdk: Any) -> None:
    fmt = {"type": "audio", "mime_type": "audio/mp3"}
    block, data = audio_of(create(sdk, model=MODEL, input="Hi", response_format=fmt))
    assert block.mime_type == "audio/wav" and data[:4] == b"RIFF"


def parse_avi(data: bytes) -> dict[str, Any]:
    """Walk an AVI's RIFF chunks: the main header, stream format and the frames in 'movi' and 'idx1'."""
    assert (
        data[:4] == b"RIFF" and data[8:12] == b"AVI " and struct.unpack("<I", data[4:8])[0] == len(data) - 8
    )
    found: dict[str, Any] = {"frames": [], "index": []}

    def walk(start: int, end: int) -> None:
        pos = start
        while pos < end:
            fourcc, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            body = data[pos + 8 : pos + 8 + size]
            if fourcc == b"LIST":
                if body[:4] == b"movi":
                    found["movi"] = pos + 8
                walk(pos + 12, pos + 8 + size)
            elif fourcc == b"avih":
                found["avih"] = struct.unpack("<14I", body)
            elif fourcc == b"strf":
                found["strf"] = struct.unpack("<IiiHHIIiiII", body)
            elif fourcc == b"00db":
                found["frames"].append(body)
            elif fourcc == b"idx1":
                found["index"] = [struct.unpack("<4sIII", body[i : i + 16]) for i in range(0, size, 16)]
            pos += 8 + size + size % 2

    walk(12, len(data))
    return found


@pytest.mark.parametrize(
    ("fmt", "size", "count"),
    [
        ({"type": "video"}, (160, 90), 16),
        ({"type": "video", "resolution": "1080p", "aspect_ratio": "9:16", "duration": "2s"}, (135, 240), 8),
    ],
)
def test_video_is_a_real_avi(sdk: Any, fmt: dict[str, Any], size: tuple[int, int], count: int) -> None:
    video = create(sdk, model=MODEL, input="A red kite over a beach", response_format=fmt).output_video
    assert video.mime_type == "video/avi"
    avi = parse_avi(base64.b64decode(video.data))
    micro, _, _, flags, frames, _, streams, _, width, height = avi["avih"][:10]
    assert (width, height) == size and frames == count == len(avi["frames"]) and streams == 1
    assert micro == 250_000 and flags & 0x10  # 4 frames a second, with an index
    bi_size, bi_width, bi_height, planes, bits, compression = avi["strf"][:6]
    assert (bi_size, bi_width, bi_height, planes, bits, compression) == (40, width, height, 1, 24, 0)
    assert all(len(f) == height * ((3 * width + 3) // 4 * 4) for f in avi["frames"])
    assert len(set(avi["frames"])) == count  # the picture moves
    for (fourcc, _, offset, length), frame in zip(avi["index"], avi["frames"], strict=True):
        chunk = base64.b64decode(video.data)[avi["movi"] + offset :]  # offsets count from "movi"
        assert fourcc == b"00db" and chunk[:4] == b"00db" and length == len(frame)
    other = create(sdk, model=MODEL, input="A green field", response_format=fmt).output_video
    assert parse_avi(base64.b64decode(other.data))["frames"][0] != avi["frames"][0]


def test_omni_models_answer_with_video(sdk: Any) -> None:
    interaction = create(sdk, model="gemini-omni-flash-preview", input="A paper boat")
    assert typed(interaction.output_video, gi.VideoContent).mime_type == "video/avi"


# -- images ----------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(
    ("config", "size"),
    [
        ({}, (256, 256)),
        ({"aspect_ratio": "16:9"}, (256, 144)),
        ({"aspect_ratio": "9:16", "image_size": "2K"}, (288, 512)),
        ({"aspect_ratio": "21:9", "image_size": "512"}, (128, 55)),
        ({"image_size": "4K"}, (1024, 1024)),
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks ImageConfig deprecated
def test_image_config_changes_the_dimensions(sdk: Any, config: dict[str, Any], size: tuple[int, int]) -> None:
    generation = {"image_config": config} if config else None
    interaction = create(sdk, model="gemini-3-pro-image-preview", input="A fox", generation_config=generation)
    data = base64.b64decode(interaction.output_image.data)
    assert png_size(data) == size
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        assert picture.size == size and len(picture.getcolors(1 << 20) or []) > 10


def test_image_format_gives_a_jpeg_of_its_aspect(sdk: Any) -> None:
    fmt = {"type": "image", "mime_type": "image/jpeg", "aspect_ratio": "3:4"}
    image = create(sdk, model=MODEL, input="A teapot", response_format=fmt).output_image
    assert image.mime_type == "image/jpeg"
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(image.data))) as picture:
        assert picture.format == "JPEG" and picture.size == (192, 256)


# -- documents -------------------------------------------------------------------------------------------


def test_document_modality_gives_a_pdf(sdk: Any) -> None:
    interaction = create(
        sdk, model=MODEL, input="Summarise tides in three bullet points", response_modalities=["document"]
    )
    block = typed(interaction.steps[-1].content[-1], gi.DocumentContent)
    assert block.mime_type == "application/pdf"
    data = base64.b64decode(block.data)
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    xref = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[xref:].startswith(b"xref")
    entries = data[xref:].split(b"\n")[3:]
    offsets = [int(e[:10]) for e in entries if e.endswith(b" n ")]
    for number, offset in enumerate(offsets, 1):
        assert data[offset:].startswith(b"%d 0 obj" % number)
    assert b"(Here is a short answer about *tides*:) Tj" in data


@pytest.mark.parametrize(
    ("request_fields", "spoken"),
    [
        ({"model": "lyria-3-clip-preview"}, "A calm piano loop"),  # music models play the prompt
        ({"model": MODEL, "response_modalities": ["audio"]}, None),  # other models speak their answer
    ],
)
def test_audio_from_music_models_and_the_audio_modality(
    sdk: Any, request_fields: dict[str, Any], spoken: str | None
) -> None:
    interaction = create(sdk, input="A calm piano loop", **request_fields)
    block, data = audio_of(interaction)
    assert block.mime_type == "audio/l16" and rms(pcm_samples(block, data)[0]) > 1000
    text = transcribe(sdk, block).output_text
    if spoken is not None:
        assert text == spoken
    else:
        assert text.startswith("Here is a short answer about *calm piano loop*")
