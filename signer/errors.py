"""Errors the signer raises, and the reasons a token is turned away.

The tree::

    SignerError                 base of everything this package raises
    ├── KeyConfigError     500  the key ring or settings.signing cannot be used
    ├── ClaimError         500  mint/url was given a scope, TTL, IP or subject no token may carry
    ├── RevocationListError 500 revocation-list JSON that does not validate; names the field
    └── TokenRejected      403  verify turned a request away; carries .reason and .detail
        └── PathRejected   403  normalise_path refused the raw request path (OUT_OF_SCOPE)

``ClaimError`` and ``RevocationListError`` are also ``ValueError``s, because both are
about a bad argument value.

``status_hint`` is advice to the adapter that turns an error into a response, in the
manner of h11's ``error_status_hint``. Every ``TokenRejected`` gets the same 403 and the
same body whatever its reason, so a client learns nothing about which check failed (no
oracle); the edge logs ``detail`` and counts ``reason`` instead. A new kind of failure
gets its own subclass here, a line in the tree above and its own ``status_hint``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "ClaimError",
    "KeyConfigError",
    "PathRejected",
    "Reason",
    "RevocationListError",
    "SignerError",
    "TokenRejected",
]


class Reason(StrEnum):
    """Names why a token was rejected; the values are short enough for a metric label."""

    #: The token is not three dot-separated base64url parts, or its signed payload does not
    #: decode to the claims layout.
    MALFORMED = "malformed"
    #: The token names a key id that is not in the key ring (never issued, or retired).
    UNKNOWN_KEY = "unknown_key"
    #: The HMAC does not match: tampered, truncated, or signed for another purpose.
    BAD_SIGNATURE = "bad_signature"
    #: The expiry plus the leeway lies in the past.
    EXPIRED = "expired"
    #: A revocation-list entry covers the token (by subject or by fingerprint).
    REVOKED = "revoked"
    #: The request path is unsafe, or lies outside the path prefix the token grants.
    OUT_OF_SCOPE = "out_of_scope"
    #: The token is bound to an address or network the client is not in.
    IP_MISMATCH = "ip_mismatch"


class SignerError(Exception):
    """Base class for every error the signer raises."""

    status_hint: ClassVar[int] = 500


class KeyConfigError(SignerError):
    """Signals a key ring that cannot sign or verify: no keys, a bad key id, a short secret."""


class ClaimError(SignerError, ValueError):
    """Signals a mint or url argument that cannot go into a token (caller's mistake)."""


class RevocationListError(SignerError, ValueError):
    """Signals revocation-list JSON that is not the documented shape; names where."""


class TokenRejected(SignerError):
    """Signals that verify refused a token; the edge answers one uniform 403 for all reasons.

    ``reason`` is for metrics and ``detail`` for the log (it may name addresses, paths and
    times); neither belongs in the response body, which must not tell a client which check
    failed.
    """

    status_hint: ClassVar[int] = 403

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


class PathRejected(TokenRejected):
    """Signals a raw request path that is unsafe to map onto disk; always OUT_OF_SCOPE."""

    def __init__(self, raw: str, detail: str) -> None:
        self.raw = raw
        super().__init__(Reason.OUT_OF_SCOPE, detail)
