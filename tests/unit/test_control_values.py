"""The generation-control values the flags accept are the installed google-genai's own lists.

``options.py`` spells them out (it must not import the SDK: ``%load_ext`` stays cheap); this fails when an
SDK upgrade adds, renames or drops one, so the flags follow.
"""

from __future__ import annotations

from typing import get_args

from google.genai._gaos.types.interactions import imageconfig, servicetier, toolchoicetype

from gemini_magics import generation, options


def _values(union: object) -> set[str]:
    return {v for arm in get_args(union) for v in get_args(arm) if isinstance(v, str)}


def test_values_follow_the_sdk() -> None:
    assert set(options.ASPECT_RATIOS) == _values(imageconfig.ImageConfigAspectRatio)
    assert set(options.IMAGE_SIZES) == _values(imageconfig.ImageConfigImageSize)
    assert set(options.TOOL_CHOICES) == _values(toolchoicetype.ToolChoiceType)
    # "deferred" is left out on purpose: it is not a tier a cell that waits for its answer can use.
    assert set(options.SERVICE_TIERS) == _values(servicetier.ServiceTier) - {"deferred"}


def test_tool_choice_shapes() -> None:
    assert generation.tool_choice("any") == "any"
    assert generation.tool_choice("get_time") == {"allowed_tools": {"mode": "any", "tools": ["get_time"]}}
    forced = {"model": "m", "generation_config": {"seed": 1, "tool_choice": "any"}}
    generation.relax(forced)
    assert forced["generation_config"] == {"seed": 1}
    chosen = {"model": "m", "generation_config": {"tool_choice": "none"}}
    generation.relax(chosen)  # "none" and "auto" hold for every round
    assert chosen["generation_config"] == {"tool_choice": "none"}
