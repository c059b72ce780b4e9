"""The embedded SQLite store: the rows read so far, how far each log was read, what each episode is.

``castedge stats`` and ``/admin/stats`` read logs into it, so the next run reads only
lines added since; then they count from it. Three tables:

- ``sources``: for each log file (known by its first line, see ``logfiles``), how
  many bytes of it have been read;
- ``requests``: the rows, each under the hash of its line, so a line read twice
  (from two copies of one file) is stored once;
- ``episodes``: each episode's size, tag and bitrate, once read from a file.

A line that is not a row is skipped and reported, never stored: it may be a line cut
short by a crash, and the rest of the file still counts.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .count import Episode
from .errors import BadRow, StoreUnusable
from .logfiles import fingerprint, lines_from
from .period import Period, utc_day
from .row import Row

__all__ = ["SCHEMA_VERSION", "Ingested", "Store", "line_id"]

SCHEMA_VERSION = "1"
#: Rows written to SQLite in one transaction, with the offset they reach.
BATCH = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    fingerprint TEXT PRIMARY KEY, path TEXT NOT NULL, offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, time REAL NOT NULL, day TEXT NOT NULL, node TEXT NOT NULL,
    method TEXT NOT NULL, status INTEGER NOT NULL, key TEXT NOT NULL, size INTEGER,
    start INTEGER, "end" INTEGER, sent INTEGER NOT NULL, ip TEXT NOT NULL, net TEXT,
    agent TEXT NOT NULL, referer TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_day ON requests (day, key);
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, audio_start INTEGER NOT NULL,
    bitrate INTEGER, duration REAL, source TEXT NOT NULL
);
"""

_INSERT = (
    "INSERT OR IGNORE INTO requests (id, day, time, node, method, status, key, size, start, "
    '"end", sent, ip, net, agent, referer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
_SELECT = (
    'SELECT id, time, node, method, status, key, size, start, "end", sent, ip, net, agent, '
    "referer FROM requests WHERE day BETWEEN ? AND ? ORDER BY time"
)
_SELECT_EPISODE = (
    'SELECT id, time, node, method, status, key, size, start, "end", sent, ip, net, agent, '
    "referer FROM requests WHERE day BETWEEN ? AND ? AND key = ? ORDER BY time"
)


def line_id(line: bytes) -> str:
    """The name a log line is stored under: the same line read twice is one row."""
    return hashlib.sha256(line).hexdigest()[:32]


@dataclass
class Ingested:
    """What reading some logs found."""

    files: int = 0
    lines: int = 0
    rows: int = 0
    #: (file, byte offset of the line, why it is not a row), the first few of them.
    bad: list[tuple[str, int, str]] = field(default_factory=list)
    bad_lines: int = 0


class Store:
    """The SQLite file ``analytics.db``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            # Readers (the admin endpoint) and a writer (castedge stats) at once.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif found[0] != SCHEMA_VERSION:
                raise StoreUnusable(
                    f"{path}: a store of schema {found[0]}, not {SCHEMA_VERSION}; "
                    "move it aside and run again to rebuild it from the logs"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreUnusable(f"{path}: cannot be used as the analytics store: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading logs --------------------------------------------------------------

    def ingest(self, paths: Iterable[Path], found: Ingested | None = None) -> Ingested:
        """Read what is new in each log file into the store."""
        found = found or Ingested()
        for path in paths:
            mark = fingerprint(path)
            if mark is None:
                continue
            found.files += 1
            known = self._db.execute(
                "SELECT offset FROM sources WHERE fingerprint = ?", (mark,)
            ).fetchone()
            offset = known[0] if known else 0
            batch: list[tuple[object, ...]] = []
            for line, end in lines_from(path, offset):
                found.lines += 1
                try:
                    row = Row.from_line(line.decode("utf-8"))
                except (BadRow, UnicodeDecodeError) as exc:
                    found.bad_lines += 1
                    if len(found.bad) < 5:
                        found.bad.append((str(path), offset, str(exc)))
                else:
                    batch.append((line_id(line), *_values(row)))
                offset = end
                if len(batch) >= BATCH:
                    found.rows += self._save(batch, mark, path, offset)
                    batch = []
            found.rows += self._save(batch, mark, path, offset)
        return found

    def _save(self, batch: list[tuple[object, ...]], mark: str, path: Path, offset: int) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(_INSERT, batch)
            added = db.total_changes - before
            db.execute(
                "INSERT INTO sources VALUES (?, ?, ?) ON CONFLICT (fingerprint) "
                "DO UPDATE SET path = excluded.path, offset = excluded.offset",
                (mark, str(path), offset),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return added

    # -- reading rows ----------------------------------------------------------------

    def rows(self, period: Period, episode: str | None = None) -> Iterator[tuple[str, Row]]:
        """The rows of the period's days (of one episode), in time order, with their ids."""
        if episode is None:
            found = self._db.execute(_SELECT, (period.first, period.last))
        else:
            found = self._db.execute(_SELECT_EPISODE, (period.first, period.last, episode))
        for row in found:
            yield row[0], Row(*row[1:])

    # -- episodes ----------------------------------------------------------------------

    def episode(self, key: str) -> Episode | None:
        found = self._db.execute(
            "SELECT size, audio_start, bitrate, duration, source FROM episodes WHERE key = ?",
            (key,),
        ).fetchone()
        return None if found is None else Episode(key, *found)

    def save_episode(self, episode: Episode) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO episodes VALUES (?, ?, ?, ?, ?, ?)",
            (
                episode.key,
                episode.size,
                episode.audio_start,
                episode.bitrate,
                episode.duration,
                episode.source,
            ),
        )


def _values(row: Row) -> tuple[object, ...]:
    return (
        utc_day(row.time),
        row.time,
        row.node,
        row.method,
        row.status,
        row.key,
        row.size,
        row.start,
        row.end,
        row.sent,
        row.ip,
        row.net,
        row.agent,
        row.referer,
    )
