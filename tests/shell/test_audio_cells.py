"""Audio out (TTS, typed audio formats, ``--voice``) and audio in (transcription), through real cells.

Cells run in a real InteractiveShell; the real SDK talks to the emulator over HTTP. The emulator's voice
is a tone modem (docs/emulator.md, "Audio, video, documents and typed output formats"): each segment starts
with a pilot tone at the voice's pitch, then two 40 ms tones a byte. So these tests can check what a player
gets — a WAV whose header and length match the text spoken, at the pitch of the voice asked for — and the
emulator's transcribe model reads our WAV back to the words, which proves the samples are intact.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import struct
import typing
import wave
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
from IPython.utils.capture import capture_output
from shell_checks import failed, ok

from gemini_magics import speech
from gemini_magics.blocks_media import AudioBlock
from gemini_magics.emulator import EmulatorServer
from gemini_magics.render import view

TTS = "gemini-3.1-flash-tts-preview"
TRANSCRIBE = "gemini-3.5-transcribe"
SYMBOL = 0.04  # seconds a tone lasts in the emulator's voice
PITCH = {"Puck": 225, "Charon": 250, "Kore": 275}  # the emulator's prebuilt voices 1-3: 200 + 25·index Hz


def seconds_spoken(*texts: str) -> float:
    """How long the emulator speaks: per segment a pilot (2 symbols) and 2 symbols a UTF-8 byte; 80 ms
    of silence between segments."""
    symbols = sum(2 + 2 * len(t.encode("utf-8")) for t in texts) + 2 * (len(texts) - 1)
    return symbols * SYMBOL


def read_wav(data: bytes) -> tuple[int, int, int, float, bytes]:
    """Check the RIFF/WAVE header by hand and with ``wave``: (rate, channels, bits, seconds, frames)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "RIFF size does not match the file"
    assert data[12:16] == b"fmt " and struct.unpack("<H", data[20:22])[0] == 1, "not PCM"
    with wave.open(io.BytesIO(data)) as file:
        rate, channels, width = file.getframerate(), file.getnchannels(), file.getsampwidth()
        frames = file.readframes(file.getnframes())
        return rate, channels, 8 * width, file.getnframes() / rate, frames


def pilot_hz(frames: bytes, rate: int) -> float:
    """The pitch of the first segment's pilot (its first two symbols), from the zero crossings."""
    samples = [s for (s,) in struct.iter_unpack("<h", frames[: 4 * round(rate * SYMBOL)]) if s]
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (2 * SYMBOL)


def request_of(emulator: EmulatorServer, result: Any) -> dict[str, Any]:
    record = emulator.emulator.store.get(result.id)
    assert record is not None
    return record.request


def transcribe(kernel: Any, wav_bytes: bytes) -> str:
    """What the emulator's transcribe model hears in ``wav_bytes`` (sent as ``--file VAR``)."""
    kernel.shell.user_ns["heard_wav"] = wav_bytes
    return ok(kernel.run(f"%%gemini --no-store -m {TRANSCRIBE} --file heard_wav\nTranscribe this.")).text


# -- audio out ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_tts_answer_is_a_playable_wav(kernel: Any, emulator: EmulatorServer, stream: str) -> None:
    """A TTS model's raw PCM (``audio/l16``, 24 kHz) comes back as one WAV, streamed or not, whose length
    is the text's; the static view embeds it in an ``<audio>`` player; the words survive the round trip."""
    result = ok(kernel.run(f"%%gemini speech -m {TTS} {stream}\nSay cheerfully: Hello from Jupyter"))
    assert result.status == "completed" and result.text == ""
    [block] = [x for x in result.blocks if isinstance(x, AudioBlock)]
    assert block.mime_type == "audio/l16" and block.sample_rate == 24000
    [data] = result.audio_bytes
    rate, channels, bits, seconds, frames = read_wav(data)
    assert (rate, channels, bits) == (24000, 1, 16)
    assert seconds == pytest.approx(seconds_spoken("Hello from Jupyter"))
    assert frames == block.data  # the service's samples, unchanged, behind a WAV header
    assert kernel.shell.user_ns["speech"] is result

    sent = request_of(emulator, result)
    assert "thinking_summaries" not in sent.get("generation_config", {}), "TTS models are not asked to think"

    bundle, metadata = result._repr_mimebundle_()
    markdown = bundle["text/markdown"]
    embedded = re.search(r'<audio controls src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"></audio>', markdown)
    assert embedded and base64.b64decode(embedded.group(1)) == data
    assert f"**Audio** · {seconds:.2f} s · PCM 16-bit, 24,000 Hz, mono (audio/l16) · " in markdown
    assert "text/html" not in bundle
    assert f"[audio: {seconds:.2f} s · PCM 16-bit, 24,000 Hz, mono (audio/l16)" in bundle["text/plain"]
    assert "no text" not in bundle["text/plain"]
    assert metadata["gemini"]["interaction_id"] == result.id

    player = result.audio
    assert player.data == data and player.mimetype == "audio/wav"
    assert "<audio" in player._repr_html_()
    assert "audio" in repr(result)
    assert transcribe(kernel, data) == "Hello from Jupyter"


