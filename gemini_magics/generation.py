"""Generation controls → the create request: where each flag and setting goes on the wire.

google-genai 3.6.1's interaction types put ``seed``, ``top_p``, ``stop_sequences``, ``tool_choice`` and
``image_config`` (``aspect_ratio``, ``image_size``) in ``generation_config`` — model interactions only, the
service refuses a generation config for agents — and ``service_tier`` at the top level, for models and
agents alike. The flag of a cell wins over the notebook-wide setting (``GeminiMagics.seed`` …).

Image settings made notebook-wide go to image models only (a text cell does not carry an image config);
written on a cell, they are sent as asked and the service decides.
"""

from __future__ import annotations

from typing import Any, Protocol

from . import catalog
from .options import CellRequest


class Settings(Protocol):
    """The notebook-wide controls (the cell's ``Defaults``, from the ``GeminiMagics`` settings)."""

    seed: int | None
    top_p: float | None
    aspect_ratio: str
    image_size: str
    service_tier: str


def apply(params: dict[str, Any], request: CellRequest, defaults: Settings) -> None:
    """Add the controls of ``request`` (the cell's flags), else of ``defaults``, to ``params``."""
    tier = request.service_tier or defaults.service_tier
    if tier:
        params["service_tier"] = tier
    model = params.get("model")
    if not model:
        return  # agents: no generation config (options refuses the flags with --agent)
    config: dict[str, Any] = {}
    seed = request.seed if request.seed is not None else defaults.seed
    if seed is not None:
        config["seed"] = seed
    top_p = request.top_p if request.top_p is not None else defaults.top_p
    if top_p is not None:
        config["top_p"] = top_p
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    if request.tool_choice:
        config["tool_choice"] = tool_choice(request.tool_choice)
    image = {
        key: value
        for key, value in (("aspect_ratio", request.aspect_ratio), ("image_size", request.image_size))
        if value
    }
    if catalog.is_image_model(str(model)):
        for key, value in (("aspect_ratio", defaults.aspect_ratio), ("image_size", defaults.image_size)):
            if key not in image and value:
                image[key] = value
    if image:
        config["image_config"] = image
    if config:
        params.setdefault("generation_config", {}).update(config)


def tool_choice(value: str) -> str | dict[str, Any]:
    """A mode (``auto``, ``any``, ``none``, ``validated``) as it is; a function name → ``allowed_tools``
    with mode ``any``: the model must call that function."""
    if value in ("auto", "any", "none", "validated"):
        return value
    return {"allowed_tools": {"mode": "any", "tools": [value]}}


def relax(params: dict[str, Any]) -> None:
    """A follow-up request after function results: a forcing ``tool_choice`` (``any``, a name) applied
    to the first request only, or the model would have to call a function again in every round."""
    config = params.get("generation_config")
    if not isinstance(config, dict):
        return
    choice = config.get("tool_choice")
    if choice == "any" or isinstance(choice, dict):
        params["generation_config"] = {k: v for k, v in config.items() if k != "tool_choice"}
