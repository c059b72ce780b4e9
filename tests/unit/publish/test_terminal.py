"""What an upload draws on stderr: redrawn in place on a terminal, one plain line otherwise."""

from __future__ import annotations

import io

import pytest

from publish.terminal import ProgressLine


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_file_gets_one_plain_line() -> None:
    out, clock = io.StringIO(), FakeClock()
    with ProgressLine(out, "courses/x/a.mp4", 12_000_000, clock=clock, live=False) as line:
        for _ in range(12):
            clock.now += 0.05
            line.advance(1_000_000)
    assert out.getvalue() == "courses/x/a.mp4: 12 MB in 0.6 s (20 MB/s)\n"


def test_on_a_terminal_the_line_is_redrawn_at_most_ten_times_a_second() -> None:
    out, clock = io.StringIO(), FakeClock()
    with ProgressLine(out, "a.mp4", 100, clock=clock, live=True) as line:
        # Twenty reports over 0.3125 s (1/64 s apart, exact in binary).
        for _ in range(20):
            clock.now += 1 / 64
            line.advance(5)
    redraws = out.getvalue().split("\r\x1b[K")[1:]
    # Bars at 0 s, 0.11 s and 0.22 s, then the line of the finished file.
    assert [r.split("]")[1].split("%")[0].strip() for r in redraws[:-1]] == ["0", "35", "70"]
    assert redraws[-1] == "a.mp4: 100 B in 0.3 s (320 B/s)\n"


def test_a_retried_part_takes_its_bytes_back() -> None:
    line = ProgressLine(io.StringIO(), "a.mp4", 100, clock=FakeClock(), live=False)
    line.advance(60)
    line.advance(-60)
    line.advance(10)
    assert line.done == 10


def test_a_failed_upload_leaves_no_finished_line() -> None:
    out = io.StringIO()
    with (
        pytest.raises(RuntimeError),
        ProgressLine(out, "a.mp4", 100, clock=FakeClock(), live=True),
    ):
        raise RuntimeError("S3 went away")
    assert out.getvalue().endswith("\r\x1b[K")
    assert "100 B in" not in out.getvalue()
