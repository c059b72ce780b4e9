"""Which client addresses are looked up at all."""

from __future__ import annotations

import pytest

from geo import InvalidAddress, is_unroutable, parse_client_address


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "224.0.0.251",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:10.1.2.3",
        "::ffff:127.0.0.1",
    ],
)
def test_unroutable(ip: str) -> None:
    assert is_unroutable(parse_client_address(ip))


@pytest.mark.parametrize(
    "ip",
    [
        "81.2.69.142",
        "2a02:d280::1",
        "::ffff:81.2.69.142",
        # Documentation blocks: private to Python, but a database may place them.
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "2001:db8::1",
    ],
)
def test_looked_up(ip: str) -> None:
    assert not is_unroutable(parse_client_address(ip))


def test_ipv4_mapped_addresses_unwrap() -> None:
    assert str(parse_client_address("::ffff:81.2.69.142")) == "81.2.69.142"
    assert str(parse_client_address("2a02:d280::1")) == "2a02:d280::1"


@pytest.mark.parametrize("text", ["not-an-ip", "", " 1.2.3.4", "1.2.3.4.5", "::g"])
def test_parse_rejects_non_addresses(text: str) -> None:
    with pytest.raises(InvalidAddress, match="not an IP address"):
        parse_client_address(text)
