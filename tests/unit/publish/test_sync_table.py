"""``castedge sync status``'s table: one row per region, in units a person reads."""

from __future__ import annotations

from publish.answers import RegionStatus, SyncStatus
from publish.sync_table import status_lines

NOW = 1_772_366_400.0


def test_a_row_per_region_in_human_units() -> None:
    status = SyncStatus(
        listed_at=NOW - 12,
        objects=1200,
        regions=(
            RegionStatus("eu-central", True, 1199, 1, 1_234_567_890, 42.0, None, NOW - 3),
            RegionStatus(
                "ap-south", False, 1100, 100, 12_000_000_000, 7380.0,
                "GET http://edge-bom.example.com/healthz: connect timeout after 2.0 s, "
                "three times in a row", NOW - 86400 * 2,
            ),
            RegionStatus("us-east", True, 1200, 0, 0, None, None, None),
        ),
    )  # fmt: skip
    assert status_lines(status, NOW) == [
        "listed 12 s ago: 1200 objects in the bucket",
        "",
        "REGION      HEALTHY  HELD  PENDING  BYTES PENDING  OLDEST PENDING  LAST ERROR"
        "                                        LAST SUCCESS",
        "eu-central  yes      1199  1        1.2 GB         42 s            -"
        "                                                 3.0 s ago",
        "ap-south    no       1100  100      12 GB          2 h 3 min       GET http://"
        "edge-bom.example.com/healthz: connec…  2 d ago",
        "us-east     yes      1200  0        0 B            -               -"
        "                                                 never",
    ]


def test_a_daemon_that_has_not_listed_yet_says_so() -> None:
    lines = status_lines(SyncStatus(None, 0, ()), NOW)
    assert lines == ["the bucket has not been listed yet", "no region to sync to"]


def test_one_object_is_singular() -> None:
    assert (
        status_lines(SyncStatus(NOW, 1, ()), NOW)[0] == "listed 0.0 s ago: 1 object in the bucket"
    )
