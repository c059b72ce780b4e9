"""Every byte a listener was sent counts once, however the ranges overlap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import covered


@pytest.mark.parametrize(
    ("spans", "low", "high", "bytes_"),
    [
        ([], 0, None, 0),
        ([(0, 10)], 0, None, 10),
        ([(0, 10), (5, 15)], 0, None, 15),  # a resume that overlaps
        ([(0, 10), (10, 20)], 0, None, 20),  # back to back
        ([(0, 10), (0, 10)], 0, None, 10),  # the same range twice
        ([(20, 30), (0, 10)], 0, None, 20),  # in any order
        ([(0, 100)], 40, None, 60),  # only what follows the tag
        ([(0, 100)], 40, 50, 10),
        ([(5, 5), (9, 3)], 0, None, 0),  # empty spans
        ([(0, 50), (10, 20), (30, 40)], 0, None, 50),  # nested
    ],
)
def test_covered(spans: list[tuple[int, int]], low: int, high: int | None, bytes_: int) -> None:
    assert covered(spans, low, high) == bytes_


spans = st.lists(
    st.tuples(st.integers(0, 500), st.integers(0, 200)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=20,
)


@given(spans, st.integers(0, 300), st.integers(0, 800))
def test_covered_is_the_number_of_distinct_bytes(
    found: list[tuple[int, int]], low: int, high: int
) -> None:
    distinct = {b for start, stop in found for b in range(start, stop) if low <= b < high}
    assert covered(found, low, high) == len(distinct)