def test_streamed_chunks_make_the_same_audio_as_one_answer(kernel: Any) -> None:
    """The stream sends 0.5 s chunks: they join into one block, and the rebuilt SDK interaction has one
    audio part — the same bytes as the unstreamed answer."""
    text = "Read this: " + "streaming audio in half-second chunks " * 2
    streamed = ok(kernel.run(f"%%gemini --no-store -m {TTS} --stream\n{text}"))
    whole = ok(kernel.run(f"%%gemini --no-store -m {TTS} --no-stream\n{text}"))
    assert streamed.audio_bytes == whole.audio_bytes and len(streamed.audio_bytes) == 1
    assert read_wav(streamed.audio_bytes[0])[3] > 5.0  # many chunks
    parts = [p for s in streamed.interaction.steps for p in getattr(s, "content", None) or []]
    [part] = [p for p in parts if p.type == "audio"]
    assert base64.b64decode(part.data) == next(x for x in whole.blocks if isinstance(x, AudioBlock)).data


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_audio_format_wav_and_mulaw(kernel: Any, stream: str) -> None:
    """``--audio-format``: a WAV file (streamed as one delta) is kept as it came; G.711 µ-law at 8 kHz is
    decoded into a 16-bit WAV that still says the words. A plain model speaks its text answer."""
    result = ok(kernel.run(f"%%gemini --no-store -m {TTS} --audio-format wav {stream}\nSay: Good morning"))
    [block] = [x for x in result.blocks if isinstance(x, AudioBlock)]
    assert block.mime_type == "audio/wav" and result.audio_bytes == [block.data]
    assert read_wav(block.data)[3] == pytest.approx(seconds_spoken("Good morning"))

    result = ok(kernel.run(f"%%gemini --no-store -m {TTS} --audio-format mulaw {stream}\nSay: Good night"))
    [block] = [x for x in result.blocks if isinstance(x, AudioBlock)]
    assert block.mime_type == "audio/mulaw" and len(block.data) == round(seconds_spoken("Good night") * 8000)
    rate, channels, bits, seconds, _ = read_wav(result.audio_bytes[0])
    assert (rate, channels, bits) == (8000, 1, 16) and seconds == pytest.approx(seconds_spoken("Good night"))
    assert "G.711 µ-law, 8,000 Hz, mono (audio/mulaw)" in result._repr_mimebundle_()[0]["text/markdown"]
    assert transcribe(kernel, result.audio_bytes[0]) == "Good night"

    spoken = ok(kernel.run(f"%%gemini --no-store --audio-format wav {stream}\nTell me a joke"))
    assert spoken.audio_bytes and read_wav(spoken.audio_bytes[0])[3] > 1


