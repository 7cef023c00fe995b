"""Notebook keys of the chain store ↔ notebook paths as the Jupyter server names them.

A kernel keys its notebook's chains ``notebook:<JPY_SESSION_NAME>`` (``GeminiMagics.notebook_key``). The
Jupyter server sets ``JPY_SESSION_NAME`` to the notebook's absolute file path when the front end names the
file (JupyterLab does), else to its API path, relative to the server's ``root_dir``. Other keys (a kernel
without a server: ``session:…``, or a ``GeminiMagics.notebook`` set by hand) have no path.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

PREFIX = "notebook:"


def path_of(key: str, root_dir: str) -> str | None:
    """The notebook's path relative to ``root_dir`` (``/``-separated), or None when it has none there."""
    if not key.startswith(PREFIX):
        return None
    name = key[len(PREFIX) :]
    if not name:
        return None
    if not os.path.isabs(name):
        parts = PurePosixPath(name.replace(os.sep, "/")).parts
        return None if ".." in parts or not parts else "/".join(parts)
    root = os.path.realpath(root_dir)
    found = os.path.realpath(name)
    try:
        inside = os.path.commonpath([root, found]) == root
    except ValueError:  # another drive
        return None
    if not inside or found == root:
        return None
    return os.path.relpath(found, root).replace(os.sep, "/")
