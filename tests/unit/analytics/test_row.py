"""The download log's lines: what the origin writes is what the counter reads."""

from __future__ import annotations

import json

import pytest

from analytics import BadRow, Row, served_span

from .rows import MORNING, get


def test_a_row_survives_its_line() -> None:
    row = get(0, 1023, time=MORNING + 0.25)
    line = row.to_line()
    assert "\n" not in line
    assert Row.from_line(line) == row
    doc = json.loads(line)
    assert doc["v"] == 1 and doc["time"] == "2026-11-03T07:00:00.250Z"


def test_long_agents_are_cut_so_a_line_stays_one_write() -> None:
    line = get(agent="x" * 5000).to_line()
    assert len(json.loads(line)["agent"]) == 1024


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v": 2}', "expected version 1"),
        ('{"v": 1, "time": "2026-11-03T07:00:00Z"}', "missing 'node'"),
        ('{"v": 1, "time": "yesterday"}', "time: expected an ISO 8601 time"),
        ('{"v": 1, "time": "2026-11-03T07:00:00"}', "time: expected a time in UTC"),
    ],
)
def test_a_line_that_is_not_a_row_says_why(line: str, reason: str) -> None:
    with pytest.raises(BadRow, match=reason):
        Row.from_line(line)


def test_a_negative_byte_count_is_refused() -> None:
    doc = json.loads(get().to_line())
    doc["sent"] = -1
    with pytest.raises(BadRow, match="sent: expected a whole number"):
        Row.from_line(json.dumps(doc))


@pytest.mark.parametrize(
    ("status", "content_range", "length", "span"),
    [
        (206, "bytes 0-1/48133612", 2, (48133612, 0, 1)),
        (206, "bytes 10485760-20971519/48133612", None, (48133612, 10485760, 20971519)),
        (200, None, 48133612, (48133612, 0, 48133611)),
        (200, None, 0, (0, None, None)),
        (416, "bytes */48133612", 0, (48133612, None, None)),
        (304, None, None, (None, None, None)),
        (404, None, 10, (None, None, None)),
    ],
)
def test_what_an_answer_covered(
    status: int, content_range: str | None, length: int | None, span: tuple[int, ...]
) -> None:
    assert served_span(status, content_range, length) == span
