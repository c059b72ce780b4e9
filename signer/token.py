"""Minting and verifying the short-lived HMAC tokens in ``/s/<token>/<path>`` URLs.

A token is three base64url parts joined by "."::

    <key id>.<payload>.<signature>

``payload`` is the unpadded base64url of the claims (see :mod:`signer.claims`) and
``signature`` the unpadded base64url of HMAC-SHA-256 over the ASCII text
``<key id>.<payload>``, keyed with ``sha256(purpose + "signer" + secret)`` (itsdangerous'
"django-concat" derivation). The key id sits outside the payload so that the key is
chosen, and the signature checked, before any byte of the payload is parsed.

Expiry lives in the payload rather than in itsdangerous' TimestampSigner, because the
token needs an absolute expiry chosen by the minter (TimestampSigner records only the
signing time and leaves the maximum age to the verifier) and an issued-at for revocation.

The token travels in the path, not the query string, so that the relative URLs in an HLS
playlist inherit it: players drop query strings when resolving them
(https://github.com/video-dev/hls.js/issues/3786).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import math
import re
from collections.abc import Mapping
from urllib.parse import quote

from signer.address import canonical_network, ip_problem
from signer.claims import Claims, subject_problem
from signer.errors import ClaimError, KeyConfigError, Reason, TokenRejected
from signer.fingerprints import FINGERPRINT_LENGTH, is_fingerprint
from signer.keys import KeyRing, Purpose
from signer.revocation import RevocationList, SubjectRevocation
from signer.scope import in_scope, path_problem, scope_problem, shown_path

__all__ = ["MAX_TOKEN_LENGTH", "Signer"]

#: Longest token accepted, in characters. A token is one URL path segment; nginx's default
#: large_client_header_buffers (8 KiB) and the 8000-octet request line RFC 9112 asks for
#: leave room for a 2 KiB token plus the path. A typical token is 120 to 330 characters:
#: the locator's URL for a grant, with a 60-character scope, a UUID subject, a /64 binding
#: and a parent, is 303 under key id "2025-01" (328 under a 32-character one), leaving
#: 1745 (1720) for longer or non-ASCII scopes. A parent adds 47 characters.
#: https://www.rfc-editor.org/rfc/rfc9112#section-3
MAX_TOKEN_LENGTH = 2048

# An HMAC-SHA-256 is 32 bytes: 43 base64url characters without padding. Matching the exact
# shape before decoding also refuses what itsdangerous' lenient base64 decoder would skip.
_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{43})")


def _seconds(value: float) -> str:
    return f"{value:.0f}"


class Signer:
    """Mints tokens for the web app and verifies them at the edge; pure, clock passed in.

    ``keys`` maps key ids to secrets (UTF-8 text or bytes, at least 16 bytes); ``active``
    names the one that signs; every listed key verifies. ``leeway`` (seconds) forgives
    clock skew between the minting app and the edge at expiry; ``default_ttl`` is the
    lifetime of a token minted without a ``ttl``; ``max_ttl`` caps any lifetime, counted
    from the token's issued-at, which bounds how long a revocation-list entry or a retired
    key must be kept. ``purpose`` picks the salt, so URL tokens and the locator's grants
    never verify as one another.
    """

    __slots__ = ("_authentic", "_default_ttl", "_leeway", "_max_ttl", "_purpose", "_ring")

    def __init__(
        self,
        keys: Mapping[str, str | bytes],
        active: str,
        *,
        leeway: float = 30,
        default_ttl: float = 7200,
        max_ttl: float = 86400,
        purpose: Purpose = Purpose.URL_TOKEN,
    ) -> None:
        if not (math.isfinite(leeway) and leeway >= 0):
            raise KeyConfigError(f"leeway must be a finite number of seconds >= 0, got {leeway}")
        if not (math.isfinite(max_ttl) and max_ttl > 0):
            raise KeyConfigError(f"max_ttl must be a finite number of seconds > 0, got {max_ttl}")
        if not (math.isfinite(default_ttl) and 0 < default_ttl <= max_ttl):
            raise KeyConfigError(
                f"default_ttl must be > 0 and <= max_ttl {max_ttl:g} s, got {default_ttl}"
            )
        self._ring = KeyRing(keys, active, purpose=purpose)
        self._leeway = leeway
        # A player asks for many segments with one token: its signature is checked and
        # its payload decoded once (per signer, so per key ring), not on every request.
        # Only authentic tokens are kept; a refused one is checked afresh each time.
        self._authentic = functools.lru_cache(maxsize=4096)(self._authenticate)
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._purpose = purpose

    @classmethod
    def from_settings(cls, settings: object, *, purpose: Purpose = Purpose.URL_TOKEN) -> Signer:
        """Builds a signer from ``settings.signing`` (keys of Secrets, active, leeway, TTLs).

        Reads the attributes by name rather than importing config: ``keys`` maps key ids
        to objects with ``reveal() -> str`` (plain strings also do), and ``max_ttl`` is
        used when present.
        """
        signing = getattr(settings, "signing", None)
        if signing is None:
            raise KeyConfigError(
                "settings.signing is not configured; signed URLs need a 'signing' section"
                " with keys and an active key id"
            )
        try:
            keys_setting = signing.keys
            active = signing.active
            leeway = signing.leeway
            default_ttl = signing.default_ttl
        except AttributeError as exc:
            raise KeyConfigError(f"settings.signing lacks {exc.name!r}") from None
        if not isinstance(keys_setting, Mapping):
            raise KeyConfigError("settings.signing.keys is not a mapping of key id to secret")
        keys: dict[str, str | bytes] = {}
        for key_id, secret in keys_setting.items():
            revealed = secret.reveal() if hasattr(secret, "reveal") else secret
            if not isinstance(key_id, str) or not isinstance(revealed, str | bytes):
                raise KeyConfigError(f"settings.signing.keys[{key_id!r}] is not a secret")
            keys[key_id] = revealed
        if not isinstance(active, str):
            raise KeyConfigError(f"settings.signing.active {active!r} is not a key id")
        for name, value in (("leeway", leeway), ("default_ttl", default_ttl)):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise KeyConfigError(f"settings.signing.{name} {value!r} is not seconds")
        max_ttl = getattr(signing, "max_ttl", None)
        return cls(
            keys,
            active,
            leeway=leeway,
            default_ttl=default_ttl,
            max_ttl=86400 if max_ttl is None else max_ttl,
            purpose=purpose,
        )

    def __repr__(self) -> str:
        return (
            f"Signer(purpose={self._purpose.value!r}, active={self._ring.active!r}, "
            f"key_ids={self._ring.key_ids!r})"
        )

    @property
    def purpose(self) -> Purpose:
        """What the tokens are for; also the itsdangerous salt."""
        return self._purpose

    @property
    def leeway(self) -> float:
        """Seconds past expiry a token is still accepted."""
        return self._leeway

    @property
    def max_ttl(self) -> float:
        """The longest lifetime mint allows, in seconds."""
        return self._max_ttl

    def mint(
        self,
        scope: str,
        *,
        now: float,
        ttl: float | None = None,
        ip: str | None = None,
        subject: str | None = None,
        issued_at: float | None = None,
        parent: str | None = None,
    ) -> str:
        """Signs a token granting ``scope`` (a decoded file path, or directory ending "/").

        The token is issued at ``floor(issued_at)``, by default ``floor(now)``, and expires
        at ``ceil(now + ttl)``; ``ip`` binds it to an address or CIDR network, ``subject``
        names the user for logs and revocation. Raises ClaimError for a value no token may
        carry.

        A token minted on the strength of another (the locator's edge URL for a player's
        grant) passes the other's ``issued_at``, in ``[0, now]``, so that revoking the
        subject at any time after the grant was issued voids this token as well; its
        expiry must still lie within ``max_ttl`` of that ``issued_at``. It also passes the
        other's :func:`~signer.fingerprint` as ``parent``, so that revoking the grant by
        token voids this one too. Pass both: the revocation entry is kept only ``max_ttl``
        after it is made, which outlasts this token only when it counts from the grant's
        ``issued_at``.
        """
        ttl = self._default_ttl if ttl is None else ttl
        if not math.isfinite(now) or now < 0:
            raise ClaimError(f"now must be finite unix seconds >= 0, got {now}")
        if not (math.isfinite(ttl) and 0 < ttl <= self._max_ttl):
            raise ClaimError(f"ttl {ttl} s is not within (0, {self._max_ttl:g}] s")
        if issued_at is None:
            issued_at = now
        elif not (math.isfinite(issued_at) and 0 <= issued_at <= now):
            raise ClaimError(f"issued_at {issued_at} is not unix seconds within [0, now {now}]")
        elif now + ttl > issued_at + self._max_ttl:
            # A revocation entry lapses max_ttl + leeway after it was made, so after the
            # issued-at of every token it covers (signer.revocation); a token living longer
            # would be served again once the entry was pruned.
            raise ClaimError(
                f"token issued at {issued_at} must expire by {issued_at + self._max_ttl}"
                f" (max_ttl {self._max_ttl:g} s), not at now {now} + ttl {ttl} s"
            )
        problem = scope_problem(scope)
        if problem is not None:
            raise ClaimError(f"scope {scope!r} {problem}")
        if subject is not None:
            problem = subject_problem(subject)
            if problem is not None:
                raise ClaimError(f"subject {subject!r} {problem}")
        if parent is not None and not is_fingerprint(parent):
            # Not echoed: a caller who passes the grant itself would log a working credential.
            raise ClaimError(
                f"parent is not a fingerprint ({FINGERPRINT_LENGTH} lowercase hex digits, see"
                f" signer.fingerprint); got {len(parent)} characters"
            )
        claims = Claims(
            scope=scope,
            expires_at=math.ceil(now + ttl),
            issued_at=math.floor(issued_at),
            key_id=self._ring.active,
            ip=None if ip is None else canonical_network(ip),
            subject=subject,
            parent=parent,
        )
        payload = base64.urlsafe_b64encode(claims.to_payload()).rstrip(b"=")
        token = self._ring.active_signer.sign(
            claims.key_id.encode("ascii") + b"." + payload
        ).decode("ascii")
        if len(token) > MAX_TOKEN_LENGTH:
            raise ClaimError(
                f"token would be {len(token)} characters, over {MAX_TOKEN_LENGTH};"
                " grant a shorter scope or a directory"
            )
        return token

    def url(
        self,
        path: str,
        *,
        now: float,
        base: str,
        ttl: float | None = None,
        scope: str | None = None,
        ip: str | None = None,
        subject: str | None = None,
    ) -> str:
        """Builds ``{base}/s/{token}/{path}`` for a decoded ``path`` within ``scope``.

        ``scope`` defaults to ``path`` itself; for an HLS playlist pass the directory that
        holds it and its segments, e.g. ``url("courses/py/ch03/index.m3u8",
        scope="courses/py/ch03/", …)``. The path is percent-encoded for the URL.
        """
        problem = path_problem(path)
        if problem is not None:
            raise ClaimError(f"path {path!r} {problem}")
        scope = path if scope is None else scope
        problem = scope_problem(scope)
        if problem is not None:
            raise ClaimError(f"scope {scope!r} {problem}")
        if not in_scope(scope, path):
            raise ClaimError(f"path {path!r} lies outside scope {scope!r}")
        token = self.mint(scope, now=now, ttl=ttl, ip=ip, subject=subject)
        return f"{base.rstrip('/')}/s/{token}/{quote(path, safe='/')}"

    def _authenticate(self, token: str) -> Claims:
        """The claims of ``token`` if one of the ring's keys signed it; TokenRejected if not."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected(
                Reason.MALFORMED, f"token is {len(token)} characters, over {MAX_TOKEN_LENGTH}"
            )
        parts = _TOKEN.fullmatch(token)
        if parts is None:
            raise TokenRejected(
                Reason.MALFORMED, "token is not <key id>.<payload>.<signature> in base64url"
            )
        key_id, payload, signature = parts.groups()
        signer = self._ring.signer(key_id)
        if signer is None:
            known = ", ".join(self._ring.key_ids)
            raise TokenRejected(
                Reason.UNKNOWN_KEY, f"key id {key_id!r} is not in the key ring ({known})"
            )
        # Compare the canonical base64 text, not decoded bytes: the last of the 43
        # characters carries two spare bits, so itsdangerous' unsign would accept four
        # spellings of every signature.
        expected = signer.get_signature(token[: parts.end(2)])
        if not hmac.compare_digest(expected, signature.encode("ascii")):
            raise TokenRejected(
                Reason.BAD_SIGNATURE,
                f"signature does not match key id {key_id!r} for purpose {self._purpose.value!r}",
            )
        try:
            decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise TokenRejected(Reason.MALFORMED, "payload is not base64url") from None
        claims = Claims.from_payload(decoded, key_id)
        return claims

    def verify(
        self,
        token: str,
        path: str,
        *,
        now: float,
        client_ip: str | None = None,
        revoked: RevocationList | None = None,
    ) -> Claims:
        """Checks that ``token`` grants the decoded ``path`` to ``client_ip`` at ``now``.

        ``token`` is the raw path segment after ``/s/``; ``path`` is the rest of the path
        in the decoded form :func:`signer.normalise_path` returns (verify refuses any
        other). Returns the claims, or raises TokenRejected whose ``reason`` says which
        check failed, in this order: MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, (MALFORMED
        payload), EXPIRED, REVOKED, OUT_OF_SCOPE, IP_MISMATCH.

        The edge must answer every rejection with the same 403 and the same body, so that
        a client cannot probe which check it failed; it logs ``detail`` and counts
        ``reason``.
        """
        claims = self._authentic(token)

        if not now <= claims.expires_at + self._leeway:  # written so that a NaN now fails
            raise TokenRejected(
                Reason.EXPIRED,
                f"token expired {_seconds(now - claims.expires_at)} s ago"
                f" (leeway {self._leeway:g} s)",
            )
        if revoked is not None:
            entry = revoked.match(token, claims)
            if isinstance(entry, SubjectRevocation):
                raise TokenRejected(
                    Reason.REVOKED,
                    f"subject {entry.subject!r} revoked at {entry.revoked_at};"
                    f" token issued at {claims.issued_at}",
                )
            if entry is not None and entry.fingerprint == claims.parent:
                raise TokenRejected(Reason.REVOKED, f"parent token {entry.fingerprint} revoked")
            if entry is not None:
                raise TokenRejected(Reason.REVOKED, f"token {entry.fingerprint} revoked")
        problem = path_problem(path)
        if problem is not None:
            raise TokenRejected(Reason.OUT_OF_SCOPE, f"path {shown_path(path)} {problem}")
        if not in_scope(claims.scope, path):
            raise TokenRejected(
                Reason.OUT_OF_SCOPE,
                f"path {shown_path(path)} lies outside scope {shown_path(claims.scope)}",
            )
        if claims.ip is not None:
            problem = ip_problem(claims.ip, client_ip)
            if problem is not None:
                raise TokenRejected(Reason.IP_MISMATCH, problem)
        return claims
