"""The analytics store reads logs as logrotate leaves them, each line once, skipping non-rows."""

from __future__ import annotations

import gzip
import os
import sqlite3
from pathlib import Path

import pytest

from analytics import Episode, Period, Row, StoreUnusable
from analytics.logfiles import rotated
from analytics.store import Store

MORNING = 1793689200.0  # 2026-11-03 07:00 UTC
NOVEMBER = Period.parse("2026-11-01", "2026-11-30", now=MORNING)


def row(n: int, *, time: float = MORNING) -> Row:
    return Row(
        time=time + n,
        node="origin-1",
        method="GET",
        status=206,
        key="podcast/ep1.mp3",
        size=1000,
        start=n,
        end=999,
        sent=1000 - n,
        ip=f"203.0.113.{n % 250}",
        net=None,
        agent="Overcast/3.0",
    )


def lines(*numbers: int) -> str:
    return "".join(row(n).to_line() + "\n" for n in numbers)


def stored(store: Store) -> list[int]:
    return sorted(r.start or 0 for _, r in store.rows(NOVEMBER))


def test_only_whole_lines_are_read_and_the_next_run_reads_what_was_added(tmp_path: Path) -> None:
    log = tmp_path / "downloads.log"
    log.write_text(lines(1, 2) + row(3).to_line()[:40])
    with Store(tmp_path / "a.db") as store:
        assert store.ingest([log]).rows == 2
        log.write_text(lines(1, 2, 3, 4))
        found = store.ingest([log])
        assert (found.lines, found.rows) == (2, 2)
        assert store.ingest([log]).lines == 0
        assert stored(store) == [1, 2, 3, 4]


def test_a_rotated_and_compressed_copy_is_read_on_from_where_it_was(tmp_path: Path) -> None:
    log = tmp_path / "downloads.log"
    log.write_text(lines(1, 2))
    with Store(tmp_path / "a.db") as store:
        store.ingest(rotated(log))
        # More was written before logrotate moved and compressed it; a new file began.
        log.write_text(lines(1, 2, 3))
        with log.open("rb") as src, gzip.open(tmp_path / "downloads.log.1.gz", "wb") as dst:
            dst.write(src.read())
        log.write_text(lines(10, 11))
        found = store.ingest(rotated(log))
        assert (found.files, found.lines, found.rows) == (2, 3, 3)
        assert stored(store) == [1, 2, 3, 10, 11]


def test_copytruncate_starts_again_from_the_first_line(tmp_path: Path) -> None:
    log = tmp_path / "downloads.log"
    log.write_text(lines(1, 2, 3))
    with Store(tmp_path / "a.db") as store:
        store.ingest([log])
        log.write_text(lines(20))
        assert store.ingest([log]).rows == 1
        assert stored(store) == [1, 2, 3, 20]


def test_the_same_line_in_two_files_is_one_row(tmp_path: Path) -> None:
    (tmp_path / "node-a.log").write_text(lines(1, 2))
    (tmp_path / "copy.log").write_text(lines(5, 1))
    with Store(tmp_path / "a.db") as store:
        found = store.ingest([tmp_path / "node-a.log", tmp_path / "copy.log"])
        assert (found.lines, found.rows) == (4, 3)


def test_lines_that_are_not_rows_are_reported_and_the_rest_counts(tmp_path: Path) -> None:
    log = tmp_path / "downloads.log"
    log.write_bytes((lines(1) + "garbage\n" + '{"v": 9}\n' + lines(2)).encode() + b"\xff\n")
    with Store(tmp_path / "a.db") as store:
        found = store.ingest([log])
        assert (found.rows, found.bad_lines) == (2, 3)
        first = found.bad[0]
        assert first[0] == str(log) and first[1] == len(lines(1))
        assert "not JSON" in first[2]
        assert stored(store) == [1, 2]


def test_rows_are_selected_by_utc_day_and_episode(tmp_path: Path) -> None:
    log = tmp_path / "downloads.log"
    text = lines(1) + row(2, time=MORNING + 86400).to_line() + "\n"
    log.write_text(text)
    with Store(tmp_path / "a.db") as store:
        store.ingest([log])
        one_day = Period.parse("2026-11-03", "2026-11-03", now=MORNING)
        assert [r.start for _, r in store.rows(one_day)] == [1]
        assert [r.start for _, r in store.rows(NOVEMBER, "podcast/other.mp3")] == []


def test_an_episode_once_read_is_kept(tmp_path: Path) -> None:
    episode = Episode("podcast/ep1.mp3", 1000, 100, 128_000, 180.0, "storage")
    with Store(tmp_path / "a.db") as store:
        store.save_episode(episode)
    with Store(tmp_path / "a.db") as store:
        assert store.episode("podcast/ep1.mp3") == episode
        assert store.episode("podcast/other.mp3") is None


def test_a_file_that_is_not_the_store_is_refused_by_name(tmp_path: Path) -> None:
    junk = tmp_path / "analytics.db"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(StoreUnusable, match="analytics.db: cannot be used as the analytics store"):
        Store(junk)


def test_a_store_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "analytics.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '0' WHERE name = 'schema'")
    with pytest.raises(StoreUnusable, match="move it aside"):
        Store(path)


def test_rotated_lists_the_log_and_its_copies(tmp_path: Path) -> None:
    for name in ("downloads.log", "downloads.log.1", "downloads.log.2.gz", "downloads.logs"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in rotated(tmp_path / "downloads.log")] == [
        "downloads.log",
        "downloads.log.1",
        "downloads.log.2.gz",
    ]
