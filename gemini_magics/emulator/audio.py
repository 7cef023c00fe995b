"""Real audio for the fake model: speech that encodes its text in tones, and reading it back.

A TTS answer must be playable *and* checkable, so the "voice" is a tone modem: each segment starts with
a pilot tone (two symbols at the voice's base pitch), then every UTF-8 byte of the text is two symbols,
one tone per nibble (``base + (nibble + 1) * 100 Hz``). A symbol lasts 40 ms (about 12 characters a
second, a speaking pace) and every frequency is a multiple of 25 Hz, so each symbol holds whole cycles:
the tones are orthogonal and the Goertzel filter tells them apart exactly. Segments of a conversation
are separated by 80 ms of silence. ``decode`` inverts all of it, whatever the voice, so a transcribe
model recovers the text and the time of every word.

Formats are those the service names: raw 16-bit little-endian PCM (``audio/l16``, what TTS returns by
default, 24 kHz mono), ``audio/wav``, and G.711 ``audio/alaw`` / ``audio/mulaw``.
"""

from __future__ import annotations

import array
import functools
import io
import itertools
import math
import sys
import wave
import zlib
from dataclasses import dataclass

SERVICE_RATE = 24000  # what the service's TTS models produce
SYMBOL_SECONDS = 0.04
STEP_HZ = 100
PILOT_SYMBOLS = 2
GAP_SYMBOLS = 2
_BASE_LOW, _BASE_STEP, _BASES = 200, 25, 32  # voice pitches 200..975 Hz
_AMPLITUDE = 12000
_SILENCE_RMS = 300.0
_DOMINANCE = 0.5  # share of a symbol's energy its tone must hold to count as one of ours

# The service's prebuilt voices, each with its own pitch; other names get a pitch from their hash.
VOICES = (
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
)
DEFAULT_VOICE = "Kore"


def voice_pitch(voice: str | None) -> int:
    """The base frequency (Hz) of a voice: fixed for the prebuilt names, stable for any other name."""
    name = (voice or DEFAULT_VOICE).strip()
    known = {v.lower(): i for i, v in enumerate(VOICES)}
    index = known.get(name.lower(), zlib.crc32(name.lower().encode()) % _BASES)
    return _BASE_LOW + _BASE_STEP * index


# -- synthesis -------------------------------------------------------------------------------------------


def _symbol_samples(rate: int) -> int:
    return round(rate * SYMBOL_SECONDS)


def _tone(freq: int, rate: int, count: int) -> array.array:
    return array.array("h", (int(_AMPLITUDE * math.sin(2 * math.pi * freq * i / rate)) for i in range(count)))


def synthesize(segments: list[tuple[str, int]], rate: int = SERVICE_RATE) -> array.array:
    """16-bit mono samples speaking each ``(text, pitch)`` segment in turn."""
    n = _symbol_samples(rate)
    tones: dict[int, array.array] = {}
    silence = array.array("h", bytes(2 * n * GAP_SYMBOLS))
    out = array.array("h")
    for number, (text, pitch) in enumerate(segments):
        if number:
            out.extend(silence)
        symbols = [pitch] * PILOT_SYMBOLS
        for byte in text.encode("utf-8"):
            symbols += [pitch + (byte >> 4) * STEP_HZ + STEP_HZ, pitch + (byte & 15) * STEP_HZ + STEP_HZ]
        for freq in symbols:
            if freq not in tones:
                tones[freq] = _tone(freq, rate, n)
            out.extend(tones[freq])
    return out


