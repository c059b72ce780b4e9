"""Downloads and listeners from rows, each scenario's count worked out from the IAB v2.2 rules.

The episode (``rows.EPISODE``): 128 kbps behind a 400 KB ID3 tag, so one minute of
audio is 128 000 × 60 / 8 = 960 000 bytes, and a listener must be sent bytes
400 000 to 1 359 999 of the file (or as many audio bytes from anywhere after the tag).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import Episode, Group, Period, Report, Row, Totals, count, covered

from .rows import (
    ANTENNAPOD,
    APPLE,
    CHROME,
    DAY,
    EPISODE,
    GOOGLEBOT,
    KEY,
    MINUTE,
    MORNING,
    OVERCAST,
    POCKET_CASTS,
    SIZE,
    SPOTIFY,
    TAG,
    WATCH,
    agents,
    get,
    head,
)

AGENTS = agents()
NOVEMBER = Period.parse("2026-11-01", "2026-11-30", now=MORNING)


def tally(
    rows: Iterable[Row],
    *,
    episodes: dict[str, Episode] | None = None,
    limit: int = 50,
    group: Group | None = None,
    countries: dict[str, str] | None = None,
    period: Period = NOVEMBER,
) -> Report:
    return count(
        rows,
        {KEY: EPISODE} if episodes is None else episodes,
        AGENTS,
        period=period,
        address_limit=limit,
        group=group,
        countries=countries,
    )


def downloads(rows: Iterable[Row], **kw: object) -> int:
    return tally(rows, **kw).episodes.get(KEY, Totals()).downloads  # type: ignore[arg-type]


# -- the apps' request patterns -------------------------------------------------------


def test_apple_podcasts_probe_then_the_whole_file_is_one_download() -> None:
    report = tally([get(0, 1, agent=APPLE), get(0, None, agent=APPLE)])
    assert report.episodes[KEY].downloads == 1
    assert report.filtered == {"probe": 1}


def test_apple_podcasts_probe_alone_is_no_download() -> None:
    report = tally([get(0, 1, agent=APPLE)])
    assert KEY not in report.episodes
    assert report.filtered == {"probe": 1}


def test_spotify_ten_megabyte_ranges_are_one_download() -> None:
    rows = [get(0, 10_485_759, agent=SPOTIFY), get(10_485_760, None, agent=SPOTIFY)]
    report = tally(rows)
    assert report.episodes[KEY].downloads == 1
    assert report.episodes[KEY].bytes == SIZE


def test_antennapod_head_get_cut_and_resume_overlapping_is_one_download() -> None:
    rows = [
        head(agent=ANTENNAPOD),
        get(0, None, sent=500_000, agent=ANTENNAPOD),  # the connection broke
        get(400_000, None, agent=ANTENNAPOD),  # it resumes from what it had kept
    ]
    report = tally(rows)
    assert report.episodes[KEY].downloads == 1
    assert report.filtered == {"method": 1}


def test_a_cut_download_short_of_a_minute_of_audio_is_short() -> None:
    rows = [head(agent=ANTENNAPOD), get(0, None, sent=TAG + MINUTE - 1, agent=ANTENNAPOD)]
    report = tally(rows)
    assert report.episodes[KEY].downloads == 0
    assert report.filtered == {"method": 1, "short": 1}


def test_exactly_a_minute_of_audio_after_the_tag_is_a_download() -> None:
    assert downloads([get(0, None, sent=TAG + MINUTE)]) == 1


def test_the_tag_is_not_audio_however_many_bytes_it_took() -> None:
    # 960 000 bytes sent from the start: 400 000 of tag, 560 000 of audio.
    assert downloads([get(0, None, sent=MINUTE)]) == 0


def test_a_minute_from_the_middle_counts_too() -> None:
    assert downloads([get(10_000_000, 10_000_000 + MINUTE - 1)]) == 1


def test_a_browser_audio_element_that_fetches_a_few_hundred_kb_is_short() -> None:
    report = tally([get(0, None, sent=300_000, agent=CHROME)])
    assert report.episodes[KEY].downloads == 0
    assert report.filtered == {"short": 1}


def test_a_bot_is_filtered_whatever_it_fetched() -> None:
    report = tally([get(agent=GOOGLEBOT)])
    assert report.filtered == {"bot": 1}
    assert KEY not in report.episodes


def test_an_apple_watch_copy_is_filtered() -> None:
    assert tally([get(agent=WATCH)]).filtered == {"apple_watch": 1}


# -- listeners and windows -------------------------------------------------------------


def test_the_same_listener_twice_in_a_day_is_one_download() -> None:
    report = tally([get(agent=OVERCAST), get(agent=OVERCAST, time=MORNING + 12 * 3600)])
    assert report.episodes[KEY].downloads == 1
    assert report.episodes[KEY].listeners == 1
    assert report.episodes[KEY].bytes == 2 * SIZE


def test_the_next_utc_day_counts_again_for_the_same_listener() -> None:
    report = tally([get(agent=OVERCAST), get(agent=OVERCAST, time=MORNING + DAY)])
    assert (report.episodes[KEY].downloads, report.episodes[KEY].listeners) == (2, 1)


def test_halves_either_side_of_midnight_utc_are_two_short_days() -> None:
    # Fixed windows: 600 000 bytes of audio each side of midnight, neither a minute.
    midnight = MORNING + 17 * 3600
    rows = [
        get(TAG, TAG + 599_999, time=midnight - 60),
        get(TAG + 600_000, TAG + 1_199_999, time=midnight + 60),
    ]
    report = tally(rows)
    assert report.episodes[KEY].downloads == 0
    assert report.filtered == {"short": 2}


def test_two_listeners_behind_one_address_with_different_apps() -> None:
    report = tally([get(agent=POCKET_CASTS), get(agent=ANTENNAPOD)])
    assert (report.episodes[KEY].downloads, report.episodes[KEY].listeners) == (2, 2)


def test_ipv6_addresses_in_one_64_are_one_listener() -> None:
    half = SIZE // 2
    rows = [
        get(0, half - 1, ip="2001:db8:a:b::1", agent=OVERCAST),
        get(half, None, ip="2001:db8:a:b:ffff:ffff:ffff:2", agent=OVERCAST),
        get(ip="2001:db8:a:c::1", agent=OVERCAST),  # another /64: another listener
    ]
    report = tally(rows)
    assert (report.episodes[KEY].downloads, report.episodes[KEY].listeners) == (2, 2)


def test_an_ipv6_address_split_over_two_64s_is_two_short_listeners() -> None:
    rows = [
        get(TAG, TAG + 599_999, ip="2001:db8:a:b::1"),
        get(TAG + 600_000, TAG + 1_199_999, ip="2001:db8:a:c::1"),
    ]
    assert downloads(rows) == 0


def test_an_address_with_too_many_downloads_is_flagged_not_counted() -> None:
    apps = [APPLE, SPOTIFY, OVERCAST, POCKET_CASTS]
    rows = [get(agent=agent, ip="198.51.100.9") for agent in apps]
    rows.append(get(agent=APPLE, ip="198.51.100.10"))
    report = tally(rows, limit=3)
    assert report.episodes[KEY].downloads == 1
    assert report.filtered == {"anomalous_address": 4}
    (flag,) = report.flagged
    assert (flag.address, flag.day, flag.downloads, flag.requests) == (
        "198.51.100.9",
        "2026-11-03",
        4,
        4,
    )


def test_an_address_at_the_limit_is_counted() -> None:
    rows = [get(agent=agent, ip="198.51.100.9") for agent in (APPLE, SPOTIFY, OVERCAST)]
    report = tally(rows, limit=3)
    assert report.episodes[KEY].downloads == 3 and report.flagged == ()


# -- thresholds without a bitrate ---------------------------------------------------------


def test_without_a_bitrate_only_the_complete_file_counts() -> None:
    rows = [get(0, None, sent=SIZE - 1, ip="203.0.113.1"), get(ip="203.0.113.2")]
    report = tally(rows, episodes={})
    assert report.episodes[KEY].downloads == 1
    assert report.thresholds[KEY].rule == "complete file"
    assert report.thresholds[KEY].source == "unknown"


def test_an_episode_shorter_than_a_minute_counts_only_when_complete() -> None:
    short = Episode(KEY, 500_000, TAG, 8_000, 30.0, "cache")
    rows = [
        get(0, None, sent=499_999, size=500_000, ip="203.0.113.1"),
        get(0, None, size=500_000, ip="203.0.113.2"),
    ]
    report = tally(rows, episodes={KEY: short})
    assert report.episodes[KEY].downloads == 1
    assert report.thresholds[KEY].rule == "complete file"


# -- periods and groups ---------------------------------------------------------------------


def test_rows_outside_the_period_are_not_looked_at() -> None:
    period = Period.parse("2026-11-04", "2026-11-04", now=MORNING)
    report = tally([get(), get(0, 1), get(time=MORNING + DAY, ip="203.0.113.9")], period=period)
    assert report.episodes[KEY].downloads == 1
    assert report.filtered == {}


def test_by_app_splits_downloads_by_the_lists_app_names() -> None:
    rows = [get(agent=APPLE), get(agent=SPOTIFY), get(agent="NewPlayer/0.1"), get(agent=OVERCAST)]
    report = tally(rows, group=Group.APP)
    named = {name: t.downloads for name, t in report.groups[KEY].items()}
    assert named == {"Apple Podcasts": 1, "Spotify": 1, "Overcast": 1, "unknown": 1}


def test_by_day_splits_by_utc_day() -> None:
    rows = [get(), get(time=MORNING + DAY), get(time=MORNING + DAY, ip="203.0.113.9")]
    report = tally(rows, group=Group.DAY)
    named = {name: t.downloads for name, t in report.groups[KEY].items()}
    assert named == {"2026-11-03": 1, "2026-11-04": 2}


def test_by_country_looks_up_each_listeners_address() -> None:
    rows = [get(ip="81.2.69.142"), get(ip="89.160.20.112"), get(ip="192.0.2.1")]
    countries = {"81.2.69.142": "GB", "89.160.20.112": "SE"}
    report = tally(rows, group=Group.COUNTRY, countries=countries)
    named = {name: t.downloads for name, t in report.groups[KEY].items()}
    assert named == {"GB": 1, "SE": 1, "unknown": 1}


# -- the property ---------------------------------------------------------------------------

spans = st.lists(
    st.tuples(st.integers(0, SIZE - 3), st.integers(3, 3 * MINUTE)).map(
        lambda t: (t[0], min(SIZE, t[0] + t[1]))
    ),
    min_size=1,
    max_size=6,
).filter(lambda found: all(stop - start >= 3 for start, stop in found))


def as_rows(pieces: Iterable[tuple[int, int]], order: random.Random) -> list[Row]:
    """One GET per piece, at random times of one morning, from two addresses of one /64."""
    rows = [
        get(
            start,
            stop - 1,
            ip=order.choice(["2001:db8:5:6::1", "2001:db8:5:6:ffff::2"]),
            agent=OVERCAST,
            time=MORNING + order.uniform(0, 3600),
        )
        for start, stop in pieces
    ]
    order.shuffle(rows)
    return rows


def split(found: list[tuple[int, int]], order: random.Random) -> list[tuple[int, int]]:
    """Cut each span into ranges of at least 3 bytes, and ask again for one of them."""
    pieces = []
    for start, stop in found:
        edges = [start]
        while stop - edges[-1] >= 6 and order.random() < 0.7:
            edges.append(order.randrange(edges[-1] + 3, stop - 2))
        edges.append(stop)
        ranges = list(zip(edges, edges[1:], strict=False))
        pieces += ranges
        # A resume or a seek back that asks again for bytes it already had.
        pieces.append(order.choice(ranges))
    return pieces


@settings(max_examples=300, deadline=None)
@given(spans, st.randoms(use_true_random=False))
def test_splitting_a_listeners_bytes_into_any_ranges_never_changes_the_count(
    found: list[tuple[int, int]], order: random.Random
) -> None:
    whole = downloads(as_rows(found, order))
    pieces = split(found, order)
    assert covered(pieces) == covered(found)
    assert downloads(as_rows(pieces, order)) == whole
    # And the count is what the rule says of the bytes themselves.
    assert whole == (1 if covered(found, TAG, SIZE) >= MINUTE else 0)
