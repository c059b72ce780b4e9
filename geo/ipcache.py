"""A small LRU of lookup results keyed by the client's network, not its address.

A video player fetches a playlist and then many segments, and the students of one
school or one office share a network: caching by network makes all but the first of
their lookups a dictionary hit.

The key is the client's /24 (IPv4) or /48 (IPv6). Routes more specific than those
are commonly filtered in BGP ("Hyper-Specific Prefixes", https://arxiv.org/abs/2206.13876),
so they are the smallest blocks the internet routes separately, and a database seldom
puts two parts of one in cities far enough apart to change the nearest region.
"""

from __future__ import annotations

from collections import OrderedDict
from ipaddress import IPv4Address, IPv6Address
from typing import Generic, TypeVar

from geo.address import ClientAddress, parse_client_address
from geo.errors import InvalidAddress, InvalidSetting

V = TypeVar("V")

IPV4_PREFIX = 24
IPV6_PREFIX = 48
_IPV4_MASK = ((1 << IPV4_PREFIX) - 1) << (32 - IPV4_PREFIX)
_IPV6_MASK = ((1 << IPV6_PREFIX) - 1) << (128 - IPV6_PREFIX)


def network_key(ip: str | ClientAddress) -> str:
    """The cache key for a client address: its /24 or /48 network, as text.

    IPv4-mapped IPv6 addresses (how a dual-stack socket reports IPv4 peers) key as
    the IPv4 address they carry. Raises `InvalidAddress` for anything else that is
    not an address. An address already parsed by `parse_client_address` is taken as
    it is, saving a second parse on the request path.
    """
    address = parse_client_address(ip) if isinstance(ip, str) else ip
    # Masking the integer is several times cheaper than building an ip_network, and
    # this runs on every request.
    if isinstance(address, IPv4Address):
        return f"{IPv4Address(int(address) & _IPV4_MASK)}/{IPV4_PREFIX}"
    return f"{IPv6Address(int(address) & _IPV6_MASK)}/{IPV6_PREFIX}"


class NetworkCache(Generic[V]):
    """Least-recently-used results by client network, holding at most `maxsize` networks.

    Not thread-safe: it belongs to the event loop that serves requests. Clear it when
    the database behind the cached results is reloaded. Text that is not an address
    has no network, so `get` answers None for it and `put` ignores it; the caller's
    lookup answers such input at once anyway.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise InvalidSetting("maxsize", maxsize, "1 or more entries")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, V] = OrderedDict()

    def get(self, ip: str | ClientAddress) -> V | None:
        """The value cached for the client's network, or None; a hit becomes most recent."""
        try:
            key = network_key(ip)
        except InvalidAddress:
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:
            self.misses += 1
            return None
        self.hits += 1
        return self._entries[key]

    def put(self, ip: str | ClientAddress, value: V) -> None:
        """Cache a value for the client's network, evicting the least recently used."""
        try:
            key = network_key(ip)
        except InvalidAddress:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry, e.g. after the database they came from was replaced."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
