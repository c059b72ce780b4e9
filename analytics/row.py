"""One line of the download log: what the origin really sent for one request.

The origin writes a JSON object a line to ``analytics.log``, beside its access log
(which stays in Apache's combined format, so GoAccess still reads it)::

    {"v": 1, "time": "2026-11-03T07:12:09.481Z", "node": "origin-1", "method": "GET",
     "status": 206, "key": "podcast/ep215.mp3", "size": 48133612, "start": 0,
     "end": 10485759, "sent": 10485760, "ip": "h:5c0f…", "net": "203.0.113.0/24",
     "agent": "Spotify/8.9.10 Android/34 (Pixel 8)", "referer": null}

- ``time``: when the request arrived, UTC, to the millisecond.
- ``size``: the whole object's size; ``start``/``end``: the byte range the answer
  covered (both included; null when it carried no body, as a 304 or a 404).
- ``sent``: the object's bytes really written before the response ended, however
  it ended: a client that leaves after 300 KB of a 200 is credited with 300 KB. An
  answer without the object's bytes (an error page, a redirect) has 0.
- ``ip``/``net``: the client's address as ``analytics.ip`` keeps it (see ``privacy``).
- ``agent``/``referer``: the request's headers, cut to ``MAX_TEXT`` characters.

Pure: values in, text out, and back.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import BadRow

__all__ = ["MAX_TEXT", "ROW_VERSION", "Row", "served_span"]

ROW_VERSION = 1
#: The longest User-Agent or Referer kept: one line must stay a single write.
MAX_TEXT = 1024

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_UNSATISFIED = re.compile(r"bytes \*/(\d+)")


@dataclass(frozen=True, slots=True)
class Row:
    """One response of the origin, as the download log records it."""

    time: float
    node: str
    method: str
    status: int
    key: str
    size: int | None
    start: int | None
    end: int | None
    sent: int
    ip: str
    net: str | None
    agent: str
    referer: str | None = None

    def to_line(self) -> str:
        """The row as one line of JSON (no newline)."""
        stamp = datetime.datetime.fromtimestamp(self.time, datetime.UTC)
        doc = {
            "v": ROW_VERSION,
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "node": self.node,
            "method": self.method,
            "status": self.status,
            "key": self.key,
            "size": self.size,
            "start": self.start,
            "end": self.end,
            "sent": self.sent,
            "ip": self.ip,
            "net": self.net,
            "agent": self.agent[:MAX_TEXT],
            "referer": None if self.referer is None else self.referer[:MAX_TEXT],
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> Row:
        """Parse a line of the download log; BadRow saying what is wrong."""
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise BadRow(f"not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise BadRow("not a JSON object")
        if doc.get("v") != ROW_VERSION:
            raise BadRow(f"expected version {ROW_VERSION}, got {doc.get('v')!r}")
        try:
            return cls(
                time=_time(doc["time"]),
                node=_text(doc, "node"),
                method=_text(doc, "method"),
                status=_number(doc, "status"),
                key=_text(doc, "key"),
                size=_optional_number(doc, "size"),
                start=_optional_number(doc, "start"),
                end=_optional_number(doc, "end"),
                sent=_number(doc, "sent"),
                ip=_text(doc, "ip"),
                net=_optional_text(doc, "net"),
                agent=_text(doc, "agent", empty=True),
                referer=_optional_text(doc, "referer"),
            )
        except KeyError as exc:
            raise BadRow(f"missing {exc.args[0]!r}") from None

    @property
    def stop(self) -> int:
        """One past the last byte sent: the row delivered ``[start, stop)``."""
        return (self.start or 0) + self.sent


def served_span(
    status: int, content_range: str | None, content_length: int | None
) -> tuple[int | None, int | None, int | None]:
    """``(size, start, end)`` of an answer, from its status and headers.

    A 206 says all three in ``Content-Range``; a 200 covers its whole
    ``Content-Length``; a 416 names the size only; anything else none of them.
    """
    if status == 206 and content_range:
        found = _CONTENT_RANGE.fullmatch(content_range.strip())
        if found:
            first, last, size = (int(g) for g in found.groups())
            return size, first, last
    if status == 200 and content_length is not None:
        if content_length == 0:
            return 0, None, None
        return content_length, 0, content_length - 1
    if status == 416 and content_range:
        found = _UNSATISFIED.fullmatch(content_range.strip())
        if found:
            return int(found[1]), None, None
    return None, None, None


def _time(value: Any) -> float:
    if not isinstance(value, str):
        raise BadRow("time: expected an ISO 8601 time")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BadRow(f"time: expected an ISO 8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        raise BadRow(f"time: expected a time in UTC, got {value!r}")
    return moment.timestamp()


def _text(doc: dict[str, Any], name: str, *, empty: bool = False) -> str:
    value = doc[name]
    if not isinstance(value, str) or (not value and not empty):
        raise BadRow(f"{name}: expected text, got {value!r}")
    return value


def _optional_text(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRow(f"{name}: expected text or null, got {value!r}")
    return value


def _number(doc: dict[str, Any], name: str) -> int:
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRow(f"{name}: expected a whole number, got {value!r}")
    return value


def _optional_number(doc: dict[str, Any], name: str) -> int | None:
    if doc.get(name) is None:
        return None
    return _number(doc, name)
