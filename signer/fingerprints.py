"""Naming a token without revealing it: the fingerprint logs and revocation lists use.

A logged token is a working URL until it expires, so logs, revocation lists and the
``parent`` a token names (the token it was minted from) all carry the fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import re

__all__ = ["FINGERPRINT_LENGTH", "fingerprint", "is_fingerprint"]

#: Hex digits in a fingerprint: the first 16 bytes of SHA-256, enough that no two live
#: tokens share one, short enough for a log column.
FINGERPRINT_LENGTH = 32

_FINGERPRINT = re.compile(rf"[0-9a-f]{{{FINGERPRINT_LENGTH}}}")


#: Tokens up to this long have their fingerprints kept (a typical one is 120 to 330
#: characters): a player's token names every segment it fetches, and each access line
#: shows it. 4,096 of them cost at most about 3 MB, whatever a client sends.
CACHED_LENGTH = 512


def fingerprint(token: str) -> str:
    """Names a token in logs and revocation lists without revealing it (sha256, 32 hex)."""
    if len(token) <= CACHED_LENGTH:
        return _kept(token)
    return _digest(token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


_kept = functools.lru_cache(maxsize=4096)(_digest)


def is_fingerprint(value: object) -> bool:
    """Says whether ``value`` has the shape :func:`fingerprint` returns (32 lowercase hex)."""
    return isinstance(value, str) and _FINGERPRINT.fullmatch(value) is not None
