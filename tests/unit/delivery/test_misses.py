"""The pure parts of the scanner defences: the per-address miss budget and the key listing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.misses import KeyListing, MissLimiter


def test_a_burst_is_admitted_then_the_rate() -> None:
    limiter = MissLimiter(rate=2, burst=3)
    assert [limiter.admit("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a", 0.0) == 1
    assert limiter.admit("a", 0.5) is True, "one token back after half a second at 2/s"
    assert limiter.admit("a", 0.5) is False


def test_addresses_have_their_own_budgets() -> None:
    limiter = MissLimiter(rate=1, burst=1)
    assert limiter.admit("scanner", 0.0)
    assert not limiter.admit("scanner", 0.1)
    assert limiter.admit("listener", 0.1)


def test_an_idle_address_refills_only_to_the_burst() -> None:
    limiter = MissLimiter(rate=10, burst=5)
    assert sum(limiter.admit("a", 3600.0) for _ in range(10)) == 5


def test_the_least_recently_seen_addresses_are_forgotten_first() -> None:
    limiter = MissLimiter(rate=0.001, burst=1, max_addresses=2)
    for address in ("a", "b", "c"):
        assert limiter.admit(address, 0.0)
    # "a" was forgotten, so it starts with a full budget again; "c" was not.
    assert limiter.admit("a", 0.0)
    assert not limiter.admit("c", 0.0)


def test_retry_after_says_when_the_next_token_comes() -> None:
    limiter = MissLimiter(rate=0.25, burst=1)
    assert limiter.admit("a", 0.0)
    assert limiter.retry_after("a", 0.0) == 4
    assert limiter.retry_after("a", 3.5) == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsense_budgets_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be above 0"):
        MissLimiter(rate, burst)


@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    times=st.lists(st.floats(0, 100), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, times: list[float]
) -> None:
    limiter = MissLimiter(rate, burst)
    moments = sorted(times)
    admitted = sum(limiter.admit("a", t) for t in moments)
    assert admitted <= burst + rate * (moments[-1] - moments[0]) + 1e-9


def test_a_listing_knows_nothing_until_it_is_made() -> None:
    listing = KeyListing(max_age=60)
    assert listing.holds("podcast/ep-1.mp3", 0.0) is None
    listing.replace(["podcast/ep-1.mp3"], 10.0)
    assert listing.holds("podcast/ep-1.mp3", 11.0) is True
    assert listing.holds("wp-login.php", 11.0) is False


def test_a_listing_too_old_knows_nothing_again() -> None:
    listing = KeyListing(max_age=60)
    listing.replace(["a"], 0.0)
    assert listing.holds("b", 60.0) is False
    assert listing.holds("b", 60.5) is None


def test_keys_added_since_the_listing_are_held_until_the_next() -> None:
    listing = KeyListing(max_age=60)
    listing.replace([], 0.0)
    listing.add("podcast/new.mp3")
    assert listing.holds("podcast/new.mp3", 1.0) is True
    assert listing.size == 1
    listing.discard("podcast/new.mp3")
    assert listing.holds("podcast/new.mp3", 1.0) is False
    listing.add("podcast/new.mp3")
    listing.replace(["other"], 2.0)
    assert listing.holds("podcast/new.mp3", 2.0) is False


def test_a_listing_of_some_folders_knows_nothing_of_keys_outside_them() -> None:
    listing = KeyListing(max_age=60)
    listing.replace(["podcast/ep-1.mp3"], 0.0, ("podcast/",))
    assert listing.holds("podcast/ep-1.mp3", 1.0) is True
    assert listing.holds("podcast/ep-2.mp3", 1.0) is False
    assert listing.holds("courses/intro.mp4", 1.0) is None
    # A state file written before the daemon recorded its folders covers none.
    listing.replace(["podcast/ep-1.mp3"], 2.0, ())
    assert listing.holds("podcast/ep-2.mp3", 3.0) is None
    assert listing.fresh(3.0)
    assert not listing.fresh(62.5)
