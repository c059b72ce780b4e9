"""Region choice: nearest healthy by effective distance, with a stable fallback order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import DEFAULT_REGIONS, Ranked, Region, choose, rank

ALL = frozenset(r.name for r in DEFAULT_REGIONS)
LONDON = (51.5074, -0.1278)
CHICAGO = (41.8781, -87.6298)


def names(ranked: list[Ranked]) -> list[str]:
    return [entry.region.name for entry in ranked]


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        (LONDON, "eu-west"),
        ((48.1351, 11.5820), "eu-central"),  # Munich
        (CHICAGO, "us-east"),
        ((37.7749, -122.4194), "us-west"),  # San Francisco
        ((-34.6037, -58.3816), "sa-east"),  # Buenos Aires
        ((28.6139, 77.2090), "ap-south"),  # Delhi
        ((37.5665, 126.9780), "ap-northeast"),  # Seoul
        ((-36.8485, 174.7633), "ap-southeast"),  # Auckland
    ],
)
def test_nearest_region_when_all_are_healthy(point: tuple[float, float], expected: str) -> None:
    chosen = choose(DEFAULT_REGIONS, point, ALL)
    assert chosen is not None
    assert chosen.name == expected


def test_an_unhealthy_region_is_skipped_but_ranked_last() -> None:
    ranked = rank(DEFAULT_REGIONS, LONDON, ALL - {"eu-west"})
    assert names(ranked)[0] == "eu-central"
    assert names(ranked)[-1] == "eu-west"
    assert not ranked[-1].healthy
    assert all(entry.healthy for entry in ranked[:-1])
    chosen = choose(DEFAULT_REGIONS, LONDON, ALL - {"eu-west"})
    assert chosen is not None
    assert chosen.name == "eu-central"


def test_healthy_regions_then_unhealthy_each_by_distance() -> None:
    healthy = {"ap-southeast", "sa-east"}
    ranked = rank(DEFAULT_REGIONS, LONDON, healthy)
    assert names(ranked)[:2] == ["sa-east", "ap-southeast"]
    assert names(ranked)[2:5] == ["eu-west", "eu-central", "us-east"]
    rest = [entry.distance_km for entry in ranked[2:]]
    assert rest == sorted(rest)


def test_no_healthy_region_chooses_none_but_still_ranks_all() -> None:
    assert choose(DEFAULT_REGIONS, LONDON, set()) is None
    ranked = rank(DEFAULT_REGIONS, LONDON, set())
    assert names(ranked)[0] == "eu-west"
    assert len(ranked) == len(DEFAULT_REGIONS)
    assert choose([], LONDON, ALL) is None
    assert rank([], LONDON, ALL) == []


def test_weight_above_one_attracts_and_below_one_repels() -> None:
    london, frankfurt = DEFAULT_REGIONS[3], DEFAULT_REGIONS[4]
    # From Paris, London is 344 km and Frankfurt 478 km away.
    paris = (48.8566, 2.3522)
    drawn = [london, Region("eu-central", frankfurt.latitude, frankfurt.longitude, "u", 1.5)]
    pushed = [Region("eu-west", london.latitude, london.longitude, "u", 0.5), frankfurt]
    plain = [london, frankfurt]
    both = {"eu-west", "eu-central"}
    assert names(rank(plain, paris, both)) == ["eu-west", "eu-central"]
    assert names(rank(drawn, paris, both)) == ["eu-central", "eu-west"]
    assert names(rank(pushed, paris, both)) == ["eu-central", "eu-west"]
    ranked = rank(drawn, paris, both)
    assert ranked[0].effective_km == pytest.approx(ranked[0].distance_km / 1.5)


def test_exact_ties_go_to_the_region_listed_first() -> None:
    a = Region("a", 10.0, 10.0, "https://a.example")
    b = Region("b", 10.0, 10.0, "https://b.example")
    assert choose([a, b], (0.0, 0.0), {"a", "b"}) == a
    assert choose([b, a], (0.0, 0.0), {"a", "b"}) == b


@st.composite
def catalogues(draw: st.DrawFn) -> list[Region]:
    size = draw(st.integers(min_value=1, max_value=64))
    return [
        Region(
            f"r{i}",
            draw(st.floats(min_value=-90.0, max_value=90.0)),
            draw(st.floats(min_value=-180.0, max_value=180.0)),
            f"https://r{i}.example",
            draw(st.sampled_from([1.0, 1.0, 0.25, 0.5, 2.0, 3.7])),
        )
        for i in range(size)
    ]


points = st.tuples(
    st.floats(min_value=-90.0, max_value=90.0), st.floats(min_value=-180.0, max_value=180.0)
)


@given(catalogues(), points, st.data())
def test_choose_is_a_minimum_effective_distance_healthy_region(
    regions: list[Region], point: tuple[float, float], data: st.DataObject
) -> None:
    healthy = data.draw(st.sets(st.sampled_from([r.name for r in regions])))
    chosen = choose(regions, point, healthy)
    if not healthy:
        assert chosen is None
        return
    assert chosen is not None
    assert chosen.name in healthy
    by_name = {entry.region.name: entry for entry in rank(regions, point, set(healthy))}
    best = min(by_name[name].effective_km for name in healthy)
    assert by_name[chosen.name].effective_km == best
    first_best = next(
        r for r in regions if r.name in healthy and by_name[r.name].effective_km == best
    )
    assert chosen == first_best


@given(catalogues(), points, st.data())
def test_rank_orders_every_region_healthy_first(
    regions: list[Region], point: tuple[float, float], data: st.DataObject
) -> None:
    healthy = data.draw(st.sets(st.sampled_from([r.name for r in regions])))
    ranked = rank(regions, point, healthy)
    assert sorted(names(ranked)) == sorted(r.name for r in regions)
    flags = [entry.healthy for entry in ranked]
    assert flags == sorted(flags, reverse=True)
    for group in (True, False):
        effective = [entry.effective_km for entry in ranked if entry.healthy is group]
        assert effective == sorted(effective)
