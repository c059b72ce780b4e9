"""Whether a player may have a path: the web app's grant, or its proxy's shared secret.

The web app decides who may watch; the locator only checks the proof. Either

* a **grant**: a short-lived token the app mints with `signer.Signer(...,
  purpose=Purpose.GRANT)` for a user and a path scope (a course, a chapter), passed as
  `?grant=` or in a header. A revoked grant (its subject, or the grant itself) is
  refused. The signed URL the locator then mints carries the grant's scope, subject,
  address binding and issue time, and names the grant as its parent, so the edge
  allows exactly what the app did, and no longer than the grant is unrevoked; or
* the **proxy secret**: a header the app's own reverse proxy adds after it has
  checked the user itself. The proxy vouches for one path; the URL's scope is that
  file, or for a playlist (`.m3u8`, `.mpd`) the folder holding it, so that its
  segments and variant playlists are covered too.

Pure: the clock and the client's address are passed in.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from geo.errors import Refused
from signer import RevocationList, Signer, TokenRejected, fingerprint

NO_GRANT = "no_grant"
BAD_PROXY_SECRET = "bad_proxy_secret"  # noqa: S105  # a metric label, not a secret

#: Files whose relative references name other files: the scope must cover their folder.
MANIFEST_SUFFIXES = (".m3u8", ".mpd")


class Via(enum.Enum):
    """What proved the request may have its path."""

    GRANT = "grant"
    PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class Permit:
    """What the signed URL may grant: a scope, who and where it is for, and its origin.

    For a grant, ``issued_at`` is the grant's issue time and ``parent`` its
    fingerprint; the URL carries both, so revoking either voids the URL as well.
    """

    scope: str
    via: Via
    subject: str | None = None
    ip: str | None = None
    issued_at: int | None = None
    parent: str | None = None


def proxy_scope(path: str) -> str:
    """The scope a proxy-vouched path gets: the file, or a playlist's folder."""
    folder, slash, _ = path.rpartition("/")
    if slash and path.endswith(MANIFEST_SUFFIXES):
        return folder + "/"
    return path


def authorise(
    path: str,
    *,
    grant: str | None,
    signer: Signer,
    now: float,
    client_ip: str | None,
    presented_secret: str | None = None,
    proxy_secret: bytes | None = None,
    revoked: RevocationList | None = None,
) -> Permit:
    """Check the proof offered for the decoded `path`; raises `Refused` when there is none.

    `signer` verifies grants (purpose GRANT). A proxy secret counts only when the
    locator is configured with one (`proxy_secret`), and is compared in constant time.
    A request with both is allowed if either holds. A grant that ``revoked`` voids is
    refused with the signer's reason ``revoked``.
    """
    if proxy_secret and presented_secret is not None:
        given = presented_secret.encode("utf-8", "replace")
        if hmac.compare_digest(given, proxy_secret):
            return Permit(proxy_scope(path), Via.PROXY)
    if grant is None:
        if presented_secret is not None:
            raise Refused(BAD_PROXY_SECRET, "the proxy secret header does not match")
        raise Refused(NO_GRANT, "no grant and no proxy secret")
    try:
        claims = signer.verify(grant, path, now=now, client_ip=client_ip, revoked=revoked)
    except TokenRejected as exc:
        raise Refused(exc.reason.value, exc.detail) from None
    return Permit(
        claims.scope,
        Via.GRANT,
        subject=claims.subject,
        ip=claims.ip,
        issued_at=claims.issued_at,
        parent=fingerprint(grant),
    )
