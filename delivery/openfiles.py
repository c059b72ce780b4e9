"""The open-file cache: descriptors of cached objects kept open between hits.

Hits never leave the event-loop thread: open descriptors and their parsed headers
are kept (nginx's ``open_file_cache``), revalidated with one ``stat`` every few
seconds so a change made by another process shows up: an object another worker
evicted, removed or published again is opened afresh.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from .errors import CorruptObject
from .objectfile import HEADER_ALIGN, ObjectMeta, decode_header

__all__ = ["OPEN_FILES", "REVALIDATE_SECONDS", "Handle", "OpenFiles"]

# The disk store's logger, whichever of its modules speaks.
log = logging.getLogger("castedge.store")

#: How long an open descriptor is trusted before one ``stat`` checks that the file
#: was not replaced or removed by another process (nginx: open_file_cache_valid 60s).
REVALIDATE_SECONDS = 5.0
#: Open descriptors kept for hits (nginx's open_file_cache max is set per site; the
#: default RLIMIT_NOFILE of systemd services is 1024 soft / 524288 hard).
OPEN_FILES = 1024


class Handle:
    """An open cached object: descriptor, metadata and where the body starts."""

    __slots__ = ("body_offset", "checked", "fd", "ino", "key", "meta", "refs", "stale", "touched")

    def __init__(self, key: str, fd: int, meta: ObjectMeta, body_offset: int, ino: int) -> None:
        self.key = key
        self.fd = fd
        self.meta = meta
        self.body_offset = body_offset
        self.ino = ino
        self.refs = 0
        self.checked = 0.0
        self.touched = 0.0
        self.stale = False


class OpenFiles:
    """Handles on cached objects, least recently used first, at most ``capacity`` open.

    A reader that takes a handle counts itself in ``refs`` and gives it back with
    ``release``. A handle forgotten while in use is marked ``stale`` and its
    descriptor stays open until the last ``release``, so a response never loses the
    file it is sending. ``now`` is a monotonic time, passed in.
    """

    def __init__(
        self,
        path_for: Callable[[str], Path],
        *,
        capacity: int = OPEN_FILES,
        valid: float = REVALIDATE_SECONDS,
    ) -> None:
        self._path_for = path_for
        self._capacity = capacity
        self._valid = valid
        self._open: OrderedDict[str, Handle] = OrderedDict()

    def get(self, key: str, now: float) -> Handle | None:
        """The kept handle on ``key``; None if there is none or its file was replaced."""
        handle = self._open.get(key)
        if handle is None:
            return None
        if now - handle.checked > self._valid:
            try:
                current = os.stat(self._path_for(key)).st_ino
            except OSError:
                current = -1
            if current != handle.ino:
                self.forget(key)
                return None
            handle.checked = now
        self._open.move_to_end(key)
        return handle

    def open(self, key: str, now: float) -> Handle | None:
        """Open the cached file of ``key`` and keep a handle on it.

        Raises OSError (FileNotFoundError when there is no such file) when it cannot
        be opened. Answers None, having said why in the log, when its header cannot
        be trusted; the caller drops the file.
        """
        fd = os.open(self._path_for(key), os.O_RDONLY | os.O_CLOEXEC)
        try:
            meta, body_offset = decode_header(os.pread(fd, HEADER_ALIGN, 0))
            st = os.fstat(fd)
            if meta.key != key or st.st_size != body_offset + meta.size:
                raise CorruptObject("header does not match the file")
        except (OSError, CorruptObject) as exc:
            os.close(fd)
            log.warning("cache file for %r unreadable, dropping it: %s", key, exc)
            return None
        handle = Handle(key, fd, meta, body_offset, st.st_ino)
        handle.checked = now
        handle.touched = st.st_mtime
        self._open[key] = handle
        while len(self._open) > self._capacity:
            self.forget(next(iter(self._open)))
        return handle

    def release(self, handle: Handle) -> None:
        """Give back a handle a reader took, closing it if it was forgotten meanwhile."""
        handle.refs -= 1
        if handle.stale and handle.refs == 0:
            os.close(handle.fd)

    def forget(self, key: str) -> None:
        """Stop keeping the handle on ``key`` (its file was evicted, removed or replaced)."""
        handle = self._open.pop(key, None)
        if handle is not None:
            _retire(handle)

    def in_use(self) -> set[str]:
        """Keys whose handles a reader holds: they must not be evicted under it."""
        return {key for key, handle in self._open.items() if handle.refs}

    def close(self) -> None:
        """Close every kept descriptor (those still in use at their last ``release``)."""
        for handle in self._open.values():
            _retire(handle)
        self._open.clear()


def _retire(handle: Handle) -> None:
    handle.stale = True
    if handle.refs == 0:
        os.close(handle.fd)
