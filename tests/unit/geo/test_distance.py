"""Great-circle distances against known city pairs and the sphere's geometry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.distance import EARTH_RADIUS_KM, great_circle_km

LONDON = (51.5074, -0.1278)
NEW_YORK = (40.7128, -74.0060)
PARIS = (48.8566, 2.3522)
LOS_ANGELES = (34.0522, -118.2437)


@pytest.mark.parametrize(
    ("a", "b", "expected_km"),
    [
        (LONDON, NEW_YORK, 5570.0),
        (PARIS, LONDON, 344.0),
        (LOS_ANGELES, NEW_YORK, 3936.0),
    ],
)
def test_known_city_pairs_within_half_a_percent(
    a: tuple[float, float], b: tuple[float, float], expected_km: float
) -> None:
    assert great_circle_km(a, b) == pytest.approx(expected_km, rel=0.005)


def test_geometry_of_the_sphere() -> None:
    quarter = math.pi * EARTH_RADIUS_KM / 2
    assert great_circle_km((0.0, 0.0), (0.0, 90.0)) == pytest.approx(quarter)
    assert great_circle_km((90.0, 0.0), (0.0, 123.0)) == pytest.approx(quarter)
    assert great_circle_km((0.0, 0.0), (0.0, 180.0)) == pytest.approx(2 * quarter)
    assert great_circle_km((45.0, 10.0), (-45.0, -170.0)) == pytest.approx(2 * quarter)


def test_across_the_antimeridian_is_the_short_way() -> None:
    one_degree = math.pi * EARTH_RADIUS_KM / 180
    assert great_circle_km((0.0, 179.5), (0.0, -179.5)) == pytest.approx(one_degree)


latitudes = st.floats(min_value=-90.0, max_value=90.0)
longitudes = st.floats(min_value=-180.0, max_value=180.0)
points = st.tuples(latitudes, longitudes)


@given(points, points)
def test_symmetric_bounded_and_zero_only_to_itself(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    d = great_circle_km(a, b)
    assert d == pytest.approx(great_circle_km(b, a), abs=1e-6)
    assert 0.0 <= d <= math.pi * EARTH_RADIUS_KM + 1e-6
    assert great_circle_km(a, a) == pytest.approx(0.0, abs=1e-6)
