"""The country and continent representative points."""

from __future__ import annotations

import re

import pytest

from geo import CONTINENT_POINTS, COUNTRY_POINTS, DEFAULT_REGIONS, choose

ALL = frozenset(r.name for r in DEFAULT_REGIONS)

# Every country or territory with more than about a million people.
POPULOUS = """
AE AF AL AM AO AR AT AU AZ BA BD BE BF BG BH BI BJ BO BR BW BY CA CD CF CG CH CI CL
CM CN CO CR CU CY CZ DE DJ DK DO DZ EC EE EG ER ES ET FI FR GA GB GE GH GM GN GQ GR
GT GW HK HN HR HT HU ID IE IL IN IQ IR IT JM JO JP KE KG KH KP KR KW KZ LA LB LK LR
LS LT LV LY MA MD MG MK ML MM MN MR MU MW MX MY MZ NA NE NG NI NL NO NP NZ OM PA PE
PG PH PK PL PR PS PT PY QA RO RS RU RW SA SD SE SG SI SK SL SN SO SS SV SY SZ TD TG
TH TJ TL TM TN TR TT TW TZ UA UG US UY UZ VE VN XK YE ZA ZM ZW
"""


def test_every_populous_country_has_a_point() -> None:
    assert sorted(set(POPULOUS.split()) - set(COUNTRY_POINTS)) == []


def test_keys_are_alpha_2_codes_and_points_are_on_the_globe() -> None:
    for code, (lat, lon) in COUNTRY_POINTS.items():
        assert re.fullmatch("[A-Z]{2}", code), code
        assert -90.0 <= lat <= 90.0, code
        assert -180.0 <= lon <= 180.0, code


def test_the_seven_continents() -> None:
    assert set(CONTINENT_POINTS) == {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RU", "eu-central"),  # Moscow, not central Siberia (which is nearest Tokyo)
        ("CA", "us-east"),  # Toronto, not Saskatchewan (which is nearest Oregon)
        ("US", "us-east"),
        ("BR", "sa-east"),
        ("IN", "ap-south"),
        ("JP", "ap-northeast"),
        ("AU", "ap-southeast"),
        ("DE", "eu-central"),
        ("IE", "eu-west"),
    ],
)
def test_country_points_lead_to_the_expected_region(code: str, expected: str) -> None:
    chosen = choose(DEFAULT_REGIONS, COUNTRY_POINTS[code], ALL)
    assert chosen is not None
    assert chosen.name == expected
