"""The union of byte ranges: how many distinct bytes a listener was sent.

A player that resumes, seeks back or asks for overlapping ranges is sent some bytes
more than once; a download is measured by the bytes it received at least once (IAB
v2.2, Step 1.3: "Determining whether the requests cover the 1-minute requirement
might require reassembling requests"). Spans are half-open, ``[start, stop)``.

Pure: numbers in, a number out.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Span", "covered"]

Span = tuple[int, int]


def covered(spans: Iterable[Span], low: int = 0, high: int | None = None) -> int:
    """Bytes of ``[low, high)`` that lie in at least one span (``high`` None: no upper end)."""
    clipped = sorted(
        (max(start, low), stop if high is None else min(stop, high)) for start, stop in spans
    )
    total = 0
    reach = low
    for start, stop in clipped:
        begin = max(start, reach)
        if stop <= begin:
            continue
        total += stop - begin
        reach = stop
    return total
