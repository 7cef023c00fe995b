"""gemini-magics: Gemini's Interactions API as IPython magics, with a local emulator.

``%load_ext gemini_magics`` registers ``%%gemini`` and ``%gemini``. Loading is cheap: google.genai,
ipywidgets and the emulator are imported on first use only.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_registered: Any = None


def load_ipython_extension(ipython: Any) -> None:
    global _registered
    from .magics import GeminiMagics, attach_usage, keep_question_marks

    attach_usage()
    _registered = GeminiMagics(shell=ipython)
    ipython.register_magics(_registered)
    if keep_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(keep_question_marks)


def unload_ipython_extension(ipython: Any) -> None:
    global _registered
    if _registered is not None:
        _registered.close()
        for kind in ("line", "cell"):
            ipython.magics_manager.magics[kind].pop("gemini", None)
        from .magics import keep_question_marks

        while keep_question_marks in ipython.input_transformers_cleanup:
            ipython.input_transformers_cleanup.remove(keep_question_marks)
        _registered = None


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension is (``jupyter labextension develop .`` links it)."""
    return [{"src": "labextension", "dest": "gemini-magics"}]
