"""The operator's probes: /healthz (liveness) and /readyz (readiness), over HTTP.

Side effects: serves on the health address and port from before leader election until the
process stops, so a standby answers too.
- /healthz: 200 while the event loop answers and, when leading, the Lease is being renewed.
- /readyz: 200 for a standby (it is ready to take over), and for the leader once kopf's
  startup is done and every informer cache has synced; 503 naming what it waits for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)
Check = Callable[[], str | None]  # None: fine; else what is missing, for the response


@dataclass
class Health:
    address: str
    port: int
    live: list[Check] = field(default_factory=list)
    ready: list[Check] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.port).start()
        log.info("probes on http://%s:%d/healthz and /readyz", self.address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return _answer(self.live, "alive")

    async def _readyz(self, _: web.Request) -> web.Response:
        return _answer(self.ready, "ready")


def _answer(checks: list[Check], fine: str) -> web.Response:
    problems = [problem for check in checks if (problem := check()) is not None]
    if problems:
        return web.Response(status=503, text="not " + fine + ": " + "; ".join(problems) + "\n")
    return web.Response(text=fine + "\n")