def test_save_writes_a_playable_wav(kernel: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ok(kernel.run(f"%%gemini -m {TTS} --save {out}\nHello, notebook"))
    saved = out / f"{result.id}-1.wav"
    assert f"saved {saved}" in result.notes
    assert sorted(out.iterdir()) == [saved]
    data = saved.read_bytes()
    assert data == result.audio_bytes[0]
    assert read_wav(data)[:4] == (24000, 1, 16, pytest.approx(seconds_spoken("Hello, notebook")))
    assert result.save(tmp_path / "again") == [tmp_path / "again" / f"{result.id}-1.wav"]


def test_speech_models_get_no_thinking_defaults(kernel: Any, emulator: EmulatorServer) -> None:
    """The configured thinking level and thought summaries go to other models, not to speech models —
    unless the cell asks for them."""
    kernel.run("%config GeminiMagics.thinking = 'low'")
    kernel.run("%config GeminiMagics.thoughts = True")
    speech_only = ok(kernel.run(f"%%gemini -m {TTS} --voice Kore\nSay: hi"))
    assert request_of(emulator, speech_only)["generation_config"] == {"speech_config": [{"voice": "Kore"}]}
    asked = ok(kernel.run(f"%%gemini -m {TTS} --thinking high --thoughts\nSay: hi"))
    config = request_of(emulator, asked)["generation_config"]
    assert config["thinking_level"] == "high" and config["thinking_summaries"] == "auto"
    other = ok(kernel.run("%%gemini --new\nHi"))
    config = request_of(emulator, other)["generation_config"]
    assert config["thinking_level"] == "low" and config["thinking_summaries"] == "auto"


# -- --voice --------------------------------------------------------------------------------------------


def test_voice_reaches_the_request_and_the_pitch(kernel: Any, emulator: EmulatorServer) -> None:
    """``--voice NAME`` → ``generation_config.speech_config``; each voice speaks at its own pitch (the
    default is Kore); names are spelled as Gemini spells them."""
    pitches = {}
    for voice, flag in (("Puck", "--voice puck"), ("Charon", "--voice Charon"), ("Kore", "")):
        result = ok(kernel.run(f"%%gemini -m {TTS} {flag}\nSay: Testing voices"))
        config = request_of(emulator, result).get("generation_config", {})
        assert config.get("speech_config") == ([{"voice": voice}] if flag else None)
        rate, *_, frames = read_wav(result.audio_bytes[0])
        pitches[voice] = pilot_hz(frames, rate)
        assert not result.notes
    for voice, hz in PITCH.items():
        assert pitches[voice] == pytest.approx(hz, abs=8), pitches


def test_unknown_voice_is_sent_with_a_note(kernel: Any, emulator: EmulatorServer) -> None:
    result = ok(kernel.run(f"%%gemini -m {TTS} --voice Marvin\nSay: Hello"))
    assert request_of(emulator, result)["generation_config"]["speech_config"] == [{"voice": "Marvin"}]
    assert any("--voice Marvin: not one of Gemini's 30 prebuilt voices" in n for n in result.notes)
    assert "not one of Gemini" in result._repr_mimebundle_()[0]["text/markdown"]


def test_voices_for_each_speaker_of_a_dialogue(kernel: Any, emulator: EmulatorServer) -> None:
    """``--voice SPEAKER=NAME`` per speaker → ``{"speakers": [...]}``: the answer holds the script and
    the audio, each line in its speaker's voice."""
    prompt = "Joe: How is the notebook?\nJane: It plays audio now."
    result = ok(kernel.run(f"%%gemini -m {TTS} --voice Joe=Puck --voice Jane=charon\n{prompt}"))
    assert request_of(emulator, result)["generation_config"]["speech_config"] == {
        "speakers": [{"speaker": "Joe", "voice": "Puck"}, {"speaker": "Jane", "voice": "Charon"}]
    }
    assert result.text == prompt
    rate, *_, seconds, frames = read_wav(result.audio_bytes[0])
    assert seconds == pytest.approx(seconds_spoken("How is the notebook?", "It plays audio now."))
    assert pilot_hz(frames, rate) == pytest.approx(PITCH["Puck"], abs=8)
    assert transcribe(kernel, result.audio_bytes[0]) == "How is the notebook?\nIt plays audio now."
    markdown = result._repr_mimebundle_()[0]["text/markdown"]
    assert markdown.index("Joe: How is the notebook?") < markdown.index("<audio controls")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ('--voice ""', "--voice '': a voice is one word"),
        ('--voice "Two words"', "a voice is one word"),
        ("--voice Joe=", "a voice is one word"),
        ("--voice =Puck", "write SPEAKER=NAME"),
        ("--voice Joe=Puck --voice Kore", "give one NAME, or SPEAKER=NAME for each speaker"),
        ("--voice Joe=Puck --voice joe=Kore", "the same SPEAKER twice"),
        ("--research --voice Puck", "--voice applies to models, not agents"),
        ("--audio-format flac", "--audio-format 'flac': choose one of wav, l16, mp3, ogg_opus, alaw, mulaw"),
        ("--audio-format wav --schema Person", "--audio-format and --schema both set the answer's format"),
    ],
)
def test_bad_speech_flags_are_one_line(
    kernel: Any, capsys: pytest.CaptureFixture[str], flags: str, words: str
) -> None:
    failed(kernel.run(f"%%gemini {flags}\nSay: hi"), capsys, words)


