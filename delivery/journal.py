"""What the other workers sharing a store did since this one last looked: a shared journal.

Workers sharing a cache directory each keep their own index of it. Before evicting,
a worker must know what the others published, removed and are filling, or two of
them, each under the cap by its own count, go over it together. Re-reading the
whole directory before every fill would cost a ``stat`` per cached file; instead
each worker appends a line here whenever it changes the store, and reads the lines
the others appended since its last look:

* ``<pid> r <size> <key>`` a fill reserved ``size`` bytes (written under ``evict.lock``);
* ``<pid> u <key>`` that reservation ended (the fill published or gave up);
* ``<pid> c`` the directory changed (a publish, an eviction, a purge): re-read it.

Lines are short single ``O_APPEND`` writes, so they never interleave. Past
``MAX_BYTES`` a worker holding ``evict.lock`` empties the file; the others notice
it shrank and re-read the directory, as they do after a ``c``. Reservations of a
worker that died (its pid gone) are dropped: its fill's file was never published.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_BYTES", "Journal", "News"]

#: Emptied past this size: about 20,000 publishes' worth of lines.
MAX_BYTES = 1024 * 1024


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class News:
    """What a read of the journal found: whether to re-read the directory."""

    changed: bool = False
    #: The file was replaced (emptied): every worker says again what it is filling.
    replaced: bool = False


@dataclass
class Journal:
    """One worker's end of a store's journal file."""

    path: Path
    pid: int = field(default_factory=os.getpid)
    #: (pid, key) -> bytes reserved by fills of other workers.
    reserved: dict[tuple[int, str], int] = field(default_factory=dict)
    _offset: int = 0
    _inode: int = -1

    @property
    def others_reserved(self) -> int:
        """Bytes the other workers' fills have reserved and not yet released."""
        return sum(self.reserved.values())

    def _append(self, line: str) -> None:
        # One write of one short line; the key is ours (no newline can be in it: keys
        # are URL paths, and a newline would have been refused as a request line).
        data = (f"{self.pid} {line}\n").encode("utf-8", "surrogateescape")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def reserve(self, key: str, size: int) -> None:
        self._append(f"r {size} {key}")

    def release(self, key: str) -> None:
        self._append(f"u {key}")

    def changed(self) -> None:
        self._append("c")

    def read(self) -> News:
        """Take in the other workers' lines since the last read (blocking; cheap)."""
        news = News()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return news
        try:
            st = os.fstat(fd)
            if st.st_ino != self._inode or st.st_size < self._offset:
                # A new file, or emptied by a worker: what it said is gone with it.
                news.changed = news.replaced = self._inode != -1
                self._inode = st.st_ino
                self._offset = 0
                self.reserved.clear()
            data = os.pread(fd, st.st_size - self._offset, self._offset)
        finally:
            os.close(fd)
        # Only whole lines: a line being written this instant is read next time.
        end = data.rfind(b"\n") + 1
        self._offset += end
        for raw in data[:end].splitlines():
            self._take(raw.decode("utf-8", "surrogateescape"), news)
        for pid, key in [entry for entry in self.reserved if not _alive(entry[0])]:
            del self.reserved[(pid, key)]
        return news

    def _take(self, line: str, news: News) -> None:
        pid_text, _, rest = line.partition(" ")
        kind, _, rest = rest.partition(" ")
        with contextlib.suppress(ValueError):
            pid = int(pid_text)
            if pid == self.pid:
                return
            if kind == "r":
                size, _, key = rest.partition(" ")
                self.reserved[(pid, key)] = int(size)
            elif kind == "u":
                self.reserved.pop((pid, rest), None)
            elif kind == "c":
                news.changed = True

    def trim(self) -> bool:
        """Empty the file once it is large (hold ``evict.lock``); True if it was emptied."""
        try:
            if os.stat(self.path).st_size <= MAX_BYTES:
                return False
        except FileNotFoundError:
            return False
        # Replace rather than truncate: a new inode tells every reader, even one that
        # had read to exactly the old size. Fills in progress say so again below.
        partial = self.path.with_name(self.path.name + ".new")
        partial.write_bytes(b"")
        os.replace(partial, self.path)
        self._inode = os.stat(self.path).st_ino
        self._offset = 0
        return True
