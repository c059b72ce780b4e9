"""What a file's upload shows on the terminal, at any width."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publish import human
from publish.progress import bar_line, done_line, fit


def test_a_bar_shows_the_share_the_sizes_and_the_rate() -> None:
    line = bar_line("courses/x/a.mp4", 6_300_000, 12_000_000, elapsed=0.2, width=100)
    assert line == "courses/x/a.mp4  [" + "#" * 15 + "-" * 15 + "]   52%  6.3 MB of 12 MB  32 MB/s"


def test_no_rate_before_any_time_has_passed() -> None:
    assert bar_line("a.mp4", 0, 100, elapsed=0.0).endswith("0%  0 B of 100 B")


def test_a_finished_upload_reads_as_one_sentence() -> None:
    assert done_line("a.mp4", 12_000_000, 0.4) == "a.mp4: 12 MB in 0.4 s (30 MB/s)"


def test_an_empty_file_has_a_full_bar() -> None:
    assert "[" + "#" * 30 + "]  100%" in bar_line("empty.txt", 0, 0, 0.0, width=100)


@given(
    name=st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1),
    done=st.integers(min_value=0, max_value=10**12),
    total=st.integers(min_value=0, max_value=10**12),
    width=st.integers(min_value=40, max_value=300),
)
def test_a_bar_never_runs_past_the_terminal(name: str, done: int, total: int, width: int) -> None:
    assert len(bar_line(name, min(done, total), total, 1.0, width)) <= width


def test_a_long_key_loses_its_start_not_its_file_name() -> None:
    key = "courses/an-unusually-long-course-name/chapter-03/segment-0042.ts"
    line = bar_line(key, 1, 2, 1.0, width=60)
    assert len(line) <= 60
    assert line.startswith("…")
    assert "segment-0042.ts  [" in line


@pytest.mark.parametrize(
    ("name", "width", "shown"),
    [("abcdef", 6, "abcdef"), ("abcdef", 4, "…def"), ("abcdef", 1, "…"), ("abcdef", 0, "")],
)
def test_fit_cuts_at_the_start(name: str, width: int, shown: str) -> None:
    assert fit(name, width) == shown


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1_234_567_890, "1.2 GB"),
        (9_960_000, "10 MB"),
        (12_000_000, "12 MB"),
        (123_400_000_000, "123 GB"),
        (17_000_000_000_000, "17 TB"),
    ],
)
def test_sizes_read_as_in_the_settings_file(count: int, text: str) -> None:
    assert human.size(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0 s"),
        (2.14, "2.1 s"),
        (9.96, "10 s"),
        (42.4, "42 s"),
        (60, "1 min"),
        (200, "3 min 20 s"),
        (3600 * 5 + 60 * 12, "5 h 12 min"),
        (86400 * 3 + 3600 * 4, "3 d 4 h"),
        (86400, "1 d"),
        (-1.0, "0.0 s"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert human.duration(seconds) == text


def test_an_age_is_a_duration_ago_and_the_future_is_now() -> None:
    assert human.age(3.0) == "3.0 s ago"
    assert human.age(-0.5) == "just now"
