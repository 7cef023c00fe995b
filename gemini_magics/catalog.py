"""Known models and agents as the magics see them, and the substitution of deprecated model IDs.

IDs not in the catalog pass through untouched: the catalog may be older than the service, and the
service's own error is clearer than a guess of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "gemini-3-flash-preview"
PRO_MODEL = "gemini-3.1-pro-preview"
DEFAULT_AGENT = "deep-research-pro-preview-12-2025"
IMAGE_MODELS = ("gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview")
DEPRECATED_FAMILIES = ("gemini-2.0-", "gemini-1.5-")


@dataclass(frozen=True)
class Resolved:
    """The model ID to send, and a note for the user when it differs from what they asked for."""

    model: str
    note: str | None = None


def resolve_model(requested: str) -> Resolved:
    """Replace deprecated IDs (``gemini-2.0-*``, ``gemini-1.5-*``) by the current flash or pro model."""
    requested = requested.strip()
    if not requested.startswith(DEPRECATED_FAMILIES):
        return Resolved(requested)
    replacement = PRO_MODEL if "pro" in requested else DEFAULT_MODEL
    return Resolved(replacement, f"{requested} is deprecated; using {replacement} instead.")


def is_image_model(model: str) -> bool:
    return "image" in model
