"""The origin's download log: one row per media response, with the bytes really sent.

The access log stays in Apache's combined format for GoAccess and AWStats; podcast
download counts need more than it holds (the range, the object's size, the listener
behind the load balancer, an address kept as ``analytics.ip`` says), so each response
also goes to ``analytics.log`` as a row (``analytics.row``). ``castedge stats`` and the
admin listener's ``/admin/stats`` read it.

Lines are written whole, one ``write`` each, so every worker of a node can append to
the same file; the file is reopened after logrotate moves it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from logging.handlers import WatchedFileHandler
from pathlib import Path

from aiohttp import web

from analytics import Row, private_address, served_span, utc_day
from analytics.salts import DailySalts
from config import Settings, role_cache
from delivery.serve import MediaResponse, SmallMediaResponse
from geo.forwarded import FORWARDED, Network, client_address, forwarded_for, x_forwarded_for

__all__ = ["DownloadLog"]


class DownloadLog:
    """Writes a row for each response of the origin's media listener."""

    def __init__(
        self,
        path: Path,
        *,
        mode: str,
        salts: DailySalts,
        trusted: tuple[Network, ...] = (),
        header: str = "x-forwarded-for",
        node: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.mode = mode
        self.salts = salts
        self.trusted = trusted
        self.header = header
        self.node = node or socket.gethostname()
        self.clock = clock
        # A logger of its own, not a global one: each app (and each test) has its file.
        self._logger = logging.Logger("castedge.downloads")
        self._logger.propagate = False
        self._sink = WatchedFileHandler(path, encoding="utf-8")
        self._sink.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._sink)

    @classmethod
    def for_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> DownloadLog | None:
        """The origin's download log as ``analytics`` configures it; None when it is off."""
        analytics = settings.analytics
        if analytics.log is None or settings.origin is None:
            return None
        return cls(
            analytics.log,
            mode=analytics.ip,
            salts=DailySalts(role_cache(settings, "origin").dir / "salts"),
            trusted=settings.origin.trusted_proxies,
            header=settings.origin.client_ip_header,
            clock=clock,
        )

    def record(
        self, request: web.BaseRequest, key: str, response: web.StreamResponse, started: float
    ) -> None:
        """Write the row of ``response``, the answer to ``request`` for ``key``."""
        # The episode's bytes; an error page or a redirect carries none of them.
        sent = response.sent if isinstance(response, (MediaResponse, SmallMediaResponse)) else 0
        headers = response.headers
        size, start, end = served_span(
            response.status, headers.get("Content-Range"), response.content_length
        )
        ip, net = self._address(request, started)
        row = Row(
            time=started,
            node=self.node,
            method=request.method,
            status=response.status,
            key=key,
            size=size,
            start=start,
            end=end,
            sent=sent,
            ip=ip,
            net=net,
            agent=request.headers.get("User-Agent", ""),
            referer=request.headers.get("Referer"),
        )
        logger = self._logger
        line = row.to_line()
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None))

    def close(self) -> None:
        self._logger.removeHandler(self._sink)
        self._sink.close()

    def _address(self, request: web.BaseRequest, started: float) -> tuple[str, str | None]:
        headers = request.headers
        if self.header == FORWARDED:
            hops = forwarded_for(headers.getall("Forwarded", ()))
        else:
            hops = x_forwarded_for(headers.getall("X-Forwarded-For", ()))
        address = client_address(request.remote, hops, self.trusted)
        if address is None:
            return "-", None
        salt = self.salts.salt(utc_day(started)) if self.mode == "hash" else b""
        return private_address(self.mode, address, salt)
