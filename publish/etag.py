"""The ETag S3 gives an upload, computed from the file: to check that S3 stored the file.

S3 gives an object stored by one PUT (unencrypted or SSE-S3) the MD5 of its body,
in quotes. An object stored by a multipart upload gets the MD5 of its parts' binary
MD5s one after another, then "-" and the number of parts
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html says only that it
is not the body's MD5; the form is what S3, MinIO, Ceph and moto all compute). So
the check needs the part size the upload used, which is why ``part_size_for``
follows boto3's own rule for it.

An object encrypted with SSE-KMS or SSE-C has an ETag that is no digest of the body
at all; every check of it fails, and says so.
"""

from __future__ import annotations

import hashlib
import math
import re

__all__ = [
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "ETagHasher",
    "etag_problem",
    "part_size_for",
]

# S3's multipart limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
MIN_PART_SIZE = 5 * 1024**2
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000

_ETAG = re.compile(r'^(?:W/)?"?(?P<digest>[0-9a-fA-F]{32})(?:-(?P<parts>[0-9]+))?"?$')


def part_size_for(size: int, part_size: int) -> int:
    """The part size boto3 really uses for a ``size``-byte file when asked for ``part_size``.

    s3transfer's ``ChunksizeAdjuster``: double it until the file fits in MAX_PARTS
    parts, then keep it within S3's limits. An ETag computed with any other size
    would not match.
    """
    chunk = part_size
    while math.ceil(size / chunk) > MAX_PARTS:
        chunk *= 2
    return min(max(chunk, MIN_PART_SIZE), MAX_PART_SIZE)


class ETagHasher:
    """Computes the ETag S3 gives a ``size``-byte upload, fed the bytes in any slices.

    The upload is multipart when ``size`` reaches ``threshold`` (boto3's rule:
    ``size >= multipart_threshold``), with parts of ``part_size_for(size, part_size)``.
    """

    def __init__(self, size: int, *, part_size: int, threshold: int) -> None:
        self.size = size
        self.multipart = size >= threshold
        self.part_size = part_size_for(size, part_size)
        self._whole = hashlib.md5(usedforsecurity=False)
        self._part = hashlib.md5(usedforsecurity=False)
        self._in_part = 0
        self._parts: list[bytes] = []
        self._seen = 0

    def update(self, data: bytes) -> None:
        """Add the next bytes of the file."""
        self._seen += len(data)
        if not self.multipart:
            self._whole.update(data)
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self.part_size:
                self._close_part()

    def _close_part(self) -> None:
        self._parts.append(self._part.digest())
        self._part = hashlib.md5(usedforsecurity=False)
        self._in_part = 0

    def etag(self) -> str:
        """The quoted ETag, once every byte has been fed; ValueError before."""
        if self._seen != self.size:
            raise ValueError(f"fed {self._seen} bytes of a {self.size}-byte file")
        if not self.multipart:
            return f'"{self._whole.hexdigest()}"'
        parts = list(self._parts)
        if self._in_part or not parts:
            parts.append(self._part.digest())
        digest = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
        return f'"{digest}-{len(parts)}"'


def etag_problem(stored: str, computed: str) -> str | None:
    """None when S3's ETag ``stored`` is the file's ``computed`` one, else what differs."""
    theirs = _ETAG.match(stored.strip())
    ours = _ETAG.match(computed.strip())
    if ours is None:
        raise ValueError(f"not an ETag computed here: {computed!r}")
    if theirs is None:
        return f"S3's ETag {stored} is no MD5 of the body, so the upload cannot be checked"
    if theirs["digest"].lower() == ours["digest"].lower() and theirs["parts"] == ours["parts"]:
        return None
    if theirs["parts"] != ours["parts"]:
        return (
            f"S3 has ETag {stored} ({_parts(theirs['parts'])}) but the file gives "
            f"{computed} ({_parts(ours['parts'])}): S3 stored another upload"
        )
    return f"S3 has ETag {stored} but the file gives {computed}: the bytes differ"


def _parts(count: str | None) -> str:
    if count is None:
        return "one part"
    return f"{count} part" + ("" if count == "1" else "s")
