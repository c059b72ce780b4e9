"""The origin's download log: one row per media response, with the bytes really sent.

The access log stays in Apache's combined format for GoAccess and AWStats; podcast
download counts need more than it holds (the range, the object's size, the listener
behind the load balancer, an address kept as ``analytics.ip`` says), so each response
also goes to ``analytics.log`` as a row (``analytics.row``). ``castedge stats`` and the
admin listener's ``/admin/stats`` read it.

Lines are written whole, one ``write`` each, so every worker of a node can append to
the same file; the file is reopened after logrotate moves it. A disk that refuses a
row never fails the request it describes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from analytics import Row, private_address, served_span, utc_day
from analytics.salts import DailySalts
from config import Settings, role_cache
from delivery.serve import MediaResponse, SmallMediaResponse
from geo.forwarded import FORWARDED, Network, client_address, forwarded_for, x_forwarded_for

__all__ = ["DownloadLog"]

log = logging.getLogger("castedge.downloads")


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
        self._failing = False
        try:
            self._file = _AppendedFile(path)
            if mode == "hash":
                salts.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            # The one line an operator sees names the key to fix.
            raise OSError(f"analytics.log {path}: {exc.strerror or exc}") from None

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
        self.record_answer(
            request.method,
            request.remote,
            request.headers,
            key,
            response.status,
            response.headers.get("Content-Range"),
            response.content_length,
            sent,
            started,
        )

    def record_answer(
        self,
        method: str,
        remote: str | None,
        headers: CIMultiDictProxy[str] | CIMultiDict[str],
        key: str,
        status: int,
        content_range: str | None,
        content_length: int | None,
        sent: int,
        started: float,
    ) -> None:
        """Write the row of one answer for ``key``, ``sent`` its body bytes that left.

        A disk that refuses the row (full, gone) never fails the request: it is said
        once in the operational log, and again once it recovers.
        """
        try:
            size, start, end = served_span(status, content_range, content_length)
            ip, net = self._address(remote, headers, started)
            row = Row(
                time=started,
                node=self.node,
                method=method,
                status=status,
                key=key,
                size=size,
                start=start,
                end=end,
                sent=sent,
                ip=ip,
                net=net,
                agent=headers.get("User-Agent", ""),
                referer=headers.get("Referer"),
            )
            self._file.write((row.to_line() + "\n").encode())
        except OSError as exc:
            if not self._failing:
                log.warning("download log %s: cannot record rows: %s", self.path, exc)
                self._failing = True
            return
        if self._failing:
            log.warning("download log %s: recording rows again", self.path)
            self._failing = False

    def close(self) -> None:
        self._file.close()

    def _address(
        self, remote: str | None, headers: CIMultiDictProxy[str] | CIMultiDict[str], started: float
    ) -> tuple[str, str | None]:
        if self.header == FORWARDED:
            hops = forwarded_for(headers.getall("Forwarded", ()))
        else:
            hops = x_forwarded_for(headers.getall("X-Forwarded-For", ()))
        address = client_address(remote, hops, self.trusted)
        if address is None:
            return "-", None
        salt = self.salts.salt(utc_day(started)) if self.mode == "hash" else b""
        return private_address(self.mode, address, salt)


class _AppendedFile:
    """A file written a whole line per ``write``, reopened when logrotate moves it.

    One ``write`` on a descriptor opened with O_APPEND puts the line at the end of the
    file in one piece, whichever worker writes it. Before each line the path is
    checked, as ``logging.handlers.WatchedFileHandler`` does, so a moved file is
    replaced by a new one at the path.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        found = os.fstat(self._fd)
        self._identity = (found.st_dev, found.st_ino)

    def write(self, line: bytes) -> None:
        try:
            found = os.stat(self.path)
            moved = (found.st_dev, found.st_ino) != self._identity
        except FileNotFoundError:
            moved = True
        if moved or self._fd < 0:
            self.close()
            self._open()
        os.write(self._fd, line)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
