"""Client addresses as the download log keeps them: hashed, truncated, or as they came.

IAB v2.2 identifies a listener by IP address and User-Agent, with IPv6 addresses
truncated to their first 64 bits, since a device cycles through many addresses of one
/64 ("Working with IPv6 Addresses", under Step 3), and allows hashing them "for privacy
reasons without affecting the above formulas". ``analytics.ip`` chooses what a row holds:

- ``hash`` (the default): a keyed hash of the listener's address (the whole IPv4
  address, or the IPv6 /64), under a salt that changes every UTC day and is then
  deleted. Counts are exact within the day, which is the counting window, and no one
  can recover the address once the salt is gone. The row also keeps the /24 (IPv4) or
  /48 (IPv6) network, for ``--by country``.
- ``truncate``: only that /24 or /48 network. Two listeners with the same app in one
  such network then count as one.
- ``keep``: the address as it came, for operators who may and want to keep it.

Pure: addresses and salts in, text out.
"""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_network

from geo.address import parse_client_address
from geo.errors import InvalidAddress

__all__ = [
    "HASH_PREFIX",
    "MODES",
    "coarse_network",
    "listener_address",
    "listener_network",
    "locating_address",
    "private_address",
]

MODES = ("hash", "truncate", "keep")
#: Marks a hashed address in a row, so it is never taken for an address.
HASH_PREFIX = "h:"

Address = IPv4Address | IPv6Address


def listener_network(address: Address) -> str:
    """The part of an address that names a listener: all of IPv4, the /64 of IPv6."""
    if isinstance(address, IPv4Address):
        return str(address)
    return str(IPv6Network((address, 64), strict=False))


def coarse_network(address: Address) -> str:
    """The /24 (IPv4) or /48 (IPv6) network: enough to place a listener in a country."""
    prefix = 24 if isinstance(address, IPv4Address) else 48
    return str(ip_network((address, prefix), strict=False))


def private_address(mode: str, address: Address, salt: bytes) -> tuple[str, str | None]:
    """What a row records for ``address`` under ``mode``: its ``ip`` and ``net`` fields."""
    if mode == "keep":
        return str(address), None
    if mode == "truncate":
        return coarse_network(address), None
    if mode != "hash":
        raise ValueError(f"expected one of {', '.join(MODES)}, got {mode!r}")
    digest = hmac.new(salt, listener_network(address).encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest[:32], coarse_network(address)


def listener_address(ip: str) -> str:
    """The address part of a row's listener key: the IPv6 /64 of a kept address, else as is."""
    if ip.startswith(HASH_PREFIX) or "/" in ip:
        return ip
    try:
        return listener_network(parse_client_address(ip))
    except InvalidAddress:
        return ip


def locating_address(ip: str, net: str | None) -> str | None:
    """The address to look up for a row's country: its network's first address, or its own."""
    text = net or ip
    if text.startswith(HASH_PREFIX):
        return None
    try:
        return str(ip_network(text, strict=False).network_address)
    except ValueError:
        return None
