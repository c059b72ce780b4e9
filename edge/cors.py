"""CORS for browser players: which origins may read responses, and preflight answers.

Pure: header values from the configured origins and the request's own headers.
https://fetch.spec.whatwg.org/#http-cors-protocol
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["ALLOWED_METHODS", "EXPOSED_HEADERS", "CorsPolicy"]

#: A player reading a range must see how long the object is and where the bytes lie,
#: and a page showing where it plays from reads the region; these are not among the
#: CORS-safelisted response headers, so they are exposed.
#: https://fetch.spec.whatwg.org/#cors-safelisted-response-header-name
EXPOSED_HEADERS = "Content-Range, Content-Length, Accept-Ranges, X-Castedge-Region"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
#: Request headers a player may send beyond the safelisted ones: ranges (a Range with
#: several ranges, or a suffix, is not safelisted) and conditionals.
ALLOWED_REQUEST_HEADERS = frozenset(
    {"range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"}
)
#: How long a browser may reuse a preflight: Chromium caps it at 2 hours, Firefox at 24.
PREFLIGHT_MAX_AGE = 7200


class CorsPolicy:
    """The configured origins (``"*"`` for any), turned into response headers."""

    __slots__ = ("_any", "_origins")

    def __init__(self, origins: Iterable[str]) -> None:
        self._origins = frozenset(origins)
        self._any = "*" in self._origins

    @property
    def enabled(self) -> bool:
        """Whether any origin is allowed at all; without one no CORS header is sent."""
        return bool(self._origins)

    def allows(self, origin: str | None) -> bool:
        """Says whether a page from ``origin`` may read responses."""
        return self._allow_origin(origin) is not None

    def _allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for ``origin``, or None when refused."""
        if origin is None:
            return None
        if self._any:
            return "*"
        return origin if origin in self._origins else None

    def headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers for an actual (non-preflight) response to ``origin``."""
        if not self._origins:
            return {}
        # With a list, the answer depends on Origin: a cache must key on it.
        headers = {} if self._any else {"Vary": "Origin"}
        allowed = self._allow_origin(origin)
        if allowed is not None:
            headers["Access-Control-Allow-Origin"] = allowed
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return headers

    def preflight(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        """The headers of a 204 answer to ``OPTIONS``: a preflight's grant, or just Allow.

        A refused preflight gets no ``Access-Control-Allow-*`` header, which is how a
        browser learns it may not send the request.
        """
        answer = {"Allow": ALLOWED_METHODS}
        allowed = self._allow_origin(request_headers.get("Origin"))
        method = request_headers.get("Access-Control-Request-Method")
        if method is None or allowed is None:
            if self._origins and not self._any:
                answer["Vary"] = "Origin"
            return answer
        if method not in ("GET", "HEAD"):
            return answer
        wanted = [
            name.strip().lower()
            for name in request_headers.get("Access-Control-Request-Headers", "").split(",")
            if name.strip()
        ]
        if any(name not in ALLOWED_REQUEST_HEADERS for name in wanted):
            return answer
        answer["Access-Control-Allow-Origin"] = allowed
        answer["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        if wanted:
            answer["Access-Control-Allow-Headers"] = ", ".join(wanted)
        answer["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        answer["Vary"] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        return answer
