"""The rise/fall health state machine and the board of all regions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import GeoError, HealthBoard, HealthState, InvalidSetting, UnknownRegion


def run(state: HealthState, results: str) -> list[bool]:
    """Feed '+' (probe passed), '-' (probe failed) and 'x' (passive failure) in order."""
    flips = []
    for result in results:
        if result == "x":
            flips.append(state.mark_failed())
        else:
            flips.append(state.record(result == "+"))
    return flips


def test_starts_healthy() -> None:
    assert HealthState().healthy


@pytest.mark.parametrize(
    ("results", "healthy", "flips_at"),
    [
        ("--", True, []),
        ("---", False, [2]),
        ("----", False, [2]),
        ("--+--", True, []),  # a success breaks the failure streak
        ("---+", False, [2]),  # one success is not enough to rise
        ("---++", True, [2, 4]),
        ("---+-+", False, [2]),  # a failure breaks the success streak
        ("---+-++", True, [2, 6]),
        ("-x-", False, [2]),  # passive failures count like failed probes
        ("xxx", False, [2]),
        ("---++---++", True, [2, 4, 7, 9]),
    ],
)
def test_rise_two_fall_three(results: str, healthy: bool, flips_at: list[int]) -> None:
    state = HealthState(rise=2, fall=3)
    flips = run(state, results)
    assert state.healthy is healthy
    assert [i for i, flipped in enumerate(flips) if flipped] == flips_at


def test_rise_and_fall_of_one_follow_every_result() -> None:
    state = HealthState(rise=1, fall=1)
    assert run(state, "-+-+") == [True, True, True, True]


@pytest.mark.parametrize("field", ["rise", "fall"])
@pytest.mark.parametrize("value", [0, -1])
def test_thresholds_below_one_are_rejected(field: str, value: int) -> None:
    with pytest.raises(InvalidSetting, match=field):
        HealthState(rise=value) if field == "rise" else HealthState(fall=value)


@given(
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=5),
    st.text(alphabet="+-x", max_size=30),
)
def test_flips_are_reported_and_streaks_decide_whatever_came_before(
    rise: int, fall: int, history: str
) -> None:
    state = HealthState(rise=rise, fall=fall)
    for result in history:
        before = state.healthy
        (flipped,) = run(state, result)
        assert flipped == (state.healthy != before)

    run(state, "-" * fall)
    assert not state.healthy
    run(state, "+" * rise)
    assert state.healthy


def test_board_tracks_each_region_separately() -> None:
    board = HealthBoard(["us-east", "eu-west", "ap-south"], rise=2, fall=2)
    assert board.healthy_names() == {"us-east", "eu-west", "ap-south"}
    assert not board.record("eu-west", False)
    assert board.mark_failed("eu-west")
    assert board.healthy_names() == {"us-east", "ap-south"}
    assert not board.record("eu-west", True)
    assert board.record("eu-west", True)
    assert board.healthy_names() == {"us-east", "eu-west", "ap-south"}
    assert list(board.states()) == ["us-east", "eu-west", "ap-south"]
    assert board.state("eu-west").successes == 2


def test_board_rejects_unknown_region_names() -> None:
    board = HealthBoard(["us-east"])
    with pytest.raises(UnknownRegion, match="no region named 'mars'") as caught:
        board.record("mars", True)
    assert isinstance(caught.value, GeoError)
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownRegion):
        board.mark_failed("mars")
