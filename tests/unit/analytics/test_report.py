"""How a count is shown: JSON for dashboards, CSV for spreadsheets, a table for people."""

from __future__ import annotations

import csv
import io

from analytics import Group, Period, count, to_csv, to_json, to_table

from .rows import APPLE, EPISODE, KEY, MORNING, SIZE, SPOTIFY, agents, get

AGENTS = agents()
PERIOD = Period.parse("2026-11-01", "2026-11-30", now=MORNING)
ROWS = [get(0, 1, agent=APPLE), get(agent=APPLE), get(agent=SPOTIFY)]


def report(group: Group | None = None):  # type: ignore[no-untyped-def]
    return count(ROWS, {KEY: EPISODE}, AGENTS, period=PERIOD, address_limit=50, group=group)


def test_the_json_form_has_episodes_and_filtered_requests_by_reason() -> None:
    doc = to_json(report())
    assert doc["episodes"] == {KEY: {"downloads": 2, "listeners": 2, "bytes": 2 * SIZE}}
    assert doc["filtered"] == {"probe": 1}
    assert (doc["since"], doc["until"], doc["window"]) == ("2026-11-01", "2026-11-30", "utc-day")
    assert doc["thresholds"][KEY] == {
        "rule": "one minute",
        "kbps": 128.0,
        "audio_start": 400_000,
        "needed_bytes": 960_000,
        "source": "cache",
    }


def test_the_json_form_by_app() -> None:
    doc = to_json(report(Group.APP))
    assert doc["episodes"][KEY]["by_app"] == {
        "Apple Podcasts": {"downloads": 1, "listeners": 1, "bytes": SIZE},
        "Spotify": {"downloads": 1, "listeners": 1, "bytes": SIZE},
    }


def test_csv_is_a_line_per_episode_or_group() -> None:
    assert list(csv.reader(io.StringIO(to_csv(report())))) == [
        ["episode", "downloads", "listeners", "bytes"],
        [KEY, "2", "2", str(2 * SIZE)],
    ]
    grouped = list(csv.reader(io.StringIO(to_csv(report(Group.APP)))))
    assert grouped[0] == ["episode", "app", "downloads", "listeners", "bytes"]
    assert grouped[1:] == [
        [KEY, "Apple Podcasts", "1", "1", str(SIZE)],
        [KEY, "Spotify", "1", "1", str(SIZE)],
    ]


def test_the_table_shows_each_episode_the_threshold_and_why_requests_were_filtered() -> None:
    text = to_table(report())
    header, episode = (line.split() for line in text.splitlines()[2:4])
    assert header == ["EPISODE", "DOWNLOADS", "LISTENERS", "BYTES", "THRESHOLD"]
    assert episode[:3] == [KEY, "2", "2"]
    assert "128 kbps (cache): 960000 bytes after the 400000-byte tag" in text
    assert "1  probe: a range of 2 bytes or less (bytes=0-1): a probe" in text


def test_an_empty_period_says_so() -> None:
    empty = count([], {}, AGENTS, period=PERIOD, address_limit=50)
    assert "No requests for any episode in this period." in to_table(empty)
    assert to_json(empty)["episodes"] == {}
