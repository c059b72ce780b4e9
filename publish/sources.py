"""The files a publish names: each one's path on disk, its key, size and Content-Type.

A directory is walked in name order, leaving out hidden names (``.DS_Store``,
``.git``). A link to a directory inside it is refused rather than followed (it may
lead back up the tree) or skipped (its files would go missing without a word).
Every key is checked by the rules the delivery applies to request paths
(``delivery.admin.plain_key``), so nothing is uploaded that no origin or edge would
serve.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from delivery.admin import plain_key
from delivery.errors import BadKey
from delivery.mediatypes import content_type_for

from .errors import BadSource
from .naming import is_hidden, key_for, unique_keys

__all__ = ["Source", "collect"]


@dataclass(frozen=True)
class Source:
    """One file to publish and the object it becomes."""

    path: Path
    key: str
    size: int
    content_type: str


def collect(paths: Sequence[str], prefix: str) -> list[Source]:
    """The files under ``paths`` (files or directories) with their keys below ``prefix``.

    Raises BadSource for a path that does not exist, a directory with nothing to
    publish, a name that cannot be a key, or two files that would share a key;
    nothing has been uploaded by then.
    """
    named: list[tuple[str, str]] = []
    for given in paths:
        found = list(_files(Path(given)))
        if not found:
            raise BadSource(given, "holds no files to publish (hidden names are left out)")
        for path, parts in found:
            named.append((str(path), _checked(path, key_for(prefix, parts))))
    sources: list[Source] = []
    for name, key in unique_keys(named):
        info = os.stat(name)
        sources.append(Source(Path(name), key, info.st_size, content_type_for(key)))
    return sources


def _files(root: Path) -> Iterator[tuple[Path, list[str]]]:
    try:
        info = root.stat()
    except OSError as exc:
        raise BadSource(str(root), exc.strerror or str(exc)) from None
    if stat.S_ISREG(info.st_mode):
        yield root, [root.name]
        return
    if not stat.S_ISDIR(info.st_mode):
        raise BadSource(str(root), "is neither a file nor a directory")

    def refuse(error: OSError) -> None:
        raise BadSource(error.filename or str(root), error.strerror or str(error))

    for directory, dirs, files in os.walk(root, onerror=refuse):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in dirs:
            if Path(directory, name).is_symlink():
                raise BadSource(
                    str(Path(directory, name)), "is a link to a directory: publish it by itself"
                )
        below = Path(directory).relative_to(root).parts
        for name in sorted(files):
            path = Path(directory, name)
            if is_hidden(name):
                continue
            if not path.is_file():
                raise BadSource(str(path), "is not a regular file")
            yield path, [*below, name]


def _checked(path: Path, key: str) -> str:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise BadSource(str(path), "its name is not UTF-8, which an S3 key must be") from None
    try:
        return plain_key(key)
    except BadKey as exc:
        # plain_key quotes the key first, so what it calls "encoded" is in the name itself.
        reason = exc.reason.removeprefix("encoded ")
        raise BadSource(str(path), f"cannot be published as {key!r}: {reason}") from None
