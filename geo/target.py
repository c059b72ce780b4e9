"""Where to send a client, and the one way a redirect URL is ever built.

`place_client` turns a client's `Location` into a `Placement`: every region ranked for
it, nearest healthy first. `edge_url` builds `<edge base>/s/<token>/<path>` from a base
out of the configuration, a token the signer minted and a path already checked, and
nothing else, so no request can steer a redirect to another host: the path is
re-encoded, and one that could change the URL's meaning is refused.

Pure: no lookups, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from geo.choice import Ranked, rank
from geo.errors import UnsafePath
from geo.locate import Location
from geo.region import Region
from signer.scope import path_problem

# The signer's tokens are base64url parts joined by "." (docs/signed-urls.md).
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,2048}")


@dataclass(frozen=True, slots=True)
class Placement:
    """A client's location and every region ranked for it, the best choice first."""

    location: Location
    ranking: tuple[Ranked, ...]

    @property
    def target(self) -> Ranked | None:
        """The region to send the client to, or None when no region is healthy."""
        if self.ranking and self.ranking[0].healthy:
            return self.ranking[0]
        return None

    @property
    def healthy(self) -> tuple[Ranked, ...]:
        """The healthy regions, nearest (by effective distance) first."""
        return tuple(entry for entry in self.ranking if entry.healthy)

    def serving(self, holders: Container[str] | None) -> tuple[Ranked, ...]:
        """The healthy regions that hold the file, nearest first.

        ``holders`` None means nobody knows who holds it (no replication state, or a
        key it does not list): every healthy region then counts, as before routing
        knew about replication.
        """
        if holders is None:
            return self.healthy
        return tuple(
            entry for entry in self.ranking if entry.healthy and entry.region.name in holders
        )


def place_client(
    regions: Sequence[Region],
    location: Location,
    healthy: Container[str],
    default: Region,
) -> Placement:
    """Rank every region for a client at `location`.

    A client the database cannot place (kind DEFAULT) is ranked from the default
    region's own point, so it goes to the default region while that is healthy and to
    the default region's nearest healthy neighbour while it is not.
    """
    point = location.point or default.point
    return Placement(location, tuple(rank(regions, point, healthy)))


def edge_url(base: str, token: str, path: str) -> str:
    """`<base>/s/<token>/<path>` with the path percent-encoded; raises `UnsafePath`.

    `base` comes from the configuration (an http(s) URL without a trailing "/",
    query or fragment); `path` is the decoded form `signer.normalise_path` returns.
    Every character of the path outside `A-Z a-z 0-9 - . _ ~ /` is percent-encoded, so
    "@", ":", "\\", "?", "#", CR and LF cannot end the path or start an authority;
    and a path with an empty, "." or ".." segment is refused, so the URL cannot climb
    out of `/s/<token>/` once a client resolves it.
    """
    problem = path_problem(path)
    if problem is not None:
        raise UnsafePath(path, problem)
    if not _TOKEN.fullmatch(token):
        raise UnsafePath(path, "would follow a token that is not one the signer makes")
    return f"{base}/s/{token}/{quote(path, safe='/')}"
