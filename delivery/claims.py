"""Fill claims: which process fills an object, and the temporary file it fills.

A fill writes ``<dir>/tmp/<sha256 of key>.part`` and publishes it with ``rename``
(see ``objectfile`` for the format), so a reader sees either no object or a whole
one.

Several worker processes may share one directory, so the claim is held in the file
system: an exclusive ``flock`` on the temporary file itself. The kernel releases it
if the process dies, so a crash never leaves a claim behind, and whoever opens the
file can test it (a worker that finds it held follows that fill instead of starting
its own, see ``fill``). Temporary files that no live process holds are the remains
of a crash and are removed at start.

Everything here makes blocking file-system calls; ``claim``, ``publish`` and
``sweep`` are run in an executor, the cheap unlinks are not always.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

__all__ = ["TempObject", "claim", "discard", "publish", "sweep", "unlink"]


class TempObject:
    """A fill in progress: its temporary file and descriptor."""

    __slots__ = ("fd", "key", "path", "published", "reserved")

    def __init__(self, key: str, path: Path, fd: int) -> None:
        self.key = key
        self.path = path
        self.fd = fd
        self.reserved = 0
        #: Renamed into place: the journal was told as it happened.
        self.published = False


def claim(key: str, path: Path) -> TempObject | None:
    """Claim the fill of ``key`` at ``path`` for this process; None if another holds it.

    The claim is an exclusive ``flock`` on the temporary file itself. Two opens and a
    stat; raises OSError when the disk refuses.
    """
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(fd).st_ino:
            # Ours now; whatever a dead fill left in it goes.
            os.ftruncate(fd, 0)
            return TempObject(key, path, fd)
        # Between our open and our lock the file was published or cleaned away.
        os.close(fd)
    raise OSError(errno.EAGAIN, f"could not claim {path}")


def publish(temp: TempObject, final: Path) -> None:
    """Make a verified, fsynced temporary file the cached object at ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(temp.path, final)
    temp.published = True
    dir_fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def discard(temp: TempObject) -> None:
    """Remove an unfinished fill's file (cheap)."""
    unlink(temp.path)


def sweep(tmp_dir: Path) -> int:
    """Remove the temporary files no live fill holds; answers how many went."""
    return sum(_remove_if_abandoned(part) for part in tmp_dir.glob("*.part"))


def _remove_if_abandoned(part: Path) -> bool:
    """Remove a temporary file unless a live fill (of any process) holds its lock."""
    try:
        fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        return unlink(part)
    finally:
        os.close(fd)


def unlink(path: Path) -> bool:
    """Delete one of the store's files; False if it was gone (another worker was first)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
