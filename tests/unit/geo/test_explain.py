"""The words `castedge locate` prints: where the client was placed, and the ranking."""

from __future__ import annotations

import pytest

from geo import DEFAULT_REGIONS, Kind, Location, Reason, Region, rank, unplaced
from geo.explain import describe_location, ranking_table

FRANKFURT = DEFAULT_REGIONS[4]
SYDNEY = (-33.8678, 151.2073)


@pytest.mark.parametrize(
    ("location", "city", "line"),
    [
        (
            Location(*SYDNEY, Kind.CITY, "AU", "OC"),
            "Sydney",
            "city: Sydney, AU, OC at -33.8678, 151.2073",
        ),
        (
            Location(55.7558, 37.6173, Kind.COUNTRY, "RU", "EU"),
            None,
            "country only: RU, EU; ranked from the country's point 55.7558, 37.6173",
        ),
        (
            Location(-22.7359, 140.0188, Kind.CONTINENT, None, "OC"),
            None,
            "continent only: OC; ranked from the continent's point -22.7359, 140.0188",
        ),
        (
            unplaced(Reason.UNROUTABLE),
            None,
            "not placed (unroutable); ranked from the default region eu-central",
        ),
        (
            unplaced(Reason.NOT_IN_DATABASE),
            None,
            "not placed (not in database); ranked from the default region eu-central",
        ),
    ],
)
def test_describe_location(location: Location, city: str | None, line: str) -> None:
    assert describe_location(location, FRANKFURT, city=city) == line


def test_the_ranking_table_marks_the_choice_and_the_regions_down() -> None:
    regions = [*DEFAULT_REGIONS[:7], Region("ap-southeast", -33.8688, 151.2093, "https://s", 0.5)]
    healthy = {r.name for r in regions} - {"ap-southeast"}
    lines = ranking_table(rank(regions, SYDNEY, healthy), {"ap-southeast": "3 failed checks"})
    assert lines[0].split() == [
        "#",
        "region",
        "distance",
        "km",
        "effective",
        "km",
        "weight",
        "health",
    ]
    first = lines[1].split()
    assert first[:3] == ["→", "1", "ap-northeast"]
    assert first[-1] == "up"
    # Down regions come last, whatever their distance, with the operator's note.
    assert lines[-1].split() == [
        "8",
        "ap-southeast",
        "0",
        "0",
        "0.5",
        "DOWN",
        "(3",
        "failed",
        "checks)",
    ]
    assert sum("→" in line for line in lines) == 1
    # Columns line up: every row is as wide as the header where it has numbers.
    distance_end = lines[0].index("distance km") + len("distance km")
    assert all(line[distance_end - 1].isdigit() for line in lines[1:])


def test_no_arrow_when_nothing_is_healthy() -> None:
    lines = ranking_table(rank(DEFAULT_REGIONS, SYDNEY, set()))
    assert not any("→" in line for line in lines)
    assert all(line.endswith("DOWN") for line in lines[1:])
