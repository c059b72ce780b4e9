"""Rows for ClickHouse: the shape the shipped table expects, and enough to count from."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

import analytics
from analytics import Period, count, emit_row

from .rows import ANTENNAPOD, APPLE, EPISODE, GOOGLEBOT, KEY, MORNING, SPOTIFY, agents, get, head

AGENTS = agents()
TABLE = Path(analytics.__file__).parent / "clickhouse.sql"
ROWS = [
    get(0, 1, agent=APPLE),
    get(agent=APPLE),
    get(0, 10_485_759, agent=SPOTIFY),
    get(10_485_760, None, agent=SPOTIFY),
    head(agent=ANTENNAPOD),
    get(0, None, sent=500_000, agent=ANTENNAPOD),
    get(400_000, None, agent=ANTENNAPOD),
    get(0, None, sent=700_000, agent="NewPlayer/1.0"),
    get(agent=GOOGLEBOT),
]


def columns() -> dict[str, str]:
    body = TABLE.read_text().split("(", 1)[1].split("\n)", 1)[0]
    found = re.findall(r"^\s+(\w+) (.+?),?$", body, re.M)
    return dict(found)


def emitted() -> list[dict[str, object]]:
    return [emit_row(row, f"line{i}", EPISODE, AGENTS) for i, row in enumerate(ROWS)]


def test_every_row_has_exactly_the_tables_columns_with_values_of_their_types() -> None:
    types = columns()
    assert set(types) >= {"id", "time", "episode", "listener", "audio_from", "audio_to"}
    for row in emitted():
        assert set(row) == set(types)
        for name, kind in types.items():
            value = row[name]
            if kind.startswith("UInt"):
                assert isinstance(value, int) and value >= 0, (name, value)
            elif kind.startswith("DateTime64"):
                assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", str(value)), value
            elif kind == "Date":
                assert re.fullmatch(r"\d{4}-\d\d-\d\d", str(value)), value
            else:
                assert "String" in kind and isinstance(value, str), (name, kind, value)


@pytest.mark.parametrize("row", emitted(), ids=lambda r: f"{r['agent'][:12]}-{r['start']}")
def test_the_audio_span_never_includes_the_tag(row: dict[str, object]) -> None:
    assert EPISODE.audio_start <= row["audio_from"] <= row["audio_to"] <= EPISODE.size  # type: ignore[operator]


def test_the_documented_query_counts_what_castedge_stats_counts() -> None:
    # The query in docs/analytics.md, step by step: keep unfiltered rows, add up each
    # listener's audio bytes per day, each byte once, and compare with `needed`.
    reached: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    needed = {}
    for row in emitted():
        if row["filtered"] == "":
            which = (str(row["episode"]), str(row["day"]), str(row["listener"]))
            reached[which].append((int(row["audio_from"]), int(row["audio_to"])))  # type: ignore[call-overload]
            needed[which] = row["needed"]
    queried = 0
    for which, spans in reached.items():
        # What the window functions do: sort by start, carry the furthest end so far.
        fresh, furthest = 0, 0
        for start, stop in sorted(spans):
            fresh += max(0, stop - max(start, furthest))
            furthest = max(furthest, stop)
        queried += fresh >= needed[which]  # type: ignore[operator]
    period = Period.parse("2026-11-01", "2026-11-30", now=MORNING)
    stats = count(ROWS, {KEY: EPISODE}, AGENTS, period=period, address_limit=50)
    assert queried == stats.episodes[KEY].downloads == 3
