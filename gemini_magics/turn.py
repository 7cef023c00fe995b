"""One turn: build the create request, run it (streamed or not), and produce the result object.

Rendering is not done here: a streamed turn reports progress to a callback and the caller decides what
to show. Interrupts (Ctrl-C) end the stream at once and keep what arrived, marked ``interrupted``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import blocks as b
from . import blocks_compat, statuses
from .backend import Backend, BackendError
from .blocks_media import AudioBlock


@dataclass
class Result:
    """What a ``%%gemini`` cell gives back: text, images, parsed JSON, ids, and the SDK interaction."""

    id: str | None
    status: str
    model: str | None
    blocks: list[b.Block] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    interaction: Any = None  # the SDK's Interaction, when the service returned one
    elapsed: float = 0.0
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    show_thoughts: bool = True
    show_json: bool = False
    parsed: Any = None  # structured output (--schema): a model instance, or what json.loads gives
    code: str = ""  # --code, %gemini fix: the answer's Python put in a new cell below (assistant/)
    footnotes: list[str] = field(default_factory=list)  # footer lines, e.g. what context went
    chain: str | None = None  # the chain it was sent on (None: --no-store); for the output's provenance

    @property
    def text(self) -> str:
        """The answer's text (model output only: no thoughts, no tool output)."""
        return "".join(x.text for x in self.blocks if isinstance(x, b.TextBlock))

    @property
    def thoughts(self) -> list[str]:
        return [x.summary for x in self.blocks if isinstance(x, b.ThoughtBlock) and x.summary]

    @property
    def image_bytes(self) -> list[bytes]:
        return [x.data for x in self.blocks if isinstance(x, b.ImageBlock) and x.data]

    @property
    def images(self) -> list[Any]:
        """The images as PIL images (Pillow needed); ``image_bytes`` has the raw bytes."""
        from io import BytesIO

        from PIL import Image

        return [Image.open(BytesIO(data)) for data in self.image_bytes]

    @property
    def audio_bytes(self) -> list[bytes]:
        """Each audio of the answer as a file a player takes: the service's raw PCM is wrapped in WAV."""
        return [x.playable()[0] for x in self.blocks if isinstance(x, AudioBlock) and x.data]

    @property
    def audio(self) -> Any:
        """The answer's (first) audio as an ``IPython.display.Audio`` player; ``None`` without audio."""
        from .render.audio import ipython_audio

        found = next((x for x in self.blocks if isinstance(x, AudioBlock) and x.data), None)
        return ipython_audio(found) if found is not None else None

    @property
    def json(self) -> Any:
        """The answer parsed as JSON (structured output); ``None`` when it is not JSON."""
        text = self.text.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            return json.loads(text)
        except ValueError:
            return None

    def save(self, directory: str | Path) -> list[Path]:
        """Write the images as ``DIR/<interaction id>-<n>.png`` and the audio as ``DIR/<interaction
        id>-<n>.wav`` (n from 1 for each; MP3 and other files keep their type); the paths written."""
        from .media import save_images

        images = [(x.data, x.mime_type) for x in self.blocks if isinstance(x, b.ImageBlock) and x.data]
        sounds = [x.playable() for x in self.blocks if isinstance(x, AudioBlock) and x.data]
        stem = self.id or "answer"
        return save_images(images, directory, stem) + save_images(sounds, directory, stem)

    @property
    def function_calls(self) -> list[b.FunctionCallBlock]:
        return [x for x in self.blocks if isinstance(x, b.FunctionCallBlock)]

    @property
    def ok(self) -> bool:
        return statuses.is_success(self.status) and self.error is None  # idle too (statuses.py)

    def turn_fields(self) -> dict[str, Any]:
        """What a chain records of this result on its turn (``Chain.update`` / ``Chain.complete``): the
        answer, its usage, and the static view that ``%gemini export`` writes out later."""
        from .render import view

        usage = self.usage or {}
        return {
            "answer": self.text,
            "interaction_id": self.id,
            "input_tokens": usage.get("total_input_tokens"),
            "output_tokens": usage.get("total_output_tokens"),
            "thought_tokens": usage.get("total_thought_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "usage": dict(usage) or None,
            "view": {"markdown": view.markdown(self), "plain": view.plain(self)},
        }

    def __repr__(self) -> str:
        size = f"{len(self.text)} chars"
        if self.image_bytes:
            size += f", {len(self.image_bytes)} image(s)"
        if any(isinstance(x, AudioBlock) and x.data for x in self.blocks):
            size += ", audio"
        return f"<gemini Result {self.id or '-'} {self.status}: {size}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        from .render import view

        return view.bundle(self)


def input_blocks(parts: list[Any]) -> str | list[dict[str, Any]]:
    """Prompt parts (text, and image objects from interpolation) → the create request's ``input``."""
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            if part.strip():
                out.append({"type": "text", "text": part})
        else:
            data, mime = image_payload(part)
            out.append({"type": "image", "data": base64.b64encode(data).decode("ascii"), "mime_type": mime})
    return out


def image_payload(value: Any) -> tuple[bytes, str]:
    """Bytes and MIME type of an image given as bytes or a PIL image."""
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
    elif hasattr(value, "save"):
        from io import BytesIO

        buffer = BytesIO()
        value.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise BackendError(f"cannot send a {type(value).__name__} as an image")
    if data.startswith(b"\xff\xd8\xff"):
        return data, "image/jpeg"
    if data.startswith(b"GIF8"):
        return data, "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    return data, "image/png"


def run(
    backend: Backend,
    params: dict[str, Any],
    stream: bool,
    on_progress: Callable[[list[b.Block]], None] | None = None,
) -> Result:
    """Run one interaction; never raises for service failures (they land in ``Result.error``)."""
    started = time.monotonic()
    label = backend.target().label
    result = Result(
        id=None, status="in_progress", model=params.get("model") or params.get("agent"), backend=label
    )
    try:
        if stream:
            _run_streamed(backend, params, result, on_progress)
        else:
            interaction = backend.create(params)
            absorb_interaction(result, interaction)
    except BackendError as exc:
        result.status, result.error = "failed", str(exc)
    except KeyboardInterrupt:
        result.status = "interrupted"
    if result.error:  # the service's own error text may quote the key
        result.error = backend.scrub(result.error)
    result.elapsed = time.monotonic() - started
    result.backend = backend.label_for(result.id)
    return result


def absorb_interaction(result: Result, interaction: Any) -> None:
    """Fill ``result`` from an SDK ``Interaction``: a non-streamed reply, a background run's creation, or
    a finished run fetched later (cell, research trackers); the caller scrubs the error text."""
    result.interaction = interaction
    result.id = interaction.id or result.id
    # A lenient SDK keeps what it cannot type (null, a bare value): ``from_steps`` skips what is no step.
    steps = blocks_compat.steps_of(interaction)  # pre-GA ``outputs`` too
    result.status = blocks_compat.status_of(interaction, steps)
    result.blocks = b.from_steps(steps)
    if interaction.usage is not None:
        result.usage = interaction.usage.model_dump(exclude_none=True)
    hops = getattr(interaction, "continuation_ids", None) or []
    if len(hops) > 1:
        result.notes.append(continued_note(len(hops)))
    if interaction.errors:
        result.error = "; ".join(str(e.message) for e in interaction.errors if e.message) or "failed"


def continued_note(requests: int) -> str:
    return f"one answer over {requests} requests (continued past the service's per-request output limit)"


def _dict(value: Any) -> dict[str, Any]:
    """A field of the wire that must be an object; ``{}`` when a service sent something else."""
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _run_streamed(
    backend: Backend,
    params: dict[str, Any],
    result: Result,
    on_progress: Callable[[list[b.Block]], None] | None,
) -> None:
    from .continuation import merge_usage

    assembler = b.Assembler()
    rebuilder = b.StepRebuilder()
    usages: list[dict[str, Any]] = []  # one per hop of a long answer, summed as the SDK sums them
    limits = 0  # hops that ended at the service's per-request output limit
    events = backend.stream(params)
    try:
        for event in events:
            kind = event.get("event_type")
            if kind in ("interaction.created", "interaction.completed"):
                info = _dict(event.get("interaction"))
                result.id = _str(info.get("id")) or result.id
                result.status = _str(info.get("status")) or result.status
                if kind == "interaction.completed":
                    limits += info.get("status") == "requires_continuation"  # a hop of a long answer ended
                    if isinstance(info.get("usage"), dict):
                        usages.append(info["usage"])
                        result.usage = merge_usage(usages)
                    rebuilder.finish({**info, "usage": result.usage} if result.usage else info)
            elif kind == "interaction.status_update":
                result.status = _str(event.get("status")) or result.status
            elif kind == "error":
                error = _dict(event.get("error"))
                result.error = backend.scrub(str(error.get("message") or "the service reported an error"))
            rebuilder.feed(event)
            if assembler.feed(event) and on_progress is not None:
                on_progress(assembler.blocks)
    finally:
        events.close()
        result.blocks = assembler.blocks
    if limits:
        result.notes.append(continued_note(limits + 1))
    if events.hops - 1 - limits + events.resumes > 0:
        result.notes.append("the connection dropped; the stream was resumed where it stopped, nothing lost")
    if result.status == "requires_continuation":  # the service handed back a token it would not honour
        result.status = "incomplete"
        result.error = "the service stopped continuing this long answer; what arrived is kept"
    if result.status == "in_progress":  # the stream ended without a completion: it was cut
        result.status = "failed"
        result.error = result.error or "the stream ended before the answer was complete"
    if result.error and result.status == "completed":  # an error event after all: it has the last word
        result.status = "failed"
    result.interaction = rebuilder.interaction()