def test_speech_flags_follow_the_installed_sdk() -> None:
    """``--audio-format`` offers exactly the SDK's audio MIME types; ``voice`` is a free string in the SDK
    (so a name is checked for its form only: if the SDK starts listing voices, this fails)."""
    from google.genai._gaos.types.interactions import audioresponseformat, speechconfig

    literal = typing.get_args(audioresponseformat.AudioResponseFormatMimeType)[0]
    assert sorted(m.removeprefix("audio/") for m in typing.get_args(literal)) == sorted(speech.AUDIO_FORMATS)
    assert speechconfig.SpeechConfig.model_fields["voice"].annotation == typing.Optional[str]  # noqa: UP045


def test_help_lists_the_speech_flags(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kernel.line("help")
    printed = capsys.readouterr().out
    assert "--voice [SPEAKER=]NAME" in printed and "--audio-format FORMAT" in printed
    assert "--voice Puck" in printed  # the example


# -- the views ------------------------------------------------------------------------------------------


def test_widget_view_has_a_player(kernel: Any) -> None:
    """In a kernel the answer's widget view holds an ``ipywidgets.Audio`` player (not autoplaying) with the
    WAV, and the line that says what it is."""
    result = ok(kernel.run(f"%%gemini --no-store -m {TTS}\nSay: A player"))
    root = view.build_widget(result)
    players = [x for x in root.children if isinstance(x, w.Audio)]
    assert len(players) == 1
    assert players[0].value == result.audio_bytes[0] and players[0].format == "wav"
    assert players[0].autoplay is False and players[0].controls is True
    lines = [o["data"]["text/markdown"] for x in root.children if isinstance(x, w.Output) for o in x.outputs]
    assert any(line.startswith("**Audio** · ") and "<audio" not in line for line in lines)


def test_live_view_shows_the_audio_arriving(kernel: Any) -> None:
    """While a TTS answer streams, the live view says how much audio arrived; it ends empty (the final
    view, with the player, replaces it)."""
    kernel.shell.magics_manager.registry["GeminiMagics"].runner().live = True
    with capture_output() as captured:
        result = ok(kernel.run(f"%%gemini --no-store -m {TTS} --stream\nSay: Live audio in the notebook"))
    views = [o.data.get("text/markdown", "") for o in captured.outputs]
    live = [v for v in views if "**Audio** · " in v]
    assert live and all("<audio" not in v for v in live), views
    assert captured.outputs[-1].data == {"text/plain": ""}
    assert re.search(r"\*\*Audio\*\* · \d\.\d\d s · PCM 16-bit", live[0])
    assert result.audio_bytes


# -- audio in -------------------------------------------------------------------------------------------


def test_transcription_of_a_wav_file(
    kernel: Any, emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--file talk.wav`` with a transcribe model: the file goes inline as ``audio/wav`` and the answer is
    its words. A WAV without the emulator's speech gets an honest description."""
    monkeypatch.chdir(tmp_path)
    spoken = ok(kernel.run(f"%%gemini --no-store -m {TTS} --voice Zephyr\nThe meeting starts at nine"))
    Path("talk.wav").write_bytes(spoken.audio_bytes[0])
    heard = ok(kernel.run(f"%%gemini -m {TRANSCRIBE} --file talk.wav\nTranscribe this recording."))
    assert heard.text == "The meeting starts at nine"
    [part] = [p for p in request_of(emulator, heard)["input"][0]["content"] if p["type"] == "audio"]
    assert part["mime_type"] == "audio/wav" and base64.b64decode(part["data"]) == spoken.audio_bytes[0]
    assert "thinking_summaries" not in request_of(emulator, heard).get("generation_config", {})

    silence = io.BytesIO()
    with wave.open(silence, "wb") as file:
        file.setnchannels(2)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(bytes(4 * 24000))
    Path("quiet.wav").write_bytes(silence.getvalue())
    quiet = ok(kernel.run(f"%%gemini --no-store -m {TRANSCRIBE} --file quiet.wav\nTranscribe this."))
    assert quiet.text.startswith("[1.50 s of WAV audio, 16,000 Hz, 2 channels, 16-bit")
