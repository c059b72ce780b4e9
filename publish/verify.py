"""Checking that S3 holds the file: its size, and the ETag computed from the file's bytes."""

from __future__ import annotations

from .errors import ChecksumMismatch
from .etag import ETagHasher, etag_problem
from .sources import Source
from .upload import Stored

__all__ = ["file_etag", "verify"]

#: Read size while hashing: large enough for few system calls, small for memory.
_CHUNK = 1024 * 1024


def file_etag(source: Source, *, part_size: int, threshold: int) -> str:
    """The ETag S3 gives ``source`` uploaded with ``part_size`` parts from ``threshold`` on."""
    hasher = ETagHasher(source.size, part_size=part_size, threshold=threshold)
    read = 0
    with open(source.path, "rb") as file:
        while chunk := file.read(_CHUNK):
            read += len(chunk)
            if read > source.size:
                break
            hasher.update(chunk)
    if read != source.size:
        raise ChecksumMismatch(
            source.key, "", "", f"{source.path} changed size while it was published"
        )
    return hasher.etag()


def verify(source: Source, stored: Stored, computed: str) -> None:
    """Raise ChecksumMismatch unless ``stored`` is ``source``'s bytes (``computed`` ETag)."""
    if stored.size != source.size:
        raise ChecksumMismatch(
            source.key,
            stored.etag,
            computed,
            f"S3 holds {stored.size} bytes but the file has {source.size}",
        )
    problem = etag_problem(stored.etag, computed)
    if problem is not None:
        raise ChecksumMismatch(source.key, stored.etag, computed, problem)
