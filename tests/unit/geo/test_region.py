"""Regions and catalogues: what an operator may configure, and the shipped defaults."""

from __future__ import annotations

import math

import pytest

from geo import DEFAULT_REGIONS, GeoError, InvalidSetting, Region, check_catalogue


def test_default_catalogue_has_the_eight_regions_in_order() -> None:
    assert [r.name for r in DEFAULT_REGIONS] == [
        "us-east",
        "us-west",
        "sa-east",
        "eu-west",
        "eu-central",
        "ap-south",
        "ap-northeast",
        "ap-southeast",
    ]
    assert check_catalogue(DEFAULT_REGIONS) == DEFAULT_REGIONS
    for region in DEFAULT_REGIONS:
        assert region.base_url == f"https://{region.name}.edge.example"
        assert region.weight == 1.0


@pytest.mark.parametrize(
    ("name", "city"),
    [
        ("us-east", (39.96, -83.00)),  # Columbus
        ("us-west", (45.84, -119.70)),  # Boardman
        ("sa-east", (-23.55, -46.63)),  # São Paulo
        ("eu-west", (51.51, -0.13)),  # London
        ("eu-central", (50.11, 8.68)),  # Frankfurt
        ("ap-south", (19.08, 72.88)),  # Mumbai
        ("ap-northeast", (35.68, 139.65)),  # Tokyo
        ("ap-southeast", (-33.87, 151.21)),  # Sydney
    ],
)
def test_default_regions_sit_in_their_cities(name: str, city: tuple[float, float]) -> None:
    region = next(r for r in DEFAULT_REGIONS if r.name == name)
    assert region.latitude == pytest.approx(city[0], abs=0.01)
    assert region.longitude == pytest.approx(city[1], abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "region name"),
        ({"latitude": 90.5}, "latitude"),
        ({"longitude": -180.01}, "longitude"),
        ({"weight": 0.0}, "weight"),
        ({"weight": -1.0}, "weight"),
        ({"weight": math.inf}, "weight"),
        ({"weight": math.nan}, "weight"),
    ],
)
def test_region_rejects_out_of_range_fields(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {
        "name": "x",
        "latitude": 0.0,
        "longitude": 0.0,
        "base_url": "https://x.example",
    }
    fields.update(kwargs)
    with pytest.raises(InvalidSetting, match=field) as caught:
        Region(**fields)  # type: ignore[arg-type]
    assert isinstance(caught.value, GeoError)
    assert isinstance(caught.value, ValueError)


def test_catalogue_needs_a_region_and_unique_names() -> None:
    with pytest.raises(InvalidSetting, match="at least one region"):
        check_catalogue([])
    twice = [DEFAULT_REGIONS[0], DEFAULT_REGIONS[1], DEFAULT_REGIONS[0]]
    with pytest.raises(InvalidSetting, match="'us-east'"):
        check_catalogue(twice)


def test_a_catalogue_of_sixty_four_is_accepted() -> None:
    regions = [
        Region(f"r{i}", i - 32.0, 5.0 * i - 160.0, f"https://r{i}.example") for i in range(64)
    ]
    assert len(check_catalogue(iter(regions))) == 64