def _little_endian(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def wav_bytes(samples: array.array, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(_little_endian(samples))
    return buffer.getvalue()


def _mulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample), 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _mulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    magnitude = ((((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 7)) - 0x84
    return -magnitude if code & 0x80 else magnitude


def _alaw_decode(code: int) -> int:
    code ^= 0x55
    exponent, mantissa = (code >> 4) & 7, code & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


_ENCODERS = {"audio/mulaw": _mulaw, "audio/alaw": _alaw}
_DECODERS = {"audio/mulaw": _mulaw_decode, "audio/alaw": _alaw_decode}


@functools.cache
def _g711_table(mime_type: str) -> bytes:
    return bytes(_ENCODERS[mime_type](s) for s in range(-32768, 32768))


ENCODABLE = ("audio/l16", "audio/wav", "audio/alaw", "audio/mulaw")


def encode(samples: array.array, rate: int, mime_type: str) -> bytes:
    """``samples`` in one of ``ENCODABLE``: raw little-endian PCM, a WAV file, or G.711 bytes."""
    if mime_type == "audio/wav":
        return wav_bytes(samples, rate)
    if mime_type in _ENCODERS:
        table = _g711_table(mime_type)
        return bytes(table[s + 32768] for s in samples)
    return _little_endian(samples)


# -- reading audio back ----------------------------------------------------------------------------------


@dataclass
class Pcm:
    """Decoded audio: mono samples (the first channel) and what the container said about it."""

    samples: array.array
    rate: int
    channels: int
    width: int  # bytes per sample in the source
    kind: str  # "WAV", "raw PCM", "A-law", "µ-law"

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


def read(data: bytes, mime_type: str, rate: int | None = None, channels: int | None = None) -> Pcm | None:
    """PCM samples of WAV, raw ``audio/l16`` or G.711 data; None for formats the emulator cannot read."""
    mime = mime_type.split(";")[0].strip().lower()
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as source:
                width, count, frame_rate = source.getsampwidth(), source.getnchannels(), source.getframerate()
                frames = source.readframes(source.getnframes())
        except (wave.Error, EOFError):
            return None
        return Pcm(_first_channel(frames, width, count), frame_rate, count, width, "WAV")
    count = channels or 1
    if mime in ("audio/l16", "audio/pcm"):
        return Pcm(_first_channel(data, 2, count), rate or SERVICE_RATE, count, 2, "raw PCM")
    if mime in _DECODERS:
        table = [_DECODERS[mime](code) for code in range(256)]
        samples = array.array("h", (table[b] for b in data[::count]))
        return Pcm(samples, rate or 8000, count, 1, "A-law" if mime == "audio/alaw" else "µ-law")
    return None


def _first_channel(frames: bytes, width: int, channels: int) -> array.array:
    if width == 2:
        samples = array.array("h", frames[: len(frames) - len(frames) % 2])
        if sys.byteorder == "big":
            samples.byteswap()
    elif width == 1:  # unsigned 8-bit
        samples = array.array("h", ((b - 128) << 8 for b in frames))
    else:  # 24/32-bit: keep the top 16 bits
        samples = array.array(
            "h",
            (
                int.from_bytes(frames[i + width - 2 : i + width], "little", signed=True)
                for i in range(0, len(frames), width)
            ),
        )
    return samples[::channels] if channels > 1 else samples


@dataclass
class Segment:
    """One decoded stretch of speech: its text, voice pitch and the symbol index it starts at."""

    text: str
    pitch: int
    first_symbol: int

    def byte_time(self, index: int) -> float:
        """Seconds from the start of the audio at which byte ``index`` of the text begins."""
        return (self.first_symbol + PILOT_SYMBOLS + 2 * index) * SYMBOL_SECONDS


def _goertzel(samples: array.array, start: int, n: int, freq: float, rate: int) -> float:
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples[start : start + n]:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _crossing_hz(samples: array.array, start: int, n: int, rate: int) -> float:
    window = samples[start : start + n]
    signs = [x >= 0 for x in window]
    crossings = sum(1 for a, b in itertools.pairwise(signs) if a != b)
    return crossings * rate / (2.0 * n)


def _best(
    samples: array.array, start: int, n: int, rate: int, candidates: list[int], energy: float
) -> int | None:
    """The candidate frequency holding most of the symbol's energy, or None if none dominates."""
    powers = [(_goertzel(samples, start, n, f, rate), f) for f in candidates]
    power, freq = max(powers)
    return freq if 2.0 * power / (n * energy) >= _DOMINANCE else None


def decode(pcm: Pcm) -> list[Segment] | None:
    """The segments of speech made by ``synthesize``; None when the audio is anything else."""
    samples, rate = pcm.samples, pcm.rate
    n = _symbol_samples(rate)
    total = len(samples) // n
    if rate < 8000 or total < PILOT_SYMBOLS:
        return None
    segments: list[Segment] = []
    i = 0
    while i < total:
        energies = [sum(x * x for x in samples[(i + k) * n : (i + k + 1) * n]) for k in range(PILOT_SYMBOLS)]
        if i + PILOT_SYMBOLS > total or min(energies) / n < _SILENCE_RMS**2:
            return None
        guess = round((_crossing_hz(samples, i * n, n, rate) - _BASE_LOW) / _BASE_STEP)
        near = [_BASE_LOW + _BASE_STEP * k for k in range(guess - 1, guess + 2) if 0 <= k < _BASES]
        pitch = _best(samples, i * n, n, rate, near, energies[0]) if near else None
        if pitch is None or _best(samples, (i + 1) * n, n, rate, [pitch], energies[1]) is None:
            return None
        start, i, nibbles = i, i + PILOT_SYMBOLS, []
        while i < total:
            energy = sum(x * x for x in samples[i * n : (i + 1) * n])
            if energy / n < _SILENCE_RMS**2:
                break
            step = round((_crossing_hz(samples, i * n, n, rate) - pitch) / STEP_HZ) - 1
            near = [pitch + STEP_HZ * (k + 1) for k in range(step - 1, step + 2) if 0 <= k < 16]
            freq = _best(samples, i * n, n, rate, near, energy) if near else None
            if freq is None:
                return None
            nibbles.append((freq - pitch) // STEP_HZ - 1)
            i += 1
        if len(nibbles) % 2:
            return None
        raw = bytes((hi << 4) | lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=True))
        try:
            segments.append(Segment(raw.decode("utf-8"), pitch, start))
        except UnicodeDecodeError:
            return None
        while i < total and sum(x * x for x in samples[i * n : (i + 1) * n]) / n < _SILENCE_RMS**2:
            i += 1
    return segments or None


def describe(pcm: Pcm) -> str:
    """An honest one-line account of audio the emulator cannot transcribe."""
    channels = f"{pcm.channels} channel{'s' if pcm.channels != 1 else ''}"
    return (
        f"[{pcm.seconds:.2f} s of {pcm.kind} audio, {pcm.rate:,} Hz, {channels}, {8 * pcm.width}-bit; "
        "no speech the emulator can transcribe]"
    )
