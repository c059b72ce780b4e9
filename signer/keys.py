"""The key ring: secrets by key id, one of them active for signing, all of them verifying.

Rotation goes: add a new key id beside the old one and deploy to every edge; make it
active in the web app; once the longest token signed with the old key has expired
(``max_ttl`` plus the leeway), remove the old key. A token naming a removed or never
issued key id is rejected as UNKNOWN_KEY.

Each key id gets its own itsdangerous signer built once, with SHA-256 (itsdangerous
defaults to SHA-1), the purpose as salt and the default "django-concat" key derivation:
the HMAC key is ``sha256(salt + b"signer" + secret)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from enum import StrEnum

import itsdangerous

from signer.errors import KeyConfigError

__all__ = ["KEY_ID_PATTERN", "MIN_SECRET_BYTES", "KeyRing", "Purpose"]

#: Key ids are drawn from the base64url alphabet so that a whole token is too, and have
#: no "." so that the token's three parts split unambiguously.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")

#: Shortest secret accepted, in bytes. HMAC-SHA-256 keys shorter than the 32-byte output
#: weaken it (https://www.rfc-editor.org/rfc/rfc2104#section-3); 16 bytes is the floor
#: below which a secret is a password, not a key. Generate 32 random bytes, e.g.
#: ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.
MIN_SECRET_BYTES = 16


class Purpose(StrEnum):
    """Names what a token is for; the value is the itsdangerous salt, so purposes never mix.

    A grant minted by the web app for the locator cannot be replayed at an edge as a URL
    token, nor the other way round, even under the same secret.
    """

    URL_TOKEN = "castedge.url-token"  # noqa: S105  # a salt is public by design, not a secret
    GRANT = "castedge.grant"


class KeyRing:
    """Holds one itsdangerous signer per key id, and which key id signs new tokens."""

    __slots__ = ("_active", "_active_signer", "_signers")

    def __init__(self, keys: Mapping[str, str | bytes], active: str, *, purpose: Purpose) -> None:
        if not keys:
            raise KeyConfigError("the key ring is empty; configure at least one signing key")
        self._signers: dict[str, itsdangerous.Signer] = {}
        for key_id, secret in keys.items():
            if KEY_ID_PATTERN.fullmatch(key_id) is None:
                raise KeyConfigError(f"key id {key_id!r} is not 1 to 32 of A-Z a-z 0-9 '_' '-'")
            raw = secret.encode("utf-8") if isinstance(secret, str) else secret
            if len(raw) < MIN_SECRET_BYTES:
                raise KeyConfigError(
                    f"secret for key id {key_id!r} is {len(raw)} bytes, under {MIN_SECRET_BYTES}"
                )
            self._signers[key_id] = itsdangerous.Signer(
                raw,
                salt=purpose.value,
                sep=".",
                key_derivation="django-concat",
                digest_method=hashlib.sha256,
            )
        if active not in self._signers:
            known = ", ".join(sorted(self._signers))
            raise KeyConfigError(f"active key id {active!r} is not among the keys ({known})")
        self._active = active
        self._active_signer = self._signers[active]

    @property
    def active(self) -> str:
        """The key id that signs new tokens."""
        return self._active

    @property
    def active_signer(self) -> itsdangerous.Signer:
        """The signer of the active key id."""
        return self._active_signer

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id that verifies, sorted."""
        return tuple(sorted(self._signers))

    def signer(self, key_id: str) -> itsdangerous.Signer | None:
        """The signer for ``key_id``, or None when the ring does not hold it."""
        return self._signers.get(key_id)

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active!r}, key_ids={self.key_ids!r})"
