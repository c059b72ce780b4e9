"""An access log file in an event loop: a turn's lines written together, none lost.

And a file that cannot be written costs its lines, never an error to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from delivery.accesslog import AccessFile, CombinedLogFormat, access_logger


async def test_the_lines_of_a_turn_are_written_together_once_it_is_done(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    try:
        handler.write_line("one")
        handler.write_line("two")
        assert path.read_text() == ""  # held until the turn's callbacks are done
        await asyncio.sleep(0)
        assert path.read_text() == "one\ntwo\n"
        handler.write_line("three")
        await asyncio.sleep(0)
        assert path.read_text() == "one\ntwo\nthree\n"
    finally:
        handler.close()


async def test_a_log_moved_by_logrotate_is_noticed_before_the_next_turns_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    try:
        handler.write_line("before")
        await asyncio.sleep(0)
        path.rename(tmp_path / "access.log.1")
        handler.write_line("after")
        await asyncio.sleep(0)
    finally:
        handler.close()
    assert (tmp_path / "access.log.1").read_text() == "before\n"
    assert path.read_text() == "after\n"


async def test_closing_the_log_writes_the_lines_still_held(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    handler.write_line("last")
    handler.close()
    assert path.read_text() == "last\n"
    await asyncio.sleep(0)  # the turn's end finds nothing left to write
    assert path.read_text() == "last\n"


def test_outside_an_event_loop_a_line_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    try:
        handler.write_line("now")
        assert path.read_text() == "now\n"
    finally:
        handler.close()


def test_a_log_that_cannot_be_written_drops_its_lines_says_so_once_and_raises_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # /dev/full takes the open and refuses every write with ENOSPC, as a full disk does.
    handler = AccessFile("/dev/full")
    try:
        with caplog.at_level(logging.ERROR, logger="castedge.serve"):
            handler.write_line("one")
            handler.write_line("two")
        assert handler.lost == 2
        said = [r.getMessage() for r in caplog.records if r.name == "castedge.serve"]
        assert len(said) == 1, said  # at most once a minute, not once a line
        assert "/dev/full" in said[0] and "No space left" in said[0]
    finally:
        handler.close()


def test_after_a_failed_write_the_next_lines_go_to_the_file_once_it_can_take_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    try:
        handler.write_line("kept")
        # The disk fills: what the failed write leaves buffered must not come back later.
        handler.stream.close()
        handler.stream = open("/dev/full", "a")  # noqa: SIM115 - the handler closes it
        handler.write_line("dropped")
        assert handler.lost == 1
        handler.write_line("after")
    finally:
        handler.close()
    assert path.read_text() == "kept\nafter\n"


def test_lines_held_for_a_loop_that_stopped_go_out_with_the_next_line(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    handler = AccessFile(str(path))
    loop = asyncio.new_event_loop()
    try:
        # The loop's last turn: it is told to stop, then a line is written in it.
        loop.call_soon(loop.stop)
        loop.call_soon(handler.write_line, "held")
        loop.run_forever()
        loop.close()  # the callbacks scheduled in that turn never run
        assert path.read_text() == ""
        handler.write_line("next")
        assert path.read_text() == "held\nnext\n"
    finally:
        handler.close()


def test_two_destinations_each_get_their_own_lines(tmp_path: Path) -> None:
    first, second = tmp_path / "origin.access.log", tmp_path / "locator.access.log"
    try:
        a = CombinedLogFormat(access_logger(str(first)), "")
        b = CombinedLogFormat(access_logger(str(second)), "")
        a.write("192.0.2.1", "GET /a HTTP/1.1", 200, 1, "-", "-")
        b.write("192.0.2.2", "GET /b HTTP/1.1", 200, 1, "-", "-")
    finally:
        access_logger(None)
        logging.getLogger("castedge.access").disabled = False
    assert '"GET /a HTTP/1.1"' in first.read_text()
    assert '"GET /b HTTP/1.1"' not in first.read_text()
    assert '"GET /b HTTP/1.1"' in second.read_text()
    assert '"GET /a HTTP/1.1"' not in second.read_text()
