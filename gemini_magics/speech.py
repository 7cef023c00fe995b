"""Speech settings of a cell: ``--voice`` and ``--audio-format`` → the create request.

google-genai 3.6.1 carries voices in ``generation_config.speech_config``: a list of ``SpeechConfig``
(``{voice, speaker, language}``), or a ``SpeakerConfig`` (``{"speakers": [...]}``) when the prompt's
lines name speakers ("Joe: …"). ``voice`` is a plain string there — the SDK constrains no name — so a
name is checked for its form only, and one that is none of Gemini's prebuilt voices gets a note instead
of an error (new voices need no new release). ``--audio-format`` is the SDK's ``AudioResponseFormat``
MIME type without its ``audio/`` prefix (tests/shell/test_audio_cells.py pins the list to the installed SDK).

Speech models (TTS, transcription) do not think: unless the cell says ``--thoughts`` or ``--thinking``,
they get neither thought summaries nor a thinking level, which the configured defaults (the ``thoughts``
and ``thinking`` settings) would otherwise add to every request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Gemini's prebuilt TTS voices (https://ai.google.dev/gemini-api/docs/speech-generation#voices).
PREBUILT_VOICES = (
    *("Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe"),
    *("Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi"),
    *("Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi"),
    *("Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat"),
)
AUDIO_FORMATS = ("wav", "l16", "mp3", "ogg_opus", "alaw", "mulaw")
_VOICE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_SPEAKER = re.compile(r"[^:=\n]{1,40}")  # as the prompt's lines name them ("Joe: …"): no colon


def is_speech_model(model: Any) -> bool:
    """TTS and transcription models (IDs with ``tts`` or ``transcribe``)."""
    name = str(model or "").lower()
    return "tts" in name or "transcribe" in name


def check(
    values: Sequence[str], audio_format: str | None, agent: bool, schema: bool
) -> tuple[tuple[str, ...], str | None]:
    """``--voice`` values (``NAME`` or ``SPEAKER=NAME``) and ``--audio-format``, checked and normalised
    (prebuilt voice names spelled as Gemini spells them); ``ValueError`` with one line for the user."""
    voices, speakers = [], []
    for value in values:
        speaker, sep, name = value.rpartition("=") if "=" in value else ("", "", value)
        speaker, name = speaker.strip(), name.strip()
        if sep and not _SPEAKER.fullmatch(speaker):
            raise ValueError(f"--voice {value}: write SPEAKER=NAME with the speaker as the prompt names it")
        if not _VOICE.fullmatch(name):
            raise ValueError(f"--voice {value!r}: a voice is one word, e.g. Kore or Puck")
        known = {v.lower(): v for v in PREBUILT_VOICES}
        voices.append(f"{speaker}={known.get(name.lower(), name)}" if sep else known.get(name.lower(), name))
        speakers.append(speaker.lower() if sep else None)
    if len(voices) > 1 and None in speakers:
        raise ValueError("--voice: give one NAME, or SPEAKER=NAME for each speaker of the prompt")
    if len(set(speakers)) < len(speakers):
        raise ValueError("--voice: the same SPEAKER twice")
    fmt = None
    if audio_format is not None:
        fmt = audio_format.strip().lower().removeprefix("audio/")
        if fmt not in AUDIO_FORMATS:
            raise ValueError(f"--audio-format {audio_format!r}: choose one of {', '.join(AUDIO_FORMATS)}")
    if agent and (voices or fmt):
        raise ValueError(f"{'--voice' if voices else '--audio-format'} applies to models, not agents")
    if fmt and schema:
        raise ValueError("--audio-format and --schema both set the answer's format: pick one")
    return tuple(voices), fmt


def speech_config(voices: Sequence[str]) -> Any:
    """The ``speech_config`` of checked ``--voice`` values: a list with one voice, or the speakers."""
    if len(voices) == 1 and "=" not in voices[0]:
        return [{"voice": voices[0]}]
    pairs = [v.rpartition("=") for v in voices]
    return {"speakers": [{"speaker": speaker, "voice": name} for speaker, _, name in pairs]}


def apply(params: dict[str, Any], request: Any, notes: list[str]) -> None:
    """Put a cell's speech settings into its create request (``params``; a model's, not an agent's)."""
    if "model" not in params:
        return
    config = params.setdefault("generation_config", {})
    if is_speech_model(params["model"]):  # they do not think: the configured defaults are not sent
        if request.thoughts is None:
            config.pop("thinking_summaries", None)
        if request.thinking is None:
            config.pop("thinking_level", None)
    if request.voices:
        config["speech_config"] = speech_config(request.voices)
        for voice in request.voices:
            name = voice.rpartition("=")[2]
            if name not in PREBUILT_VOICES:
                notes.append(
                    f"--voice {name}: not one of Gemini's {len(PREBUILT_VOICES)} prebuilt voices "
                    f"({', '.join(PREBUILT_VOICES[:4])}, …); the service may refuse it"
                )
    if not config:
        del params["generation_config"]
    if request.audio_format:
        params["response_format"] = {"type": "audio", "mime_type": f"audio/{request.audio_format}"}
