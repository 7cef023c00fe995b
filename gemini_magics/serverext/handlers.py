"""The REST API under ``<base_url>/gemini-magics/api/``: authenticated Jupyter API handlers, JSON only.

Every handler is a ``jupyter_server`` ``APIHandler`` behind ``@tornado.web.authenticated`` (token, or cookie
and XSRF, as the server requires; an unauthenticated request gets 403) and ``@authorized`` on its own
resource (``gemini-magics``: read to list, write to cancel). The work (SQLite reads, a cancel or a report
fetched from the service) runs in a small thread pool, never on the server's event loop. Errors are
``{"message": one line}``; nothing here runs code, and every answer is scrubbed of the keys the server
knows (``Backend.scrub``), prompts and reports included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.ioloop import IOLoop

from .runs import ApiError, Runs, one_line

AUTH_RESOURCE = "gemini-magics"
PREFIX = "gemini-magics/api"
SETTING = "gemini_magics_runs"
log = logging.getLogger("gemini_magics.serverext")
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gemini-api")


class _Handler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def runs(self) -> Runs:
        return self.settings[SETTING]

    async def answer(self, call: Callable[..., dict[str, Any]], *args: Any) -> None:
        scrub = self.runs.backend.scrub
        try:
            body = await IOLoop.current().run_in_executor(_POOL, call, *args)
        except ApiError as exc:
            self.set_status(exc.code)
            body = {"message": one_line(scrub(str(exc)))}
        except Exception as exc:  # one line for the client; the log says which call
            log.warning("gemini-magics: %s failed: %s", self.request.path, one_line(scrub(repr(exc))))
            self.set_status(500)
            body = {"message": f"the gemini-magics server extension failed ({type(exc).__name__})"}
        self.finish(scrub(json.dumps(body)))  # a key a user pasted into a prompt is not shown either


class RunsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(self.runs.runs)


class ReportHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(self.runs.report, run_id)


class CancelHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        await self.answer(self.runs.cancel, run_id)


class StatusHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        if not path.strip("/"):
            self.set_status(400)
            self.finish(json.dumps({"message": "status needs ?path=<notebook path>"}))
            return
        await self.answer(self.runs.status, path)


def handlers() -> list[tuple[str, type[APIHandler]]]:
    """Routes relative to the server's base URL (the extension app prepends it)."""
    return [
        (f"/{PREFIX}/runs", RunsHandler),
        (f"/{PREFIX}/runs/([^/]+)/report", ReportHandler),
        (f"/{PREFIX}/runs/([^/]+)/cancel", CancelHandler),
        (f"/{PREFIX}/status", StatusHandler),
    ]
