"""The models and agents the emulated service knows, and the ones it refuses as deprecated.

Built from the seed's list plus the IDs the installed google-genai SDK declares, so upgrading the SDK
keeps the emulator current without editing this file.
"""

from __future__ import annotations

import difflib
import functools
import typing

SEED_MODELS = (
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-flash-lite-preview",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
)
SEED_AGENTS = ("deep-research-pro-preview-12-2025",)
DEPRECATED_PREFIXES = ("gemini-2.0-", "gemini-1.5-", "gemini-1.0-", "gemini-pro")


def _literals(annotation: object) -> set[str]:
    found: set[str] = set()
    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            found.add(arg)
        else:
            found |= _literals(arg)
    return found


@functools.cache
def models() -> frozenset[str]:
    from google.genai._gaos.types.interactions import model

    return frozenset(SEED_MODELS) | frozenset(_literals(model.Model))


@functools.cache
def agents() -> frozenset[str]:
    from google.genai._gaos.types.interactions import agentoption

    return frozenset(SEED_AGENTS) | frozenset(_literals(agentoption.AgentOption))


def is_deprecated(model_id: str) -> bool:
    return model_id.startswith(DEPRECATED_PREFIXES) and model_id not in models()


def model_problem(model_id: str) -> str | None:
    """Why the service answers 404 for ``model_id`` (deprecated, or unknown with a guess), or None."""
    if is_deprecated(model_id):
        return f"Model '{model_id}' not found: it is deprecated. Did you mean 'gemini-3-flash-preview'?"
    if model_id in models():
        return None
    guess = difflib.get_close_matches(model_id, sorted(models()), n=1, cutoff=0.5)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    return f"Model '{model_id}' not found.{hint}"
