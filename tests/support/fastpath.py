"""In-process servers whose connections start on the fast path (``http.fast_path``).

``aiohttp_server`` runs an app on aiohttp's own runner; ``FastTestServer`` runs it on
the listener's ``GuardedRunner`` with the fast path on, as ``castedge`` serves plain
HTTP, so a suite parametrized over both sees every answer through each path.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from config import HttpSettings
from runtime.connections import ConnectionMetrics, GuardedRunner


class FastTestServer(TestServer):
    """``TestServer`` on the listener's runner, the fast path on (or, to compare, off)."""

    def __init__(
        self, app: web.Application, *, fast_path: bool = True, http: HttpSettings | None = None
    ) -> None:
        super().__init__(app, host="127.0.0.1")
        self._fast_path = fast_path
        self._http = http or HttpSettings()

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        guard = ConnectionMetrics().guard("test", self._http)
        return GuardedRunner(self.app, guard=guard, fast_path=self._fast_path, **kwargs)
