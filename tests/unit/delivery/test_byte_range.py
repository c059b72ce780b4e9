"""Range header parsing: RFC 9110 section 14, one range out, never multipart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.byte_range import COALESCE_GAP, MAX_RANGES, ByteRange, parse_range
from delivery.errors import MalformedRange, RangeNotSatisfiable

FAST = settings(max_examples=300, deadline=None)
SIZE = 1000


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-1", 0, 1),
        ("bytes=0-0", 0, 0),
        ("bytes=0-999", 0, 999),
        ("bytes=999-999", 999, 999),
        ("bytes=500-", 500, 999),
        ("bytes=0-", 0, 999),
        ("bytes=-500", 500, 999),
        ("bytes=-1", 999, 999),
        ("bytes=-1000", 0, 999),
        ("bytes=-5000", 0, 999),  # suffix longer than the object: all of it
        ("bytes=900-5000", 900, 999),  # last-pos past the end is clamped
        ("bytes=900-9999999999999999999", 900, 999),  # 19 digits still parse
        ("bytes=0000000000000000010-20", 10, 20),  # leading zeros count as digits
        ("BYTES=0-1", 0, 1),  # the unit is case-insensitive
        ("Bytes=0-1", 0, 1),
        ("  bytes=0-1\t", 0, 1),  # OWS around the field value
        ("bytes= 0-1", 0, 1),
        ("bytes=0-1 ,", 0, 1),  # empty list elements are skipped
        ("bytes=,0-1", 0, 1),
        ("bytes=0-1, ,\t,", 0, 1),
        # Several ranges that coalesce into one.
        ("bytes=0-1,2-3", 0, 3),  # adjacent
        ("bytes=0-10,5-20", 0, 20),  # overlapping
        ("bytes=5-20, 0-10", 0, 20),  # out of order
        ("bytes=0-0,0-0,0-0", 0, 0),  # repeated
        ("bytes=0-9,89-99", 0, 99),  # gap of 79 bytes: cheaper to send than a part header
        ("bytes=-100,0-", 0, 999),
        ("bytes=0-1,5000-6000", 0, 1),  # the unsatisfiable range is dropped
        ("bytes=5000-,-0,10-20", 10, 20),
    ],
)
def test_satisfiable_ranges(header: str, start: int, end: int) -> None:
    assert parse_range(header, SIZE) == ByteRange(start, end)


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-9,90-99",  # gap of exactly 80 bytes stays two ranges
        "bytes=0-1,500-501",
        "bytes=0-1,500-501,998-",
        "bytes=-1,0-0",  # first and last byte
        # More than MAX_RANGES ranges, even though they would coalesce.
        "bytes=" + ",".join(["0-1"] * (MAX_RANGES + 1)),
        "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES + 1)),
    ],
)
def test_ranges_that_stay_disjoint_or_are_too_many_get_the_whole_object(header: str) -> None:
    assert parse_range(header, SIZE) is None


def test_exactly_max_ranges_is_still_considered() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(MAX_RANGES))
    assert parse_range(header, SIZE) == ByteRange(0, MAX_RANGES - 1)


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        "bytes",
        "bytes=",
        "bytes= ",
        "bytes=,",
        "=0-1",
        "bytes 0-1",
        "bytes:0-1",
        "bytes =0-1",  # no whitespace before "="
        "items=0-1",  # a unit we do not serve
        "none=0-1",
        "bytes=-",
        "bytes=1-0",  # last before first
        "bytes=10-9",
        "bytes=--1",
        "bytes=-1-2",
        "bytes=+1-2",
        "bytes=1-+2",
        "bytes=0x10-20",
        "bytes=1.5-2",
        "bytes=0 -1",  # no whitespace inside a range
        "bytes=0- 1",
        "bytes=0-1;2-3",
        "bytes=0-1 2-3",
        "bytes=0-1,x",  # one bad range spoils the set
        "bytes=0-1,1-0",
        "bytes=1-2-3",
        "bytes=10000000000000000000-",  # 20 digits
        "bytes=0-10000000000000000000",
        "bytes=-10000000000000000000",
        "bytes=٣-٤",  # Arabic-Indic digits are not DIGIT
        "bytes=²-³",
        "bytes=0-1\r\n",
        "bytes=0-1\x00",
    ],
)
def test_malformed_headers_raise_malformed_range(header: str) -> None:
    with pytest.raises(MalformedRange):
        parse_range(header, SIZE)


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", SIZE),  # first-pos == size
        ("bytes=1000-2000", SIZE),
        ("bytes=5000-6000", SIZE),
        ("bytes=-0", SIZE),  # a zero-length suffix
        ("bytes=1000-,-0", SIZE),
        ("bytes=0-0", 0),  # nothing on an empty object can be sent
        ("bytes=0-", 0),
        ("bytes=-1", 0),
    ],
)
def test_well_formed_but_unsatisfiable_raises_with_the_size(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.size == size


def test_too_many_ranges_is_not_unsatisfiable_but_served_whole() -> None:
    header = "bytes=" + ",".join(["5000-"] * (MAX_RANGES + 1))
    assert parse_range(header, SIZE) is None


def test_malformed_wins_over_too_many() -> None:
    header = "bytes=" + ",".join(["0-1"] * (MAX_RANGES + 1)) + ",junk"
    with pytest.raises(MalformedRange):
        parse_range(header, SIZE)


def test_byte_range_length_and_content_range() -> None:
    r = ByteRange(0, 1)
    assert r.length == 2
    assert r.content_range(1000) == "bytes 0-1/1000"
    assert ByteRange(500, 999).content_range(1000) == "bytes 500-999/1000"
    assert ByteRange(7, 7).length == 1


@pytest.mark.parametrize(("start", "end"), [(-1, 0), (5, 4), (-3, -1)])
def test_byte_range_refuses_empty_or_negative_ranges(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        ByteRange(start, end)


_rangeish = st.text(alphabet="bytesBYTES=0123456789-, \t+x", max_size=40)
_structured = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 10**13).map(str)),
        st.one_of(st.none(), st.integers(0, 10**13).map(str)),
    ),
    min_size=0,
    max_size=20,
).map(lambda specs: "bytes=" + ",".join(f"{a or ''}-{b or ''}" for a, b in specs))
_headers = st.one_of(st.text(max_size=60), _rangeish, _structured)


@FAST
@given(header=_headers, size=st.integers(0, 10**12))
def test_any_header_parses_in_bounds_or_raises_one_of_our_two_errors(
    header: str, size: int
) -> None:
    try:
        result = parse_range(header, size)
    except (MalformedRange, RangeNotSatisfiable):
        return
    assert result is None or 0 <= result.start <= result.end < size


@FAST
@given(data=st.data(), size=st.integers(1, 10**12))
def test_a_valid_single_range_comes_back_as_asked(data: st.DataObject, size: int) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    assert parse_range(f"bytes={start}-{end}", size) == ByteRange(start, end)
    assert parse_range(f"bytes={start}-", size) == ByteRange(start, size - 1)
    suffix = size - start
    assert parse_range(f"bytes=-{suffix}", size) == ByteRange(start, size - 1)


@FAST
@given(
    size=st.integers(1, 10**6),
    specs=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=MAX_RANGES
    ),
)
def test_a_coalesced_range_covers_every_request_and_never_amplifies(
    size: int, specs: list[tuple[int, int]]
) -> None:
    pairs = [(min(a, b), max(a, b)) for a, b in specs]
    header = "bytes=" + ", ".join(f"{a}-{b}" for a, b in pairs)
    satisfiable = [(a, min(b, size - 1)) for a, b in pairs if a < size]
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        assert not satisfiable
        return
    assert satisfiable
    if result is None:
        return
    assert all(result.start <= a and b <= result.end for a, b in satisfiable)
    # The one range sent is at most the requested bytes plus the small gaps merged.
    requested = sum(b - a + 1 for a, b in satisfiable)
    assert result.length <= requested + COALESCE_GAP * (len(satisfiable) - 1)
