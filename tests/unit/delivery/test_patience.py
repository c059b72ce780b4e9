"""A fetch's patience: every wait charged to one budget, whatever the retries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from delivery.patience import Patience


def test_waits_are_charged_until_the_budget_is_spent() -> None:
    patience = Patience(60.0)
    assert patience.left() == 60.0
    patience.lose(30.0)  # an attempt that timed out after read_timeout
    assert patience.left() == 30.0
    assert patience.left(waiting=10.0) == 20.0  # a wait still under way counts too
    assert not patience.exhausted
    patience.lose(30.0)
    assert patience.exhausted
    assert "60 s" in repr(patience)


def test_a_wait_the_budget_cut_off_spends_it_all() -> None:
    patience = Patience(1.0)
    patience.lose(0.9999)  # measured a hair short of the timer that fired
    assert not patience.exhausted
    patience.exhaust()
    assert patience.exhausted and patience.left() == 0.0
    patience.lose(1.0)
    patience.exhaust()  # never gives back what was charged beyond the limit
    assert patience.left() == -1.0


def test_a_negative_wait_charges_nothing() -> None:
    patience = Patience(5.0)
    patience.lose(-1.0)
    assert patience.left() == 5.0


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=20))
def test_what_is_left_is_the_limit_less_every_wait(waits: list[float]) -> None:
    patience = Patience(60.0)
    for wait in waits:
        patience.lose(wait)
    assert abs(patience.left() - (60.0 - sum(waits))) < 1e-6
    assert patience.exhausted == (patience.left() <= 0)
