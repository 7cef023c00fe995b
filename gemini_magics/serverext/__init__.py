"""The Jupyter server extension of gemini-magics: what the JupyterLab sidebar and status bar read, and the
follower that keeps background runs going when their kernels are gone.

It owns:

* the REST API under ``<base_url>/gemini-magics/api/`` (``handlers.py``, answered by ``runs.py``): every
  background run of every notebook (research runs from the chain store, ``--map`` and ``--batch`` jobs from
  the map store), a run's report, Cancel, and a notebook's chain, turns, tokens and cost;
* following runs without kernels (``follower.py``): research runs and batch jobs whose kernel is gone are
  followed by the kernels' own tracker and batch engine, and their outcome is written to the stores, so
  the sidebar, ``%gemini tasks`` and ``%gemini panel`` agree when the notebook is opened again;
* the server's shared emulator (``app.py``): with no API key, one emulator for the server and its kernels
  (``$GEMINI_MAGICS_EMULATOR_URL``), so a run on it outlives its kernel;
* mapping the stores' notebook keys to paths under the server's root (``paths.py``).

Enabled by ``jupyter-config/jupyter_server_config.d/gemini_magics.json`` (installed to
``etc/jupyter/jupyter_server_config.d/``). The magics never import this package: ``%load_ext`` stays cheap.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import GeminiMagicsServer

    return [{"module": "gemini_magics.serverext", "app": GeminiMagicsServer}]
