"""The package's structure holds as it grows: imports go one way, modules stay readable.

Computed from the source (``ast``), not from what happens to be imported at run time, so an import inside a
function or under ``TYPE_CHECKING`` counts as much as one at the top:

* no import circle among ``gemini_magics`` modules (a package importing its own submodules is not one): a
  lower layer that must reach up is handed a callback or a small ``Protocol`` instead;
* no module over 450 lines;
* no import of another module's private (``_name``) names;
* the ``GeminiMagics`` class within 150 lines (its traitlets live in ``settings.py``);
* every subpackage says at the top of its ``__init__`` what it owns.

The README's Development section has the map of the layers these checks keep.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gemini_magics"
MAX_LINES = 450
MAX_MAGICS_LINES = 150


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under ``root`` (a package's name → its ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(mods: dict[str, Path], name: str) -> list[tuple[str, str, int]]:
    """``(module imported, name imported from it or "", line)`` for every import of a package module in
    module ``name``, wherever it stands in the file."""
    path = mods[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(
                    package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
                )
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in mods:  # ``from . import blocks``: the submodule itself
                    out.append((full, "", node.lineno))
                elif base in mods:
                    out.append((base, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(alias.name, "", node.lineno) for alias in node.names if alias.name in mods]
    return [found for found in out if found[0] != name]


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    return {name: {target for target, _, _ in imports(mods, name)} for name in mods}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan), except a package
    with its own submodules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [
        c for c in found if not all(m == min(c, key=len) or m.startswith(min(c, key=len) + ".") for m in c)
    ]


def private_imports(mods: dict[str, Path]) -> list[str]:
    return [
        f"{name}:{line} imports {target}.{what}"
        for name in mods
        for target, what, line in imports(mods, name)
        if what.startswith("_") and not what.startswith("__")
    ]


def oversized(mods: dict[str, Path]) -> list[str]:
    sizes = {name: path.read_text(encoding="utf-8").count("\n") for name, path in mods.items()}
    return [f"{name}: {lines} lines" for name, lines in sizes.items() if lines > MAX_LINES]


def class_lines(path: Path, name: str) -> int:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name == name:
            assert node.end_lineno is not None
            return node.end_lineno - node.lineno + 1
    raise AssertionError(f"no class {name} in {path}")


# -- the package -------------------------------------------------------------------------------------------


def test_no_import_circles() -> None:
    mods = modules(PACKAGE)
    assert len(mods) > 100  # the walk found the package
    assert circles(graph(mods)) == []


def test_no_module_is_longer_than_one_reader_can_hold() -> None:
    assert oversized(modules(PACKAGE)) == []


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(modules(PACKAGE)) == []


def test_the_magics_class_is_glue_only() -> None:
    assert 0 < class_lines(PACKAGE / "magics.py", "GeminiMagics") <= MAX_MAGICS_LINES


def test_every_subpackage_says_what_it_owns() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring.split()) >= 8, f"{init} has no docstring saying what it owns"


# -- the checks themselves ---------------------------------------------------------------------------------


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """A circle made only of a function-level import and a ``TYPE_CHECKING`` one, a private import and a long
    module are all found; a package importing its own submodule is not a circle."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from . import low\n")
    (root / "low.py").write_text("def f():\n    from .high import g\n    return g\n")
    (root / "high.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import low\n_hidden = 1\n"
    )
    (root / "user.py").write_text("from .high import _hidden\nfrom .sub import thing\n")
    (root / "sub" / "__init__.py").write_text("from .thing import x\n")
    (root / "sub" / "thing.py").write_text("x = 1\n" + "y = 2\n" * MAX_LINES)
    mods = modules(root)
    assert set(mods) == {"pkg", "pkg.low", "pkg.high", "pkg.user", "pkg.sub", "pkg.sub.thing"}
    assert circles(graph(mods)) == [["pkg.high", "pkg.low"]]
    assert private_imports(mods) == ["pkg.user:1 imports pkg.high._hidden"]
    assert oversized(mods) == [f"pkg.sub.thing: {MAX_LINES + 1} lines"]
    assert ("pkg.sub.thing", "", 2) in imports(mods, "pkg.user")
