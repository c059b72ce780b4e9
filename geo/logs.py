"""Keeping grants out of the locator's logs.

A grant travels in `?grant=` on a player's URL, and a logged grant is a way in until it
expires. The access log shows its fingerprint instead (`grant=fp:<32 hex>`), the same
fingerprint `signer.fingerprint` gives for tokens, and aiohttp's own reports of
requests it could not parse are scrubbed the same way.
"""

from __future__ import annotations

import datetime
import logging
import re
from time import time as wall_clock

from aiohttp.web import BaseRequest, StreamResponse

from delivery.accesslog import CombinedLogFormat
from signer import fingerprint

__all__ = ["GrantRedactor", "LocatorLogFormat", "redact_grants"]

_GRANT_PARAMETER = re.compile(r"(?<![^?&])(grant=)([^&#\s]*)")
# Anything shaped like a signer token: key id, payload, 43-character signature.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{43}")


def redact_grants(text: str) -> str:
    """`text` with each `grant=` value and anything shaped like a token fingerprinted."""
    text = _GRANT_PARAMETER.sub(lambda m: f"{m[1]}fp:{fingerprint(m[2])}" if m[2] else m[0], text)
    return _TOKEN.sub(lambda m: f"fp:{fingerprint(m[0])}", text)


# Printable ASCII but for the quote and the backslash: what needs no escaping.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")


def _quote(text: str) -> str:
    # As delivery.accesslog: a quote or control character must not forge fields or lines.
    if _PLAIN.fullmatch(text):
        return text
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text)


class LocatorLogFormat(CombinedLogFormat):
    """Apache's combined format, as the origin writes it, minus the grants.

    Written out rather than inherited: on the locator the log line is a large part of
    a redirect's cost, so the timestamp is formatted once a second, only text that
    needs escaping is escaped character by character, and the record skips the
    caller lookup. tests/unit/geo/test_logs.py checks that the lines are the ones
    `CombinedLogFormat` writes.
    """

    _second = -1
    _stamp = ""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        second = int(wall_clock())
        if second != self._second:
            now = datetime.datetime.fromtimestamp(second, datetime.UTC).astimezone()
            self._stamp = now.strftime("[%d/%b/%Y:%H:%M:%S %z]")
            self._second = second
        sent = response.body_length
        headers = request.headers
        line = (
            f"{request.remote or '-'} - - {self._stamp} "
            f'"{_quote(request.method)} {_quote(self.target(request))} '
            f'HTTP/{request.version.major}.{request.version.minor}" '
            f"{response.status} {sent if sent else '-'} "
            f'"{_quote(headers.get("Referer", "-"))}" '
            f'"{_quote(headers.get("User-Agent", "-"))}"'
        )
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            # Logger.info would walk the stack for the caller's file and line, which an
            # access line never shows and which costs more than the rest of the line.
            logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None))

    def target(self, request: BaseRequest) -> str:
        target = request.rel_url.raw_path_qs
        return redact_grants(target) if "grant=" in target else target


class GrantRedactor(logging.Filter):
    """Rewrites a record's message and traceback without grants (aiohttp quotes bad requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_text = redact_grants(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = redact_grants(record.getMessage())
        record.args = None
        return True
