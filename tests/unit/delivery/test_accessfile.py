"""An access log file in an event loop: a turn's lines written together, none lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from delivery.accesslog import AccessFile


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
