"""Parsing a Range request header into the single byte range castedge will send.

https://www.rfc-editor.org/rfc/rfc9110#section-14

castedge never answers with ``multipart/byteranges``: several ranges that cannot be
merged into one are answered with the whole representation (200), which is always
allowed, because a server may ignore Range.  That closes the amplification attack of
Apache CVE-2011-3192, where thousands of overlapping ranges made one small request cost
gigabytes of output.
https://www.rfc-editor.org/rfc/rfc9110#section-17.15
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import MalformedRange, RangeNotSatisfiable

__all__ = ["COALESCE_GAP", "MAX_RANGES", "ByteRange", "parse_range"]

# More ranges than this in one header are a sign of a broken client or an attack
# (https://www.rfc-editor.org/rfc/rfc9110#section-14.2), and are answered with the whole
# representation without looking at them further.  Players and download managers ask for
# one range; nothing legitimate asks for sixteen.
MAX_RANGES = 16

# Ranges closer than this many bytes are merged into one: the RFC gives ~80 bytes as the
# cost of a part header in multipart/byteranges, so sending the gap is cheaper.
# https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2
COALESCE_GAP = 80

# 19 digits hold any offset up to 10**19 - 1, beyond the 2**63 - 1 of off_t; a longer
# number cannot name a byte of a real file and only costs time to convert.
_MAX_DIGITS = 19

# https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# int-range / suffix-range with ASCII digits only: str.isdigit() and int() would also
# take "²" or "٣".
# https://www.rfc-editor.org/rfc/rfc9110#section-14.1.1
_RANGE_SPEC = re.compile(r"(?P<first>[0-9]*)-(?P<last>[0-9]*)")
# https://www.rfc-editor.org/rfc/rfc9110#section-5.6.3
_OWS = " \t"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One satisfiable byte range of a representation, both ends inclusive as on the wire."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"byte range {self.start}-{self.end} is empty or negative")

    @property
    def length(self) -> int:
        """The number of bytes the range covers: the Content-Length of a 206."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The Content-Range value of a 206 carrying this range of ``size`` bytes."""
        # https://www.rfc-editor.org/rfc/rfc9110#section-14.4
        return f"bytes {self.start}-{self.end}/{size}"


_SIMPLE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{0,19})")


def parse_range(header: str, size: int) -> ByteRange | None:
    """Work out which bytes of a ``size``-byte representation a Range header asks for.

    Returns the single range to send (206), or None when the whole representation
    should be sent (200) although the header parsed: more than ``MAX_RANGES`` ranges, or
    ranges that stay disjoint after merging overlapping, adjacent and nearly adjacent
    ones.  Raises ``MalformedRange`` when the header does not parse (send 200) and
    ``RangeNotSatisfiable`` when it parses but no range overlaps the representation
    (send 416).
    """
    if size < 0:
        raise ValueError(f"representation size {size} is negative")
    simple = _SIMPLE.fullmatch(header)
    if simple is not None:
        # The one form players send (bytes=0-1, bytes=1000-, Spotify's 10 MB steps),
        # answered without the general machinery; the same rules apply.
        first = int(simple[1])
        last = int(simple[2]) if simple[2] else None
        if last is not None and last < first:
            raise MalformedRange(header, f"range {first}-{last} ends before it starts")
        single = _resolve(first, last, size)
        if single is None:
            raise RangeNotSatisfiable(size)
        return single
    unit, equals, range_set = header.strip(_OWS).partition("=")
    if not equals:
        raise MalformedRange(header, "no '=' after the range unit")
    if not _TOKEN.fullmatch(unit):
        raise MalformedRange(header, "the range unit is not a token")
    # Range units are case-insensitive.
    # https://www.rfc-editor.org/rfc/rfc9110#section-14.1
    if unit.lower() != "bytes":
        raise MalformedRange(header, f"range unit {unit!r} is not bytes")

    # range-set = 1#range-spec; a recipient accepts OWS around the commas and skips
    # empty list elements.
    # https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1.2
    elements = (element.strip(_OWS) for element in range_set.split(","))
    specs = [_parse_spec(header, element) for element in elements if element]
    if not specs:
        raise MalformedRange(header, "no range in the range set")
    if len(specs) > MAX_RANGES:
        return None

    # A range set is satisfiable when at least one of its ranges is; the others are
    # dropped.
    # https://www.rfc-editor.org/rfc/rfc9110#section-14.1.1
    satisfiable = [r for first, last in specs if (r := _resolve(first, last, size)) is not None]
    if not satisfiable:
        raise RangeNotSatisfiable(size)
    merged = _coalesce(satisfiable)
    return merged[0] if len(merged) == 1 else None


def _parse_spec(header: str, spec: str) -> tuple[int | None, int | None]:
    """Split one range-spec into (first-pos, last-pos); first-pos None means a suffix."""
    match = _RANGE_SPEC.fullmatch(spec)
    if match is None:
        raise MalformedRange(header, f"{spec!r} is neither first-last, first- nor -suffix")
    first_text, last_text = match["first"], match["last"]
    if not first_text and not last_text:
        raise MalformedRange(header, "a range with neither first nor last position")
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
        raise MalformedRange(header, f"a position longer than {_MAX_DIGITS} digits")
    first = int(first_text) if first_text else None
    last = int(last_text) if last_text else None
    if first is not None and last is not None and last < first:
        raise MalformedRange(header, f"range {first}-{last} ends before it starts")
    return first, last


def _resolve(first: int | None, last: int | None, size: int) -> ByteRange | None:
    """Place one parsed range-spec on a representation of ``size`` bytes, or None."""
    # A zero-length representation has no byte a 206 could carry ("bytes 0--1/0" is
    # not a Content-Range), so every range on it is unsatisfiable.
    if size == 0:
        return None
    if first is None:
        # Suffix: the last `last` bytes, all of them if the representation is shorter.
        # "-0" asks for nothing and is unsatisfiable.
        # https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2
        if not last:
            return None
        return ByteRange(max(0, size - last), size - 1)
    if first >= size:
        return None
    # A last-pos at or past the end means "to the end".
    # https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Merge overlapping, adjacent and nearly adjacent ranges, in order of start."""
    # https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2
    ordered = sorted(ranges, key=lambda r: r.start)
    merged = [ordered[0]]
    for r in ordered[1:]:
        current = merged[-1]
        if r.start - (current.end + 1) < COALESCE_GAP:
            merged[-1] = ByteRange(current.start, max(current.end, r.end))
        else:
            merged.append(r)
    return merged
