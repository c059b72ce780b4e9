"""A GeoIP2 City reader that picks up a replaced database file without a restart.

geoipupdate writes a new database beside the old one and renames it into place, a
few times a week at most. `ReloadingReader` notices (a `stat` of the path, at most
once per `check_interval`), opens the new file, checks it can answer, and swaps it in
with a single reference assignment, while lookups on any thread carry on. geoip2
has no such feature (https://github.com/maxmind/GeoIP2-python/issues/61).

Nothing here runs on its own: the locator calls `maybe_reload` from a background
task (through `asyncio.to_thread`, since opening and probing a file is blocking I/O)
and clears its lookup cache when it answers True.

Replace the file by rename, as geoipupdate does. Writing into the existing file in
place changes pages every memory-mapped reader of it is using, in this process or
any other (nginx included); no reader design can make that safe.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import NamedTuple, Self

import geoip2.database
import geoip2.errors
import geoip2.models
import maxminddb.reader

from geo.errors import DatabaseUnreadable, InvalidSetting

# A stat is a few microseconds and geoipupdate runs a few times a week at most, so a
# minute between checks costs nothing and delays a new database by a minute.
DEFAULT_CHECK_INTERVAL = 60.0

# Addresses looked up in a newly opened file before it may serve: public resolvers
# spread over the IPv4 and IPv6 trees. A file whose tree or data section is damaged
# fails here instead of in a client's lookup.
_PROBES = ("1.1.1.1", "8.8.8.8", "9.9.9.9", "2606:4700:4700::1111", "2001:4860:4860::8888")


class _Signature(NamedTuple):
    """What identifies one version of the file: a rename brings a new inode."""

    device: int
    inode: int
    size: int
    mtime_ns: int


# Stands for "the path could not be stat'ed", so a missing file is reported once.
_MISSING = _Signature(-1, -1, -1, -1)


class ReloadingReader:
    """Answer GeoIP2 City lookups from the newest good version of a database file.

    Lookups (`city`) may run on any number of threads while another thread calls
    `maybe_reload`. A new file that cannot be opened, is not a City database, or
    fails its probe lookups is counted in `failed_reloads` and described by
    `last_error`; the previous database keeps serving and the same broken file is
    not tried again until it changes.

    `mode` is passed to geoip2: the default MODE_AUTO memory-maps the file through
    libmaxminddb's C extension when it is installed and through Python's `mmap`
    otherwise, so each version costs address space, not resident memory.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        mode: int = geoip2.database.MODE_AUTO,
    ) -> None:
        if not check_interval >= 0.0:
            raise InvalidSetting("check_interval", check_interval, "seconds, 0 or more")
        self.path = os.fspath(path)
        self.reloads = 0
        self.failed_reloads = 0
        self.last_error: DatabaseUnreadable | None = None
        self._clock = clock
        self._check_interval = check_interval
        self._mode = mode
        self._reload_lock = threading.Lock()
        signature = self._stat()
        if signature == _MISSING:
            raise DatabaseUnreadable(self.path, "no such file, or it cannot be read")
        self._current = _open_checked(self.path, mode)
        self._signature = signature
        self._rejected: _Signature | None = None
        self._last_check = clock()

    def city(self, ip_address: str) -> geoip2.models.City:
        """Look an address up in the current database, as `geoip2.database.Reader.city`."""
        # One read of `_current`; the call then holds that reader for its whole length,
        # whatever `maybe_reload` does meanwhile (see there).
        return self._current.city(ip_address)

    def metadata(self) -> maxminddb.reader.Metadata:
        """The current database's metadata (type, build time), for status output."""
        return self._current.metadata()

    def maybe_reload(self, *, force: bool = False) -> bool:
        """Swap in the file at `path` if it changed; answer True when a new one now serves.

        Skipped (False) when less than `check_interval` has passed since the last check,
        unless `force`, or while another thread is already reloading.
        """
        now = self._clock()
        if not force and now - self._last_check < self._check_interval:
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            self._last_check = now
            return self._reload_if_changed()
        finally:
            self._reload_lock.release()

    def _reload_if_changed(self) -> bool:
        # Stat before opening: if the file is replaced again between the two, the
        # version we opened is newer than the signature we keep, and the next check
        # opens it once more. Harmless; the reverse order could miss a version.
        signature = self._stat()
        if signature in (self._signature, self._rejected):
            return False
        if signature == _MISSING:
            self._reject(signature, "no such file, or it cannot be read")
            return False
        try:
            new = _open_checked(self.path, self._mode)
        except DatabaseUnreadable as exc:
            self._reject(signature, exc.reason)
            return False
        # The swap. The old reader is deliberately never closed: a lookup on another
        # thread may have read `_current` just before this line and still be walking
        # the old file's memory map. Closing would unmap it under that walk
        # (maxminddb's close() warns that reads in progress may then fail; nginx's
        # geoip2 module crashed doing the equivalent in C). Every lookup holds the
        # reader it started with until it returns, so dropping our reference here
        # lets reference counting free the reader, and unmap the old file, exactly
        # when the last such lookup finishes: a grace period that needs no lock and
        # no timer.
        self._current = new
        self._signature = signature
        self._rejected = None
        self.last_error = None
        self.reloads += 1
        return True

    def _reject(self, signature: _Signature, reason: str) -> None:
        self._rejected = signature
        self.failed_reloads += 1
        self.last_error = DatabaseUnreadable(self.path, reason)

    def _stat(self) -> _Signature:
        try:
            st = os.stat(self.path)
        except OSError:
            return _MISSING
        return _Signature(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        """Close the current database; only once no lookup can still be running."""
        self._current.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open_checked(path: str, mode: int) -> geoip2.database.Reader:
    """Open a database file and prove it can serve City lookups, or raise `DatabaseUnreadable`."""
    try:
        reader = geoip2.database.Reader(path, mode=mode)
    except Exception as exc:
        # Decoding metadata from arbitrary bytes can fail with almost any exception
        # type (InvalidDatabaseError, OSError, ValueError, TypeError, KeyError...);
        # each means the same thing here, and none may stop the reloading task.
        raise DatabaseUnreadable(path, f"cannot be opened: {exc}") from exc
    database_type = reader.metadata().database_type
    if "City" not in database_type:
        # No lookup has seen this reader, so closing it is safe.
        reader.close()
        raise DatabaseUnreadable(path, f"is a {database_type} database, not a City database")
    ipv4_only = reader.metadata().ip_version == 4
    for probe in _PROBES:
        if ipv4_only and ":" in probe:
            continue
        try:
            reader.city(probe)
        except geoip2.errors.AddressNotFoundError:
            continue
        except Exception as exc:
            reader.close()
            raise DatabaseUnreadable(path, f"lookup of {probe} fails: {exc}") from exc
    return reader
