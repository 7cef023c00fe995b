"""The raw steps of a streamed interaction, rebuilt from its events: the SDK ``Interaction`` a result carries.

``blocks.py`` turns the same events into the blocks that are shown; this module keeps the wire's own
shape (with ``blocks_media`` merging audio and image deltas) so a streamed answer has the object a
non-streamed one would have had.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from . import blocks_media


def delta_kind(delta: dict[str, Any]) -> Any:
    """A delta's type; Deep Research sends its report's text deltas without one (a recorded stream)."""
    return delta.get("type") or ("text" if isinstance(delta.get("text"), str) else None)


class StepRebuilder:
    """Rebuilds the raw steps of a streamed interaction, for the SDK ``Interaction`` a result carries.

    ``interaction.completed`` may omit the steps (the wire facts say so), so they are rebuilt from the
    ``step.start``/``step.delta`` events with the same merge rules the service uses.
    """

    def __init__(self) -> None:
        self._steps: dict[int, dict[str, Any]] = {}
        self._arguments: dict[int, str] = {}
        self._info: dict[str, Any] = {}
        self._hop: tuple[str, int] = ("", 0)  # the current hop's id and first step index
        self._ids: list[str] = []  # every hop's interaction id, as the SDK's ``continuation_ids``

    def feed(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(TypeError, AttributeError, ValueError, KeyError):  # malformed: skipped
            self._feed(event)

    def _feed(self, event: dict[str, Any]) -> None:
        index = event.get("index")
        kind = event.get("event_type")
        info = event.get("interaction") if isinstance(event.get("interaction"), dict) else {}
        if kind == "interaction.created" and info.get("id") and info["id"] != self._hop[0]:
            self._hop = (str(info["id"]), max(self._steps, default=-1) + 1)
        elif kind == "interaction.completed" and isinstance(info.get("steps"), list):  # a hop settled whole
            first = self._hop[1]
            self._steps = {i: step for i, step in self._steps.items() if i < first}
            answer = [s for s in info["steps"] if isinstance(s, dict) and s.get("type") != "user_input"]
            self._steps.update({first + n: json.loads(json.dumps(step)) for n, step in enumerate(answer)})
        if kind == "step.start" and isinstance(index, int) and isinstance(event.get("step"), dict):
            self._steps[index] = json.loads(json.dumps(event["step"]))
        elif kind == "step.delta" and isinstance(index, int) and isinstance(event.get("delta"), dict):
            self._merge(self._steps.setdefault(index, {"type": "model_output"}), index, event["delta"])
        elif kind == "step.stop" and isinstance(index, int) and index in self._arguments:
            raw = self._arguments.pop(index)
            with contextlib.suppress(ValueError, KeyError):
                self._steps[index]["arguments"] = json.loads(raw)

    def _merge(self, step: dict[str, Any], index: int, delta: dict[str, Any]) -> None:
        kind = delta_kind(delta)
        if kind == "text":
            content = step.setdefault("content", [])
            if not content or content[-1].get("type") != "text":
                content.append({"type": "text", "text": ""})
            content[-1]["text"] += str(delta.get("text") or "")
        elif kind == "text_annotation_delta" and step.get("content"):
            step["content"][-1].setdefault("annotations", []).extend(delta.get("annotations") or [])
        elif kind in ("image", "audio"):
            blocks_media.merge_delta(step, delta)
        elif kind == "thought_summary" and isinstance(delta.get("content"), dict):
            summary = step.setdefault("summary", [])
            if (
                summary
                and summary[-1].get("type") == "text"
                and delta["content"].get("type", "text") == "text"
            ):
                summary[-1]["text"] += str(delta["content"].get("text") or "")
            else:
                summary.append({"type": "text", **delta["content"]})
        elif kind == "thought_signature":
            step["signature"] = delta.get("signature")
        elif kind == "arguments_delta":
            self._arguments[index] = self._arguments.get(index, "") + str(delta.get("arguments") or "")
        elif kind:
            step.update({k: v for k, v in delta.items() if k != "type"})

    def finish(self, info: dict[str, Any]) -> None:
        self._info = dict(info)
        if info.get("id") and info["id"] not in self._ids:
            self._ids.append(str(info["id"]))

    def steps(self) -> list[dict[str, Any]]:
        return [self._steps[i] for i in sorted(self._steps)]

    def interaction(self) -> Any:
        """The SDK's ``Interaction`` for what was streamed, or ``None`` if the stream never completed."""
        if not self._info.get("id"):
            return None
        from google.genai._gaos.types.interactions import Interaction
        from google.genai._gaos.utils import serializers

        body = {**self._info, "steps": self.steps()}
        if len(self._ids) > 1:
            body["continuation_ids"] = list(self._ids)
        try:
            return Interaction.model_validate(body, context={serializers.ALLOW_UNKNOWN_UNION_VARIANTS: True})
        except ValueError:
            return None
