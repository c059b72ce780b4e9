"""Who may have a path: the signed route ``/s/<token>/<path>`` and the public folders.

Pure: no I/O, no clock (``now`` is passed in). The handler hands over the raw request
path, still percent-encoded and without the query string (``request.rel_url.raw_path``,
not ``request.raw_path``, which carries the query), and answers the uniform 403 to every
``TokenRejected``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from signer import Claims, RevocationList, Signer, normalise_path

__all__ = ["SIGNED_ROUTE", "Grant", "authorise", "is_public", "split_signed"]

#: Signed URLs are ``/s/<token>/<path>``; see docs/signed-urls.md.
SIGNED_ROUTE = "/s/"


@dataclass(frozen=True, slots=True)
class Grant:
    """A request the token allows: the decoded path it names and the token's claims."""

    path: str
    claims: Claims


def split_signed(raw_path: str) -> tuple[str, str] | None:
    """Splits ``/s/<token>/<rest>`` into the token and the raw rest; None off the route.

    A path with no "/" after the token gives an empty rest, which ``authorise`` refuses.
    """
    if not raw_path.startswith(SIGNED_ROUTE):
        return None
    token, _, rest = raw_path[len(SIGNED_ROUTE) :].partition("/")
    return token, rest


def authorise(
    signer: Signer,
    token: str,
    raw_rest: str,
    *,
    now: float,
    client_ip: str | None,
    revoked: RevocationList | None,
) -> Grant:
    """Checks ``token`` grants the raw path after it; raises ``TokenRejected`` if not.

    The raw path is normalised first (``..``, ``%2e``, ``%2F``, ``//``, NUL and double
    encoding are refused as OUT_OF_SCOPE), so the scope is compared with exactly the
    path the store will open.
    """
    path = normalise_path(raw_rest)
    claims = signer.verify(token, path, now=now, client_ip=client_ip, revoked=revoked)
    return Grant(path, claims)


def is_public(key: str, prefixes: Iterable[str]) -> bool:
    """Says whether the object ``key`` lies in one of the public folders (each ending "/")."""
    return any(key.startswith(prefix) for prefix in prefixes)
