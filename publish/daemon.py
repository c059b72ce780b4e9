"""A client of the sync daemon's admin API: nudge it, read its status and its holdings.

Plain ``urllib``: the command line asks one question at a time and waits for the
answer. Every way a request fails becomes a ``DaemonError`` naming the URL.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from .answers import Holdings, SyncStatus, parse_holdings, parse_nudge, parse_status
from .errors import BadAnswer, DaemonRefused, DaemonUnreachable

__all__ = ["SyncDaemon"]

T = TypeVar("T")

#: Each request gets this long: the daemon answers from memory, so longer is a hang.
TIMEOUT = 5.0


class SyncDaemon:
    """The daemon whose node's admin listener is at ``url``, reached with ``token``."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the sync daemon's URL must start with http:// or https://: {url}")
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._ssl = ssl_context

    def nudge(self) -> int:
        """Start a listing pass now; the pass's number."""
        return self._ask("POST", "/admin/sync/nudge", parse_nudge)

    def status(self) -> SyncStatus:
        """The last listing and every region's progress."""
        return self._ask("GET", "/admin/sync/status", parse_status)

    def holdings(self) -> Holdings:
        """Which region holds which version of every object."""
        return self._ask("GET", "/admin/sync/holdings", parse_holdings)

    def _ask(self, method: str, path: str, parse: Callable[[object], T]) -> T:
        url = self.url + path
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            url, method=method, headers=headers, data=b"" if method == "POST" else None
        )
        try:
            opened = urllib.request.urlopen(  # noqa: S310 - the scheme is checked in __init__
                request, timeout=self.timeout, context=self._ssl
            )
            with opened as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 401:
                raise DaemonRefused(url, "refused: missing or wrong admin token") from None
            if exc.code == 404:
                raise BadAnswer(url, "HTTP 404: no sync daemon answers here") from None
            raise BadAnswer(url, f"HTTP {exc.code} {exc.reason}".rstrip()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, OSError) and reason.strerror:
                reason = reason.strerror
            raise DaemonUnreachable(url, f"unreachable: {reason}") from None
        try:
            return parse(json.loads(body))
        except ValueError as exc:
            raise BadAnswer(url, f"not the documented answer: {exc}") from None
