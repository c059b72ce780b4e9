"""Reading castedge's member of a response's Cache-Status header (RFC 9211)."""

from __future__ import annotations

from delivery.cachestatus import parse_cache_status


def member(header: str) -> dict[str, bool | int | str]:
    """The parameters of the one ``castedge`` member of ``header``."""
    [(cache, params)] = parse_cache_status(header)
    assert cache == "castedge"
    return params
