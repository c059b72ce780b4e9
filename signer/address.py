"""Binding a token to one client address or network (IPv4 or IPv6), and checking it.

A bound token names a single address (``203.0.113.7``, ``2001:db8::1``) or a network in
CIDR notation (``203.0.113.0/24``, ``2001:db8:ab::/48``). Binding to a network lets a
student keep watching when a mobile carrier or a privacy extension moves them within it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from signer.errors import ClaimError

__all__ = ["canonical_network", "ip_problem"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv4 clients reaching a dual-stack socket appear as ::ffff:a.b.c.d; they are the same
# client as a.b.c.d. https://www.rfc-editor.org/rfc/rfc4291#section-2.5.5.2
_MAPPED_PREFIX_LENGTH = 96


def _unmapped_network(network: _Network) -> _Network:
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _MAPPED_PREFIX_LENGTH
        and network.network_address.ipv4_mapped is not None
    ):
        mapped = network.network_address.ipv4_mapped
        return ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED_PREFIX_LENGTH))
    return network


def _unmapped_address(address: _Address) -> _Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_network(ip: str) -> str:
    """Spells an address or CIDR the one way a token carries it; raises ClaimError if bad.

    Host bits are cleared (``10.1.2.3/24`` becomes ``10.1.2.0/24``), so a caller can bind
    to ``f"{client_ip}/24"``; a full-length prefix is written as the bare address, IPv6 in
    its compressed form, and an IPv4-mapped IPv6 address as IPv4.
    """
    try:
        network = _unmapped_network(ipaddress.ip_network(ip, strict=False))
    except ValueError as exc:
        raise ClaimError(f"ip {ip!r} is not an IP address or CIDR network: {exc}") from None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


@lru_cache(maxsize=4096)
def _bound_network(bound: str) -> _Network | None:
    """Parses a token's binding once per distinct value; None when it is not a network."""
    try:
        return _unmapped_network(ipaddress.ip_network(bound, strict=False))
    except ValueError:
        return None


def ip_problem(bound: str, client_ip: str | None) -> str | None:
    """Says why ``client_ip`` fails the token's binding ``bound``, or None when it is inside."""
    network = _bound_network(bound)
    if network is None:
        return f"token is bound to {bound!r}, which is not an IP address or network"
    if client_ip is None:
        return f"token is bound to {bound} but the edge gave no client address"
    try:
        address = _unmapped_address(ipaddress.ip_address(client_ip))
    except ValueError:
        return f"client address {client_ip!r} is not an IP address"
    if address not in network:
        return f"client {address} is outside {bound}"
    return None
