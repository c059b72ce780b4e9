"""What a token grants, and the compact payload that carries it (format versions 1 and 2).

The payload is a JSON array serialised with no whitespace and encoded as UTF-8. A token
that names no parent is format version 1, six elements in this order::

    [1, scope, expires_at, issued_at, ip, subject]

and a token minted on the strength of another (the locator's edge URL for a grant) is
format version 2, the same fields with the other token's fingerprint appended::

    [2, scope, expires_at, issued_at, ip, subject, parent]

The two times are integer unix seconds, ``ip`` and ``subject`` are strings or ``null``,
``parent`` is always a fingerprint string (a token without one is version 1, so every
set of claims has exactly one payload). Keeping version 1 for tokens without a parent
leaves them byte for byte what they were before version 2, for minters elsewhere too.
Strings hold no control characters, so the only escapes JSON needs are ``\\"`` and
``\\\\``; every other character, non-ASCII included, is written as itself.
``docs/signed-urls.md`` gives the byte-exact rules for other languages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from signer.errors import Reason, TokenRejected
from signer.fingerprints import FINGERPRINT_LENGTH, is_fingerprint
from signer.scope import scope_problem

__all__ = [
    "FORMAT_VERSION",
    "MAX_SUBJECT_LENGTH",
    "PARENT_FORMAT_VERSION",
    "Claims",
    "subject_problem",
]

#: The payload format of a token without a parent, and of one with a parent.
FORMAT_VERSION = 1
PARENT_FORMAT_VERSION = 2

# Elements in the payload array of each format version.
_LENGTHS = {FORMAT_VERSION: 6, PARENT_FORMAT_VERSION: 7}

#: Longest subject accepted, in characters: room for a UUID, an e-mail address or a
#: "tenant:user" pair, while keeping the token short.
MAX_SUBJECT_LENGTH = 128

# Control characters would need JSON escapes whose spelling differs between libraries
# (\n or \u000a, \u001F or \u001f), breaking byte-for-byte minting elsewhere, and they
# have no business in a log line; lone surrogates have no UTF-8 form.
_SUBJECT_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def subject_problem(subject: str) -> str | None:
    """Says what makes ``subject`` unusable in a token, or None when it is fine."""
    if not subject:
        return "is empty"
    if len(subject) > MAX_SUBJECT_LENGTH:
        return f"is {len(subject)} characters long, over the limit of {MAX_SUBJECT_LENGTH}"
    found = _SUBJECT_FORBIDDEN.search(subject)
    if found is not None:
        return f"holds the control character {found.group()!r} at offset {found.start()}"
    return None


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token grants, for the edge to serve by and to log.

    ``scope`` is a file path or a directory ending in "/"; ``expires_at`` and
    ``issued_at`` are unix seconds; ``key_id`` names the key that signed it; ``ip`` is the
    address or CIDR the token is bound to, if any; ``subject`` is the opaque user id the
    web app put in, for logs and per-student revocation; ``parent`` is the fingerprint of
    the token this one was minted from (the grant behind a locator's URL), so that
    revoking that token voids this one too.
    """

    scope: str
    expires_at: int
    issued_at: int
    key_id: str
    ip: str | None = None
    subject: str | None = None
    parent: str | None = None

    def to_payload(self) -> bytes:
        """Encodes the claims (all but the key id) as the canonical payload.

        Version 1 without a parent, version 2 with one.
        """
        fields: list[object] = [FORMAT_VERSION, self.scope, self.expires_at, self.issued_at]
        fields += [self.ip, self.subject]
        if self.parent is not None:
            fields[0] = PARENT_FORMAT_VERSION
            fields.append(self.parent)
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_payload(cls, payload: bytes, key_id: str) -> Claims:
        """Decodes a payload whose signature has been checked; MALFORMED if not the layout."""
        try:
            fields = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
        except ValueError as exc:
            raise _malformed(f"payload is not UTF-8 JSON: {exc}") from None
        if not isinstance(fields, list) or not fields:
            raise _malformed("payload is not a JSON array starting with a format version")
        version = fields[0]
        length = _LENGTHS.get(version) if _is_int(version) else None
        if length is None:
            raise _malformed(
                f"payload format version {version!r} is not"
                f" {FORMAT_VERSION} or {PARENT_FORMAT_VERSION}"
            )
        if len(fields) != length:
            raise _malformed(
                f"payload of format version {version} is an array of {len(fields)} elements,"
                f" not {length}"
            )
        _, scope, expires_at, issued_at, ip, subject, *rest = fields
        parent = rest[0] if rest else None
        if rest and not is_fingerprint(parent):
            raise _malformed(
                f"payload parent is not a fingerprint ({FINGERPRINT_LENGTH} lowercase hex digits)"
            )
        if not isinstance(scope, str):
            raise _malformed(f"payload scope {scope!r} is not a string")
        problem = scope_problem(scope)
        if problem is not None:
            raise _malformed(f"payload scope {scope!r} {problem}")
        if not _is_int(expires_at) or not _is_int(issued_at):
            raise _malformed("payload times are not integers")
        if not 0 <= issued_at <= expires_at:
            raise _malformed(f"payload times fail 0 <= issued {issued_at} <= expires {expires_at}")
        if ip is not None and not isinstance(ip, str):
            raise _malformed("payload ip is neither a string nor null")
        if subject is not None and (
            not isinstance(subject, str) or subject_problem(subject) is not None
        ):
            raise _malformed("payload subject is not a usable string or null")
        return cls(scope, expires_at, issued_at, key_id, ip, subject, parent)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; JSON true is not a time
    return isinstance(value, int) and not isinstance(value, bool)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _malformed(detail: str) -> TokenRejected:
    return TokenRejected(Reason.MALFORMED, detail)
