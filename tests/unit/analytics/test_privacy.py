"""Addresses as the download log keeps them, and the listener key counting makes of them."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from analytics import listener_address, locating_address, private_address

SALT = b"s" * 32


def test_keep_writes_the_address_as_it_came() -> None:
    assert private_address("keep", ip_address("2001:db8:1:2:3:4:5:6"), SALT) == (
        "2001:db8:1:2:3:4:5:6",
        None,
    )


@pytest.mark.parametrize(
    ("address", "network"),
    [("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48")],
)
def test_truncate_keeps_only_a_coarse_network(address: str, network: str) -> None:
    assert private_address("truncate", ip_address(address), SALT) == (network, None)


def test_hash_is_the_same_for_one_ipv6_64_and_keeps_the_48_for_geography() -> None:
    one, net = private_address("hash", ip_address("2001:db8:1:2::a"), SALT)
    other, _ = private_address("hash", ip_address("2001:db8:1:2:ffff::b"), SALT)
    elsewhere, _ = private_address("hash", ip_address("2001:db8:1:3::a"), SALT)
    assert one == other != elsewhere
    assert one.startswith("h:") and "2001" not in one
    assert net == "2001:db8:1::/48"


def test_hash_of_ipv4_is_the_whole_address() -> None:
    one, net = private_address("hash", ip_address("203.0.113.7"), SALT)
    other, _ = private_address("hash", ip_address("203.0.113.8"), SALT)
    assert one != other and net == "203.0.113.0/24"


def test_another_days_salt_gives_another_hash() -> None:
    address = ip_address("203.0.113.7")
    assert private_address("hash", address, SALT) != private_address("hash", address, b"t" * 32)


@pytest.mark.parametrize(
    ("ip", "listener"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("h:0123abcd", "h:0123abcd"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("-", "-"),
    ],
)
def test_the_listener_address_of_a_row(ip: str, listener: str) -> None:
    assert listener_address(ip) == listener


@pytest.mark.parametrize(
    ("ip", "net", "where"),
    [
        ("81.2.69.142", None, "81.2.69.142"),
        ("h:0123", "175.16.199.0/24", "175.16.199.0"),
        ("2001:218::/48", None, "2001:218::"),
        ("h:0123", None, None),
        ("-", None, None),
    ],
)
def test_the_address_a_country_is_looked_up_by(ip: str, net: str | None, where: str) -> None:
    assert locating_address(ip, net) == where
