"""Errors the delivery engine raises, each with the HTTP status a handler should answer.

The tree::

    DeliveryError                  base of everything this package raises
    ├── MalformedRange         200 Range is ignored, the whole representation is served
    ├── RangeNotSatisfiable    416 no range fits; carries .size for "bytes */size"
    ├── BadKey                 400 the request path does not name an object; carries .reason
    ├── CorruptObject          500 a cache file's header is unreadable (the store drops it)
    ├── TooManyMisses          429 a client address sent too many misses; carries .retry_after
    └── UpstreamError          502 the upstream failed in a way retrying did not mend
        ├── ObjectNotFound     404 the upstream has no such object
        ├── UpstreamUnavailable 503 the upstream cannot be reached; carries .retry_after
        │   └── UpstreamTimeout 504 ... within upstream.fill_deadline; carries .seconds
        ├── UpstreamChanged    502 the object changed while it was being read (ETag moved)
        └── FillFailed         502 a fill could not complete; carries .reason
            └── DiskFailed     502 ... because the local disk failed (waiters fall back to S3)

``status_hint`` is advice to the adapter that turns an error into a response, in the
manner of h11's ``error_status_hint``; the pure cores never build responses themselves.
A new kind of failure gets its own subclass here, a line in the tree above and its own
``status_hint``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadKey",
    "CorruptObject",
    "DeliveryError",
    "DiskFailed",
    "FillFailed",
    "MalformedRange",
    "ObjectNotFound",
    "RangeNotSatisfiable",
    "TooManyMisses",
    "UpstreamChanged",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class DeliveryError(Exception):
    """Base class for every error the delivery engine raises."""

    status_hint: ClassVar[int] = 500


class MalformedRange(DeliveryError):
    """Signals a Range header that does not parse, so the full representation is served.

    A server may ignore a Range it cannot parse and answer 200 with everything.
    https://www.rfc-editor.org/rfc/rfc9110#section-14.2
    """

    status_hint: ClassVar[int] = 200

    def __init__(self, header: str, reason: str) -> None:
        self.header = header
        self.reason = reason
        shown = header if len(header) <= 80 else header[:77] + "..."
        super().__init__(f"malformed Range {shown!r}: {reason}")


class RangeNotSatisfiable(DeliveryError):
    """Signals a well-formed Range of which no part lies inside a representation of ``size``.

    The answer is 416 with ``Content-Range: bytes */size``.
    https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
    """

    status_hint: ClassVar[int] = 416

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"no requested range overlaps the {size} bytes of the object")

    @property
    def content_range(self) -> str:
        """The Content-Range value a 416 response carries."""
        # https://www.rfc-editor.org/rfc/rfc9110#section-14.4
        return f"bytes */{self.size}"


class BadKey(DeliveryError):
    """Signals a request path that cannot name an object (traversal, bad escapes, too long)."""

    status_hint: ClassVar[int] = 400

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"bad object key: {reason}")


class CorruptObject(DeliveryError):
    """Signals a cache file whose header cannot be trusted; the store removes it."""

    status_hint: ClassVar[int] = 500


class UpstreamError(DeliveryError):
    """Signals an upstream (S3 or a directory) failure that retrying did not mend.

    botocore and aiohttp client errors are converted into this tree where they enter
    our code (the ``upstream`` module), so nothing above it sees them.
    """

    status_hint: ClassVar[int] = 502


class ObjectNotFound(UpstreamError):
    """Signals that the upstream has no object under the key."""

    status_hint: ClassVar[int] = 404

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no object {key!r} upstream")


class TooManyMisses(DeliveryError):
    """Signals a client address past ``upstream.max_miss_rate``: a scanner, most likely."""

    status_hint: ClassVar[int] = 429

    def __init__(self, address: str, *, retry_after: int = 1) -> None:
        self.address = address
        self.retry_after = retry_after
        super().__init__(f"too many misses from {address}; retry in {retry_after} s")


class UpstreamUnavailable(UpstreamError):
    """Signals that the upstream could not be reached after every retry."""

    status_hint: ClassVar[int] = 503

    def __init__(self, detail: str, *, retry_after: int = 10) -> None:
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"upstream unavailable: {detail}")


class UpstreamTimeout(UpstreamUnavailable):
    """Signals a fetch that spent its whole ``upstream.fill_deadline`` waiting on storage.

    A gateway that got no timely answer from the server it needed says 504.
    https://www.rfc-editor.org/rfc/rfc9110#section-15.6.5
    """

    status_hint: ClassVar[int] = 504

    def __init__(self, detail: str, *, seconds: float, retry_after: int = 10) -> None:
        self.seconds = seconds
        #: What was being fetched, as given (``detail`` adds the deadline).
        self.what = detail
        super().__init__(
            f"{detail}: no answer within the fill deadline of {seconds:g} s",
            retry_after=retry_after,
        )


class UpstreamChanged(UpstreamError):
    """Signals that the object was replaced upstream while we were reading it."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"object {key!r} changed upstream during the transfer")


class FillFailed(UpstreamError):
    """Signals a fill that ended without a complete, verified object."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"fill of {key!r} failed: {reason}")


class DiskFailed(FillFailed):
    """Signals a fill stopped by the local disk (full, read-only, failing), not the upstream."""
