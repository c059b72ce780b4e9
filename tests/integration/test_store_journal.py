"""The journal through which workers sharing a store see each other's fills and changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from delivery.journal import MAX_BYTES, Journal


def pair(tmp_path: Path) -> tuple[Journal, Journal]:
    path = tmp_path / "journal"
    return Journal(path, pid=1), Journal(path, pid=2)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_a_reservation_is_seen_by_the_other_worker_until_released(tmp_path: Path) -> None:
    one, two = Journal(tmp_path / "journal", pid=_alive_pid()), Journal(tmp_path / "journal")
    one.reserve("podcast/ep-1.mp3", 3_000_000)
    assert two.read().changed is False
    assert two.others_reserved == 3_000_000
    one.release("podcast/ep-1.mp3")
    two.read()
    assert two.others_reserved == 0


def _alive_pid() -> int:
    # The test runner's parent: alive for as long as this test runs, and not ours.
    import os

    return os.getppid()


def test_a_worker_does_not_count_its_own_lines(tmp_path: Path) -> None:
    one, _ = pair(tmp_path)
    one.reserve("a", 10)
    one.changed()
    assert one.read().changed is False
    assert one.others_reserved == 0


def test_a_change_by_another_worker_asks_for_a_directory_read(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    reader = Journal(path)
    reader.read()
    Journal(path, pid=_alive_pid()).changed()
    assert reader.read().changed is True
    assert reader.read().changed is False, "each line is taken once"


def test_reservations_of_a_dead_worker_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    Journal(path, pid=dead_pid()).reserve("podcast/ep-2.mp3", 5_000_000)
    reader = Journal(path)
    reader.read()
    assert reader.others_reserved == 0


def test_a_half_written_line_is_read_next_time(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    reader = Journal(path)
    other = _alive_pid()
    path.write_bytes(f"{other} r 100 a\n{other} r 2".encode())
    reader.read()
    assert reader.others_reserved == 100
    with path.open("ab") as f:
        f.write(b"00 b\n")
    reader.read()
    assert reader.others_reserved == 300


def test_an_emptied_journal_tells_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    writer, reader = Journal(path, pid=_alive_pid()), Journal(path)
    writer.reserve("a", 1)
    reader.read()
    path.write_bytes(b"x" * (MAX_BYTES + 1))
    assert writer.trim() is True
    news = reader.read()
    assert news.changed and news.replaced
    assert reader.others_reserved == 0, "the old file's reservations are said again, not kept"
    assert writer.trim() is False
