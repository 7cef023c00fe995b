"""The JupyterLab extension (src/, TypeScript) says what the magics say: the same flags take no value, the
same statuses read in the same words, icons and colours, and the packages agree on name and version.
The TypeScript is read as text; the browser tests (tests/browser/test_lab_sidebar.py) check what it does."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import gemini_magics
from gemini_magics import statuses
from gemini_magics.options import parser

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def ts_strings(path: Path, name: str) -> list[str]:
    """The quoted strings of ``const NAME … = new Set([...])`` in a TypeScript file."""
    block = re.search(rf"const {name}\b[^=]*= new Set\(\[(.*?)\]\)", path.read_text(), re.S)
    assert block, f"no {name} in {path.name}"
    return re.findall(r"'([^']*)'", block.group(1))


def ts_record(path: Path, name: str) -> dict[str, str]:
    """``const NAME: Record<string, string> = { key: 'value', … }`` as a dict."""
    block = re.search(rf"const {name}: Record<string, string> = \{{(.*?)\n\}};", path.read_text(), re.S)
    assert block, f"no {name} in {path.name}"
    return dict(re.findall(r"^\s*(\w+): '([^']*)',?$", block.group(1), re.M))


def test_the_flags_without_a_value_are_the_parsers() -> None:
    """The highlighter colours the word after a flag as its value unless the flag takes none."""
    actions = parser()._actions
    expected = {option for action in actions if action.nargs == 0 for option in action.option_strings}
    assert set(ts_strings(SRC / "flags.ts", "BOOLEAN_FLAGS")) == expected


def test_statuses_read_as_in_the_magics_widgets() -> None:
    path = SRC / "statuses.ts"
    assert ts_record(path, "WORDS") == statuses.WORDS
    icons = ts_record(path, "ICONS")
    assert {status: icons[status] for status in statuses.ICONS} == statuses.ICONS
    assert set(ts_strings(path, "ENDED")) == statuses.ENDED | {"interrupted"}  # a map job's kernel died
    assert set(ts_strings(path, "RUNNING")) == statuses.RUNNING | {statuses.HOP}
    assert set(ts_strings(path, "SUCCESS")) == statuses.SUCCESS
    # The badge's class: the progress bar's style (tqdm's), or the colour the bar takes instead.
    own = {"budget_exceeded": "budget", "idle": "idle"}  # the classes of statuses.COLOURS' colours
    assert set(own) == set(statuses.COLOURS)
    expected = {status: own.get(status, bar) for status, bar in statuses.BAR_STYLES.items()}
    assert ts_record(path, "STYLES") == expected | {"interrupted": "danger"}
    css = (REPO / "style" / "base.css").read_text()
    assert f"--jp-gemini-budget-color: {statuses.COLOURS['budget_exceeded']};" in css
    assert f"--jp-gemini-idle-color: {statuses.COLOURS['idle']};" in css


def test_the_packages_agree_on_name_version_and_where_the_extension_goes() -> None:
    package = json.loads((REPO / "package.json").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert package["version"] == project["project"]["version"] == gemini_magics.__version__
    (paths,) = gemini_magics._jupyter_labextension_paths()
    assert paths["dest"] == package["name"]
    assert REPO / "gemini_magics" / paths["src"] == REPO / package["jupyterlab"]["outputDir"]
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared[package["jupyterlab"]["outputDir"]] == f"share/jupyter/labextensions/{package['name']}"
    install = json.loads((REPO / "install.json").read_text())
    assert install["packageName"] == project["project"]["name"]
