"""jupyter-config/: a pip-installed gemini-magics gives every new kernel of its environment ``%%gemini``,
and every Jupyter server of it the server extension and the prebuilt JupyterLab extension.

The test builds a wheel of this checkout, installs it (not editable: the installed copy must be the one
that runs) into a new virtual environment, and starts kernels there. That environment borrows the
dependencies of the one running the tests through a ``.pth`` file, so nothing is downloaded but the
build backend; gemini_magics itself is the installed copy. The kernels get a temporary IPython directory,
so no profile of the user's takes part.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = ("gemini_magics", "google.genai", "ipywidgets")
PROBE = f"import sys; print(sorted(m for m in {MODULES!r} if m in sys.modules))"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with this checkout installed from a wheel; returns its prefix."""
    tmp = tmp_path_factory.mktemp("autoload")
    source = tmp / "source"  # build from a copy: no build/ or egg-info left in the checkout
    shutil.copytree(
        REPO / "gemini_magics", source / "gemini_magics", ignore=shutil.ignore_patterns("__pycache__")
    )
    # The JupyterLab extension: its build (gemini_magics/labextension) comes along when there is one, and
    # the wheel's build then skips building it again; without one it builds from these sources.
    for folder in ("jupyter-config", "src", "style"):
        shutil.copytree(REPO / folder, source / folder)
    for name in ("pyproject.toml", "README.md", "package.json", "tsconfig.json", "yarn.lock", ".yarnrc.yml"):
        shutil.copy(REPO / name, source / name)
    shutil.copy(REPO / "install.json", source / "install.json")
    wheels = tmp / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = wheels.glob("gemini_magics-*.whl")

    prefix = tmp / "env"
    venv.EnvBuilder(with_pip=False).create(prefix)
    python = prefix / "bin" / "python"
    # pip of this environment installs into that one (--python): nothing here is touched. (``--prefix``
    # would not do: pip then uninstalls the running environment's own copy first.)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies (ipykernel, google-genai, ...) come from the environment running the tests; added
    # after the install, so that pip never saw them.
    Path(purelib, "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return prefix


class Kernel:
    """An IPython kernel of the installed environment, driven over ZMQ as a front end would."""

    def __init__(self, prefix: Path, tmp: Path, **env: str) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        specs = tmp / "kernels"
        (specs / "installed").mkdir(parents=True, exist_ok=True)
        argv = [str(prefix / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (specs / "installed" / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "installed", "language": "python"})
        )
        dropped = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_MAGICS_AUTOLOAD")
        environment = {k: v for k, v in os.environ.items() if k not in dropped}
        environment.update(
            IPYTHONDIR=str(tmp / "ipython"),
            JUPYTER_CONFIG_DIR=str(tmp / "jupyter"),
            GEMINI_MAGICS_CHAIN_DB=str(tmp / "chains.sqlite3"),
            **env,
        )
        self.manager = KernelManager(
            kernel_name="installed", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
        )
        self.manager.start_kernel(env=environment, cwd=str(tmp))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> tuple[str, str]:
        """(status, everything the cell showed as text)."""
        shown: list[str] = []

        def output(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                shown.append(content["text"])
            elif msg["msg_type"] in ("display_data", "execute_result"):
                shown.append(content["data"].get("text/plain", ""))
            elif msg["msg_type"] == "error":
                shown.append(f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(code, output_hook=output, timeout=120)
        return reply["content"]["status"], "".join(shown)

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(installed: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Kernel] = []

    def start(**env: str) -> Kernel:
        started.append(Kernel(installed, tmp_path / f"k{len(started)}", **env))
        return started[-1]

    yield start
    for k in started:
        k.stop()


def test_pip_installs_the_config_where_ipython_reads_it(installed: Path) -> None:
    config = installed / "etc" / "ipython" / "ipython_kernel_config.py"
    assert (
        config.read_text() == (REPO / "jupyter-config" / "ipython" / "ipython_kernel_config.py").read_text()
    )
    status = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "gemini_magics.cli", "autoload"],
        capture_output=True,
        text=True,
        env={**os.environ, "GEMINI_MAGICS_AUTOLOAD": "1"},
    )
    assert status.returncode == 0 and "autoload on" in status.stdout, status.stdout + status.stderr


def test_pip_installs_the_jupyter_extensions_enabled(installed: Path) -> None:
    """``jupyter labextension list`` and ``jupyter server extension list`` of the environment show them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(installed / "no-user-config")  # the environment's config only
    env["JUPYTER_DATA_DIR"] = str(installed / "no-user-data")

    def listed(module: str, name: str) -> str:
        done = subprocess.run(
            [str(installed / "bin" / "python"), "-m", module, "list"], capture_output=True, text=True, env=env
        )
        shown = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # no colours
        return " ".join(" ".join(line.split()) for line in shown.splitlines() if name in line)

    lab = listed("jupyterlab.labextensions", "gemini-magics")
    assert re.search(r"gemini-magics v[\d.]+ enabled OK \(python, gemini-magics\)", lab), lab
    server = listed("jupyter_server.extension.serverextension", "gemini_magics.serverext")
    assert "gemini_magics.serverext enabled" in server and "gemini_magics.serverext OK" in server, server
    assert (installed / "share" / "jupyter" / "labextensions" / "gemini-magics" / "package.json").exists()


def test_a_fresh_kernel_has_the_magic_and_pays_on_first_use(kernel: Any) -> None:
    k = kernel()
    assert k.run(PROBE) == ("ok", "[]\n")  # nothing imported before the magic is used
    status, shown = k.run("%%gemini --no-stream\nHi, my name is Phil.")
    assert status == "ok", shown
    assert "[offline emulator]" in shown and "Nice to meet you, Phil!" in shown
    status, shown = k.run("%gemini -- What is my name?")
    assert status == "ok" and "Your name is **Phil**." in shown
    status, shown = k.run(PROBE)
    assert "gemini_magics" in shown and "google.genai" in shown
    status, shown = k.run("import gemini_magics; print(gemini_magics.__file__)")
    assert "/env/lib/" in shown, f"not the installed copy: {shown}"


def test_autoload_can_be_turned_off(kernel: Any) -> None:
    k = kernel(GEMINI_MAGICS_AUTOLOAD="0")
    status, shown = k.run("%%gemini\nHello")
    assert status == "error" and "%%gemini" in shown and "not found" in shown, shown
    assert k.run("%load_ext gemini_magics")[0] == "ok"  # the extension itself is still there
    assert k.run("%%gemini --no-stream\nHello")[0] == "ok"
