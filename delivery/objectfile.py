"""The on-disk form of a cached object: a metadata header, then the body.

One file holds both, so the rename that publishes a fill publishes its metadata in
the same atomic step (nginx's proxy_cache does the same), and a hit needs one open.

Layout::

    0       8 bytes   MAGIC
    8       4 bytes   big-endian length N of the JSON that follows
    12      N bytes   UTF-8 JSON: key, size, etag, last_modified, content_type
    ...     zero padding up to ``body_offset`` (a multiple of 4096, so the body
            starts page-aligned and sendfile reads whole pages)
    body_offset       the object's bytes, exactly ``size`` of them
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass

from .errors import CorruptObject

__all__ = ["HEADER_ALIGN", "MAGIC", "ObjectMeta", "decode_header", "encode_header"]

MAGIC = b"CASTEDG\x01"
HEADER_ALIGN = 4096
_PREFIX = struct.Struct(">8sI")
#: A header larger than this is corrupt: the JSON holds a key of at most 1 KiB.
MAX_HEADER = 4 * HEADER_ALIGN


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What every node of the fleet agrees on about one object (taken from S3)."""

    key: str
    size: int
    etag: str
    last_modified: int
    content_type: str


def encode_header(meta: ObjectMeta) -> bytes:
    """Return the header bytes, padded to where the body starts."""
    doc = json.dumps(asdict(meta), separators=(",", ":"), ensure_ascii=False).encode()
    raw = _PREFIX.pack(MAGIC, len(doc)) + doc
    body_offset = -(-len(raw) // HEADER_ALIGN) * HEADER_ALIGN
    return raw + b"\0" * (body_offset - len(raw))


def decode_header(buf: bytes) -> tuple[ObjectMeta, int]:
    """Parse a header read from the start of an object file.

    Returns the metadata and the body offset. ``buf`` must hold at least the whole
    JSON document (reading ``HEADER_ALIGN`` bytes is enough for any real key).
    """
    if len(buf) < _PREFIX.size:
        raise CorruptObject("header shorter than its prefix")
    magic, length = _PREFIX.unpack_from(buf)
    if magic != MAGIC:
        raise CorruptObject("not a castedge object file")
    end = _PREFIX.size + length
    if end > min(len(buf), MAX_HEADER):
        raise CorruptObject(f"header of {length} bytes does not fit")
    try:
        doc = json.loads(buf[_PREFIX.size : end])
        meta = ObjectMeta(
            key=str(doc["key"]),
            size=int(doc["size"]),
            etag=str(doc["etag"]),
            last_modified=int(doc["last_modified"]),
            content_type=str(doc["content_type"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptObject(f"header metadata unreadable: {exc}") from exc
    if meta.size < 0:
        raise CorruptObject("negative size")
    return meta, -(-end // HEADER_ALIGN) * HEADER_ALIGN
