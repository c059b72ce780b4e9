"""Reading the sync daemon's documents: as documented, tolerant of gaps, strict on types."""

from __future__ import annotations

import pytest

from publish.answers import parse_holdings, parse_nudge, parse_status

STATUS = {
    "listed_at": "2026-03-01T12:00:00+00:00",
    "objects": 1200,
    "regions": {
        "eu-central": {
            "healthy": True,
            "held": 1199,
            "objects_pending": 1,
            "bytes_pending": 1_200_000_000,
            "oldest_pending_seconds": 12.5,
            "last_error": None,
            "last_success": "2026-03-01T11:59:57Z",
        },
        "ap-south": {"healthy": False, "last_error": "connect timeout"},
    },
}


def test_a_status_reads_as_documented() -> None:
    status = parse_status(STATUS)
    assert status.listed_at == 1_772_366_400.0
    assert status.objects == 1200
    eu, ap = status.regions
    assert (eu.name, eu.healthy, eu.held, eu.objects_pending) == ("eu-central", True, 1199, 1)
    assert (eu.bytes_pending, eu.oldest_pending_seconds) == (1_200_000_000, 12.5)
    assert eu.last_success == 1_772_366_397.0
    # Fields a daemon leaves out read as unknown.
    assert (ap.healthy, ap.held, ap.oldest_pending_seconds, ap.last_success) == (
        False, 0, None, None,
    )  # fmt: skip
    assert ap.last_error == "connect timeout"


def test_a_time_without_an_offset_is_utc() -> None:
    assert parse_status({"listed_at": "2026-03-01T12:00:00"}).listed_at == 1_772_366_400.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "the answer: expected an object, got list"),
        ({"regions": {"eu": {"healthy": "no"}}}, "regions.eu.healthy: expected true or false"),
        ({"regions": {"eu": {"held": -1}}}, "regions.eu.held: expected a count, got -1"),
        ({"regions": {"eu": {"held": True}}}, "regions.eu.held: expected a count"),
        ({"listed_at": "yesterday"}, "listed_at: expected an ISO 8601 time, got 'yesterday'"),
        ({"regions": {"eu": {"last_error": 3}}}, "regions.eu.last_error: expected text or null"),
        ({"regions": {"eu": {"oldest_pending_seconds": "1m"}}}, "expected seconds or null"),
    ],
)
def test_a_mistyped_status_names_the_field(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_status(doc)


def test_holdings_read_as_documented() -> None:
    holdings = parse_holdings(
        {
            "regions": ["eu-central", "us-east"],
            "objects": {"a.mp4": {"etag": '"abc"', "size": 3, "held": ["eu-central"]}},
        }
    )
    assert holdings.regions == ("eu-central", "us-east")
    assert holdings.objects["a.mp4"].etag == '"abc"'
    assert holdings.objects["a.mp4"].held == frozenset({"eu-central"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"regions": "eu"}, "regions: expected a list of names"),
        ({"objects": {"a": {"size": 1}}}, "objects.a.etag: expected a string"),
        ({"objects": {"a": {"etag": "x", "held": "eu"}}}, "objects.a.held: expected a list"),
    ],
)
def test_mistyped_holdings_name_the_field(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holdings(doc)


def test_a_nudge_answers_its_pass_and_nothing_else_will_do() -> None:
    assert parse_nudge({"pass": 7}) == 7
    with pytest.raises(ValueError, match="pass: expected a count, got None"):
        parse_nudge({})
