"""What counts as a client address, and which addresses no database can place.

Shared by `locate` and the lookup cache so that both read "::ffff:81.2.69.142" (how
a dual-stack socket reports an IPv4 peer) as the IPv4 address it carries.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from geo.errors import InvalidAddress

ClientAddress = IPv4Address | IPv6Address

# Address blocks reserved for documentation and examples. Python's `is_private`
# includes them, but a database may deliberately place them (our own tests do, and a
# staging database might), so they go to the database like any public address.
DOCUMENTATION_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = (
    IPv4Network("192.0.2.0/24"),  # TEST-NET-1, https://www.rfc-editor.org/rfc/rfc5737
    IPv4Network("198.51.100.0/24"),  # TEST-NET-2
    IPv4Network("203.0.113.0/24"),  # TEST-NET-3
    IPv6Network("2001:db8::/32"),  # https://www.rfc-editor.org/rfc/rfc3849
    IPv6Network("3fff::/20"),  # https://www.rfc-editor.org/rfc/rfc9637
)


def parse_client_address(text: str) -> ClientAddress:
    """Parse a client address, unwrapping IPv4-mapped IPv6 to plain IPv4."""
    try:
        address = ip_address(text)
    except ValueError:
        raise InvalidAddress(text) from None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_documentation(address: ClientAddress) -> bool:
    """Whether the address lies in a block reserved for documentation."""
    return any(address in network for network in DOCUMENTATION_NETWORKS)


def is_unroutable(address: ClientAddress) -> bool:
    """Whether the address cannot belong to a client on the public internet.

    Loopback, link-local, multicast, unspecified and private-use (RFC 1918, unique
    local, and the rest of Python's `is_private` list) addresses only reach us from
    our own networks, through a proxy that did not pass the real client on, or in a
    test; no geolocation database places them, so they skip the lookup. The
    documentation blocks are the exception (see `DOCUMENTATION_NETWORKS`).
    """
    if (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
    ):
        return True
    return address.is_private and not is_documentation(address)
