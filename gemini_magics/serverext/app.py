"""The extension app: its settings (``c.GeminiMagicsServer.…``), the shared emulator, the follower, the API.

Loaded by the server in its own process; the magics never import it. At load it

1. starts ONE emulator for the whole server when no API key is in the server's environment and no shared
   emulator is named yet (``emulator``: on), and exports its URL as ``$GEMINI_MAGICS_EMULATOR_URL``, so
   every kernel the server starts afterwards sends to it instead of starting its own: a run then outlives
   the kernel that started it, and the server can follow it;
2. opens the chain store (``$GEMINI_MAGICS_CHAIN_DB`` or the Jupyter data dir, as kernels do) and starts the
   follower's thread (``follower.py``);
3. registers the REST API (``handlers.py``).

Stopping the server stops following (the runs go on on the service) and stops the emulator.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, TraitError, Unicode, validate

from ..backend import EMULATOR_URL_VARIABLE, Backend, BackendError
from ..chain import ChainStore, default_store_path
from ..mapping.store import MapStore
from ..research.state import Timing
from .follower import Follower
from .handlers import SETTING, handlers
from .runs import Runs

AGENT_SECONDS_VARIABLE = "GEMINI_MAGICS_AGENT_SECONDS"  # magics.py's, read here for the shared emulator


class GeminiMagicsServer(ExtensionApp):
    """gemini-magics in the Jupyter server: the sidebar's REST API and runs followed without kernels."""

    name = "gemini_magics"
    load_other_extensions = True

    backend = Unicode(
        "auto",
        help="What the server follows runs on, as GeminiMagics.backend: auto (Gemini with a key in the "
        "server's environment, else the emulator), gemini, emulator, or a base URL.",
    ).tag(config=True)
    emulator = Bool(
        True,
        help="With backend auto and no API key in the environment: start one emulator for the server and "
        "its kernels (exported as $GEMINI_MAGICS_EMULATOR_URL).",
    ).tag(config=True)
    follow = Bool(True, help="Follow background runs whose kernel is gone, and settle them.").tag(config=True)
    follow_live = Bool(
        True, help="Also follow runs whose kernel is alive (read-only: the sidebar shows their thoughts)."
    ).tag(config=True)
    scan_interval = Float(2.0, min=0.1, help="Seconds between two reads of the stores for new runs.").tag(
        config=True
    )
    research_stall = Float(
        60.0, min=0.05, help="Seconds a run's stream may stay silent before the server polls instead."
    ).tag(config=True)
    research_poll_max = Float(10.0, min=0.05, help="Longest wait between two polls of a run.").tag(
        config=True
    )

    @validate("backend")
    def _check_backend(self, proposal: Any) -> str:
        try:
            Backend(proposal["value"]).target()
        except BackendError as exc:
            raise TraitError(str(exc)) from None
        return str(proposal["value"])

    _shared: Any = None
    _follower: Follower | None = None

    def initialize_settings(self) -> None:
        if self.emulator and self.backend == "auto" and self._shared is None:
            self._start_emulator()
        store_path = default_store_path()
        backend = Backend(self.backend)
        cap = self.research_poll_max
        timing = Timing(stall=self.research_stall, poll_first=min(1.0, cap), poll_cap=cap)
        follower = Follower(
            backend,
            ChainStore(store_path),
            MapStore(store_path),
            timing,
            interval=self.scan_interval,
            follow_live=self.follow_live,
        )
        assert self.serverapp is not None
        self.settings[SETTING] = Runs(follower, str(self.serverapp.root_dir))
        alone = backend.target().kind == "emulator" and not Backend.shared_emulator()
        if alone:  # an emulator of the server's own would know none of the kernels' runs
            self.log.info("gemini-magics: no API key and no shared emulator: runs are listed, not followed")
        if self.follow and not alone:
            follower.start()
        self._follower = follower
        self.log.info(
            "gemini-magics: REST API at %sgemini-magics/api/; runs are answered by the %s; chain store %s",
            self.serverapp.base_url,
            backend.target().label,
            store_path,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers())

    def _start_emulator(self) -> None:
        if Backend().key() or Backend.shared_emulator():
            return
        from ..emulator import EmulatorServer, Settings

        try:
            seconds = max(0.0, float(os.environ.get(AGENT_SECONDS_VARIABLE, "") or 20.0))
        except ValueError:
            seconds = 20.0
        self._shared = EmulatorServer(Settings(agent_seconds=seconds))
        url = self._shared.start()
        os.environ[EMULATOR_URL_VARIABLE] = url
        self.log.info(
            "gemini-magics: no API key: one emulator for this server and its kernels at %s (%s)",
            url,
            EMULATOR_URL_VARIABLE,
        )

    async def stop_extension(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            self._follower.store.close()
            self._follower.maps.close()
            self._follower = None
        if self._shared is not None:
            if os.environ.get(EMULATOR_URL_VARIABLE) == self._shared.base_url:
                del os.environ[EMULATOR_URL_VARIABLE]
            self._shared.stop()
            self._shared = None
