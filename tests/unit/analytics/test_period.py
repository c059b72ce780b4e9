"""Reporting periods are UTC days, both ends included."""

from __future__ import annotations

import pytest

from analytics import BadPeriod, Period, utc_day

from .rows import MORNING


def test_utc_day_turns_at_midnight_utc() -> None:
    midnight = MORNING + 17 * 3600
    assert utc_day(midnight - 0.001) == "2026-11-03"
    assert utc_day(midnight) == "2026-11-04"


def test_until_defaults_to_the_day_of_now() -> None:
    period = Period.parse("2026-11-01", None, now=MORNING)
    assert (period.first, period.last) == ("2026-11-01", "2026-11-03")
    assert period.days() == ["2026-11-01", "2026-11-02", "2026-11-03"]


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-11-1", None, "since: expected a day such as 2026-11-01, got '2026-11-1'"),
        ("yesterday", None, "since: expected a day"),
        ("2026-11-01", "2026-13-01", "until: expected a day"),
        ("2026-11-05", "2026-11-01", "until 2026-11-01 is before since 2026-11-05"),
    ],
)
def test_a_period_that_cannot_be_used(since: str, until: str | None, message: str) -> None:
    with pytest.raises(BadPeriod, match=message):
        Period.parse(since, until, now=MORNING)
