"""Keeping tokens out of the edge's logs: access lines and aiohttp's own error reports.

A logged token is a working URL until it expires, so it never reaches a log; its
fingerprint does (``/s/fp:<32 hex>/<path>``), which is what ``castedge revoke --token``
takes to void one leaked URL.
"""

from __future__ import annotations

import logging
import re

from delivery.accesslog import CombinedLogFormat
from signer import fingerprint

from .access import split_signed

__all__ = ["EdgeLogFormat", "TokenRedactor", "redact_tokens", "shown_target"]

# A token's shape (signer.token): key id, payload and a 43-character signature.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{43}")


def shown_target(raw_path_qs: str) -> str:
    """The request-target with the token of a signed URL replaced by its fingerprint."""
    path, mark, query = raw_path_qs.partition("?")
    signed = split_signed(path)
    if signed is None:
        return raw_path_qs
    token, rest = signed
    return f"/s/fp:{fingerprint(token)}/{rest}{mark}{query}"


def redact_tokens(text: str) -> str:
    """Any text with everything shaped like a token replaced by ``fp:<fingerprint>``."""
    return _TOKEN.sub(lambda m: f"fp:{fingerprint(m[0])}", text)


class EdgeLogFormat(CombinedLogFormat):
    """Apache's combined format, as the origin writes it, minus the tokens."""

    def shown(self, raw_target: str) -> str:
        return shown_target(raw_target)


class TokenRedactor(logging.Filter):
    """Rewrites a record's message and traceback without tokens.

    aiohttp reports a request line it cannot parse with the line itself in the
    traceback; on an edge that line may hold a working token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_text = redact_tokens(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = redact_tokens(record.getMessage())
        record.args = None
        return True
