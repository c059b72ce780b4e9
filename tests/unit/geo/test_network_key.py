"""The lookup cache's key is exactly the client's /24 or /48 network, however it is computed."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

from hypothesis import given
from hypothesis import strategies as st

from geo import network_key


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_keys_are_the_slash_24(value: int) -> None:
    address = IPv4Address(value)
    assert network_key(str(address)) == str(ip_network((address, 24), strict=False))
    assert network_key(f"::ffff:{address}") == network_key(str(address))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_ipv6_keys_are_the_slash_48(value: int) -> None:
    address = IPv6Address(value)
    if address.ipv4_mapped is not None:
        return
    assert network_key(str(address)) == str(ip_network((address, 48), strict=False))
