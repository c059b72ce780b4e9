"""The ``Cache-Status`` response header (RFC 9211): how this cache handled a request.

Its value is a Structured Fields List (RFC 8941) with one member per cache; ours is the
token ``castedge`` with parameters:

- ``hit``: answered from the disk store without asking storage;
- ``fwd=miss``: the object was not on disk, so the request went forward to storage;
- ``fwd-status=404``: what storage answered, when that is what the client gets;
- ``stored``: the object is being written to the store as it is sent;
- ``collapsed``: this request shared a fetch another request started (true), or
  found one but had to make its own (``collapsed=?0``);
- ``detail``: why a miss was not stored (``too-large``, ``no-space``,
  ``disk-failed``), or that a 404 came from a remembered one (``negative``).

https://www.rfc-editor.org/rfc/rfc9211#section-2 — and, as its section 2 says, answers
a cache makes up itself (a redirect, a maintenance page, a 503 or 504 when storage
fails, a 400) carry no member at all.

Pure: values in, a header string out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["CACHE_ID", "HIT", "MISS", "NEGATIVE", "CacheStatus", "parse_cache_status"]

#: This cache's identifier in the list (RFC 9211 section 2: a String or a Token).
CACHE_ID = "castedge"

# https://www.rfc-editor.org/rfc/rfc8941#section-3.3.4 (sf-token)
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")


@dataclass(frozen=True, slots=True)
class CacheStatus:
    """One cache's member of ``Cache-Status``; ``str()`` is the header value."""

    hit: bool = False
    fwd: str | None = None
    fwd_status: int | None = None
    stored: bool = False
    #: True: joined a fetch in flight; False: found one and could not use it; None: neither.
    collapsed: bool | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        # https://www.rfc-editor.org/rfc/rfc9211#section-2.2: hit and fwd exclude each other.
        if self.hit and self.fwd is not None:
            raise ValueError("a request is either a hit or forwarded, not both")
        for name in ("fwd", "detail"):
            value = getattr(self, name)
            if value is not None and not _TOKEN.fullmatch(value):
                raise ValueError(f"{name} must be a structured-field token, got {value!r}")

    def joined(self, collapsed: bool | None) -> CacheStatus:
        """The same, for a request that joined a fetch (True) or could not (False)."""
        return replace(self, collapsed=collapsed)

    def __str__(self) -> str:
        parts = [CACHE_ID]
        if self.hit:
            parts.append("hit")
        if self.fwd is not None:
            parts.append(f"fwd={self.fwd}")
        if self.fwd_status is not None:
            parts.append(f"fwd-status={self.fwd_status}")
        if self.stored:
            parts.append("stored")
        if self.collapsed is True:
            parts.append("collapsed")
        elif self.collapsed is False:
            parts.append("collapsed=?0")
        if self.detail is not None:
            parts.append(f"detail={self.detail}")
        return "; ".join(parts)


HIT = CacheStatus(hit=True)
NEGATIVE = CacheStatus(hit=True, detail="negative")
MISS = CacheStatus(fwd="miss")


def parse_cache_status(value: str) -> list[tuple[str, dict[str, bool | int | str]]]:
    """Each member of a Cache-Status value: (cache id, its parameters); for tests and tools.

    Reads the subset of RFC 8941 these members use: tokens, booleans, integers and
    tokens as parameter values. Raises ValueError on anything else.
    """
    members: list[tuple[str, dict[str, bool | int | str]]] = []
    for raw in value.split(","):
        name, *params = (p.strip() for p in raw.split(";"))
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"not a cache identifier: {name!r}")
        found: dict[str, bool | int | str] = {}
        for param in params:
            key, eq, val = param.partition("=")
            if not re.fullmatch(r"[a-z*][a-z0-9_\-.*]*", key) or key in found:
                raise ValueError(f"bad parameter {param!r}")
            if not eq:
                found[key] = True
            elif val in ("?0", "?1"):
                found[key] = val == "?1"
            elif re.fullmatch(r"-?[0-9]{1,15}", val):
                found[key] = int(val)
            elif _TOKEN.fullmatch(val):
                found[key] = val
            else:
                raise ValueError(f"bad value in {param!r}")
        members.append((name, found))
    return members
