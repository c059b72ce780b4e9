"""The bytes of a hit's status line and headers, as aiohttp's response would write them.

``delivery.answer`` decides the status and the object's headers; this adds what
aiohttp's ``StreamResponse`` adds on its way out (``Content-Length``, ``Date``,
``Server``, ``Connection``), by the same rules, so a client cannot tell which of the
two paths answered (``tests/integration/test_fastpath.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Hashable

from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.web_response import REASON_PHRASES

from ..answer import Answer

__all__ = ["RecentHeads", "head_bytes"]

#: Answers kept by ``RecentHeads`` at most (each a few hundred bytes).
KEPT = 512

_STATUS_LINES = {
    (version, status): f"HTTP/{version[0]}.{version[1]} {status} {REASON_PHRASES[status]}\r\n"
    for version in ((1, 0), (1, 1))
    for status in (200, 206, 304, 412, 416)
}
_TAIL = f"Server: {SERVER_SOFTWARE}\r\n"


def head_bytes(plan: Answer, version: tuple[int, int], keep_alive: bool) -> bytes:
    """The head of ``plan``'s answer to a request of HTTP ``version``."""
    lines = [_STATUS_LINES[version, plan.status]]
    for name, value in plan.headers.items():
        lines.append(f"{name}: {value}\r\n")
    if plan.content_length is not None:
        lines.append(f"Content-Length: {plan.content_length}\r\n")
    lines.append(f"Date: {rfc822_formatted_time()}\r\n")
    lines.append(_TAIL)
    # aiohttp's rules (web_response._prepare_headers): HTTP/1.0 says keep-alive when it
    # keeps the connection, HTTP/1.1 says close when it does not.
    if keep_alive:
        if version == (1, 0):
            lines.append("Connection: keep-alive\r\n")
    elif version == (1, 1):
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    # Header values are the store's and the settings' own (latin-1 safe, as aiohttp
    # writes them: utf-8); nothing of the request is echoed.
    return "".join(lines).encode("utf-8")


class RecentHeads:
    """The answers of the current second and their heads, by what decides them.

    A hit's answer is a pure function of the object, the request's method, range,
    conditionals, version and keep-alive, and the role's extra headers
    (``delivery.answer``); its head adds only the Date, which changes once a second.
    Probes of one episode, and HLS segments, ask the same again and again: each
    distinct question is answered once a second, and the rest reuse that answer.
    """

    __slots__ = ("_date", "_kept")

    def __init__(self) -> None:
        self._date = ""
        self._kept: dict[Hashable, tuple[Answer, bytes]] = {}

    def get(self, key: Hashable) -> tuple[Answer, bytes] | None:
        """The answer and head kept for ``key`` this second, if any."""
        date = rfc822_formatted_time()
        if date != self._date:
            self._date = date
            self._kept.clear()
            return None
        return self._kept.get(key)

    def keep(self, key: Hashable, plan: Answer, head: bytes) -> None:
        if len(self._kept) >= KEPT:
            self._kept.clear()
        self._kept[key] = (plan, head)
