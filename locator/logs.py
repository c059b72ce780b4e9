"""Keeping grants out of the locator's logs.

A grant travels in `?grant=` on a player's URL, and a logged grant is a way in until it
expires. The access log shows its fingerprint instead (`grant=fp:<32 hex>`), the same
fingerprint `signer.fingerprint` gives for tokens, and aiohttp's own reports of
requests it could not parse are scrubbed the same way.
"""

from __future__ import annotations

import logging
import re

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


class LocatorLogFormat(CombinedLogFormat):
    """Apache's combined format, as the origin writes it, minus the grants."""

    def shown(self, raw_target: str) -> str:
        return redact_grants(raw_target) if "grant=" in raw_target else raw_target


class GrantRedactor(logging.Filter):
    """Rewrites a record's message and traceback without grants (aiohttp quotes bad requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_text = redact_grants(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = redact_grants(record.getMessage())
        record.args = None
        return True
