"""Notebook keys of the chain store → paths under the server's root, as the sidebar shows them."""

from __future__ import annotations

from pathlib import Path

from gemini_magics.serverext.paths import path_of


def test_keys_become_paths_under_the_root_or_none(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(root, target_is_directory=True)
    assert path_of(f"notebook:{root / 'sub' / 'b.ipynb'}", str(root)) == "sub/b.ipynb"  # JPY_SESSION_NAME
    assert path_of(f"notebook:{tmp_path / 'link' / 'a.ipynb'}", str(root)) == "a.ipynb"  # through a symlink
    assert path_of("notebook:sub/b.ipynb", str(root)) == "sub/b.ipynb"  # an API path, relative to the root
    for key in (
        f"notebook:{tmp_path / 'elsewhere.ipynb'}",  # outside the root
        f"notebook:{root}",
        "notebook:../up.ipynb",
        "notebook:",
        "session:4f2a",  # a kernel no server started
        "analysis.ipynb",  # GeminiMagics.notebook set by hand
    ):
        assert path_of(key, str(root)) is None, key
