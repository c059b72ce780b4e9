"""A writer for small MaxMind DB files (the format of GeoLite2 and DB-IP's mmdb files).

The format is a binary trie over the address's bits, a data section of typed values,
and a metadata map, specified in https://maxmind.github.io/MaxMind-DB/. This writer
does only what the demo's handful of networks needs: IPv6 trees (IPv4 networks sit
under ``::/96``, where readers look them up), 24-bit records, and the value types a
City record uses (maps, arrays, UTF-8 strings, doubles, unsigned integers, booleans).
It needs nothing beyond the standard library, so the demo installs nothing for it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Unsigned", "encode", "mmdb_bytes"]

#: 24-bit records address at most 2**24 nodes and data offsets together.
RECORD_BITS = 24
METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
#: The data section starts after 16 zero bytes; pointers from the tree count from there.
DATA_SEPARATOR = bytes(16)

# Data types, https://maxmind.github.io/MaxMind-DB/#output-data-section
_UTF8, _DOUBLE, _UINT16, _UINT32, _MAP = 2, 3, 5, 6, 7
_UINT64, _UINT128, _ARRAY, _BOOLEAN = 9, 10, 11, 14


_UNSIGNED = {16: _UINT16, 32: _UINT32, 64: _UINT64, 128: _UINT128}


class Unsigned(NamedTuple):
    """An unsigned integer of a stated width, where a reader insists on one.

    libmaxminddb refuses a database whose ``node_count`` is not a uint32 or whose
    ``build_epoch`` is not a uint64, whatever their values; a plain ``int`` takes the
    narrowest type that holds it.
    """

    bits: int
    value: int


def _control(kind: int, size: int) -> bytes:
    """The control byte (and extended type and size bytes) for a value of ``kind``."""
    first, extended = (kind << 5, b"") if kind <= 7 else (0, bytes((kind - 7,)))
    if size < 29:
        return bytes((first | size,)) + extended
    if size < 29 + 256:
        return bytes((first | 29,)) + extended + bytes((size - 29,))
    if size < 285 + 65536:
        return bytes((first | 30,)) + extended + (size - 285).to_bytes(2, "big")
    return bytes((first | 31,)) + extended + (size - 65821).to_bytes(3, "big")


def encode(value: object) -> bytes:
    """One value in the data section's encoding; TypeError for a type it cannot hold."""
    if isinstance(value, bool):
        # A boolean's value is its size; it has no payload.
        return _control(_BOOLEAN, int(value))
    if isinstance(value, str):
        raw = value.encode()
        return _control(_UTF8, len(raw)) + raw
    if isinstance(value, float):
        return _control(_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, Unsigned):
        if value.bits not in _UNSIGNED or not 0 <= value.value < 2**value.bits:
            raise TypeError(f"{value.value} is not a uint{value.bits}")
        # Unsigned integers are big-endian with leading zero bytes left out.
        raw = value.value.to_bytes((value.value.bit_length() + 7) // 8, "big")
        return _control(_UNSIGNED[value.bits], len(raw)) + raw
    if isinstance(value, int):
        bits = next((bits for bits in _UNSIGNED if 0 <= value < 2**bits), None)
        if bits is None:
            raise TypeError(f"only unsigned integers below 2**128 are written, not {value}")
        return encode(Unsigned(bits, value))
    if isinstance(value, Mapping):
        parts = [encode(str(key)) + encode(item) for key, item in value.items()]
        return _control(_MAP, len(parts)) + b"".join(parts)
    if isinstance(value, list | tuple):
        return _control(_ARRAY, len(value)) + b"".join(encode(item) for item in value)
    raise TypeError(f"cannot write a {type(value).__name__} into a MaxMind DB")


@dataclass
class _Node:
    children: list[_Node | int | None] = field(default_factory=lambda: [None, None])


def _bits(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """The network as 128 address bits and a prefix length in the IPv6 tree."""
    if isinstance(network, ipaddress.IPv4Network):
        # IPv4 lives at ::a.b.c.d/96+n, where readers start IPv4 lookups.
        return int(network.network_address), 96 + network.prefixlen
    return int(network.network_address), network.prefixlen


def mmdb_bytes(
    networks: Iterable[tuple[str, Mapping[str, object]]],
    *,
    database_type: str,
    description: str,
    build_epoch: int,
    languages: tuple[str, ...] = ("en",),
) -> bytes:
    """A whole IPv6 MaxMind DB placing each network's addresses in its record.

    Networks may not overlap (ValueError): the demo's never do, and a writer that
    allowed it would have to decide which record wins.
    """
    data = bytearray()
    offsets: dict[bytes, int] = {}
    root = _Node()
    for text, record in networks:
        network = ipaddress.ip_network(text)
        encoded = encode(record)
        # Equal records are stored once, as real databases store a city's record once.
        offset = offsets.setdefault(encoded, len(data))
        if offset == len(data):
            data += encoded
        address, length = _bits(network)
        node = root
        for depth in range(length):
            bit = (address >> (127 - depth)) & 1
            child = node.children[bit]
            last = depth == length - 1
            if isinstance(child, int) or (last and child is not None):
                raise ValueError(f"{text} overlaps another network")
            if last:
                node.children[bit] = offset
            else:
                if child is None:
                    child = node.children[bit] = _Node()
                node = child
    # Number the nodes breadth first; a record then names a node, no data, or data.
    order: list[_Node] = [root]
    for node in order:
        order.extend(child for child in node.children if isinstance(child, _Node))
    if len(order) + len(DATA_SEPARATOR) + len(data) >= 2**RECORD_BITS:
        raise ValueError("too many networks for 24-bit records")
    index = {id(node): n for n, node in enumerate(order)}
    count = len(order)
    tree = bytearray()
    for node in order:
        for child in node.children:
            if child is None:
                value = count
            elif isinstance(child, _Node):
                value = index[id(child)]
            else:
                value = count + len(DATA_SEPARATOR) + child
            tree += value.to_bytes(RECORD_BITS // 8, "big")
    # The types the specification gives each key, https://maxmind.github.io/MaxMind-DB/#database-metadata
    metadata = {
        "binary_format_major_version": Unsigned(16, 2),
        "binary_format_minor_version": Unsigned(16, 0),
        "build_epoch": Unsigned(64, build_epoch),
        "database_type": database_type,
        "description": {"en": description},
        "ip_version": Unsigned(16, 6),
        "languages": list(languages),
        "node_count": Unsigned(32, count),
        "record_size": Unsigned(16, RECORD_BITS),
    }
    return bytes(tree) + DATA_SEPARATOR + bytes(data) + METADATA_MARKER + encode(metadata)
