"""What the answer to a GET or HEAD of a stored object is: status, headers, which bytes.

Both writers of an object's answer use it: the aiohttp adapter (``serve``) and the
plain-HTTP fast path for hits (``delivery.fastpath``), so a rule about ranges,
conditionals or the headers that go with them lives here once. Pure: the request's
headers and the object's metadata in, a value out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .cachestatus import CacheStatus
from .conditional import Serve, Validators, decide, format_http_date
from .errors import RangeNotSatisfiable
from .objectfile import ObjectMeta

__all__ = ["STATUS", "Answer", "answer"]

STATUS = {
    Serve.FULL: 200,
    Serve.PARTIAL: 206,
    Serve.NOT_MODIFIED: 304,
    Serve.PRECONDITION_FAILED: 412,
    Serve.UNSATISFIABLE: 416,
}


@dataclass(slots=True)
class Answer:
    """The answer to one request for an object, before a byte of it is written."""

    status: int
    headers: dict[str, str]
    #: Where the body starts in the object, and how many bytes the headers promise.
    start: int
    length: int
    #: The Content-Length header; None for a 304, which has none.
    content_length: int | None
    #: Whether a body goes with it: a GET of the object or a range of it.
    body: bool


@functools.lru_cache(maxsize=4096)
def _validators(meta: ObjectMeta) -> Validators:
    # Checking an ETag's syntax is not free; a popular episode's is checked once.
    return Validators(meta.etag, meta.last_modified)


def answer(
    method: str,
    meta: ObjectMeta,
    request_headers: Mapping[str, str],
    extra: Mapping[str, str],
    plan: Callable[[int, int], CacheStatus],
) -> Answer:
    """Decide the answer to ``method`` for ``meta``; ``extra`` headers go first.

    ``request_headers`` is looked up case-insensitively (a CIMultiDict); ``plan`` is
    the source's, told the span it is to send, and says how the cache came by it.
    """
    h = request_headers
    decision = decide(
        method,
        size=meta.size,
        validators=_validators(meta),
        range=h.get("Range"),
        if_range=h.get("If-Range"),
        if_match=h.get("If-Match"),
        if_none_match=h.get("If-None-Match"),
        if_modified_since=h.get("If-Modified-Since"),
        if_unmodified_since=h.get("If-Unmodified-Since"),
    )
    headers = dict(extra)
    headers["ETag"] = meta.etag
    headers["Last-Modified"] = format_http_date(meta.last_modified)
    headers["Accept-Ranges"] = "bytes"
    serve = decision.serve
    start, length = 0, 0
    if serve is Serve.FULL:
        length = meta.size
    elif serve is Serve.PARTIAL and decision.byte_range is not None:
        start, length = decision.byte_range.start, decision.byte_range.length
    # https://www.rfc-editor.org/rfc/rfc9211: how this cache came by the response.
    headers["Cache-Status"] = str(plan(start, length if method == "GET" else 0))
    content_length: int | None = 0
    body = False
    if serve is Serve.UNSATISFIABLE:
        headers["Content-Range"] = RangeNotSatisfiable(meta.size).content_range
    elif serve is Serve.FULL or serve is Serve.PARTIAL:
        headers["Content-Type"] = meta.content_type
        if decision.byte_range is not None:
            headers["Content-Range"] = decision.byte_range.content_range(meta.size)
        content_length = length
        body = method == "GET" and length > 0
    elif serve is Serve.NOT_MODIFIED:
        content_length = None
    return Answer(STATUS[serve], headers, start, length, content_length, body)
