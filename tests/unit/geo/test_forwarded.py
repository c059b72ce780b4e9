"""The client's address behind proxies: only what trusted proxies appended is believed."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.forwarded import client_address, forwarded_for, hop_address, x_forwarded_for

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48"))


def address(text: str) -> IPv4Address | IPv6Address:
    return ip_address(text)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:4711", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:4711", "2001:db8::7"),
        ("[2001:db8::7]:_hidden", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("evil.example", None),
        ("203.0.113.7:port", None),
        ("[203.0.113.7", None),
        ("203.0.113.7/24", None),
    ],
)
def test_one_hop(entry: str, expected: str | None) -> None:
    got = hop_address(entry)
    assert (None if got is None else str(got)) == expected


def test_x_forwarded_for_lines_join_in_order() -> None:
    assert x_forwarded_for(["a, b", "c"]) == ["a", " b", "c"]
    assert x_forwarded_for([]) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # The examples of RFC 7239 section 4 and 7.4.
        (['for="_gazonk"'], ["_gazonk"]),
        (['For="[2001:db8:cafe::17]:4711"'], ["[2001:db8:cafe::17]:4711"]),
        (["for=192.0.2.60;proto=http;by=203.0.113.43"], ["192.0.2.60"]),
        (["for=192.0.2.43, for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        (["for=192.0.2.43", "for=198.51.100.17;by=x"], ["192.0.2.43", "198.51.100.17"]),
        (['for=192.0.2.43,for="[2001:db8::1]"'], ["192.0.2.43", "[2001:db8::1]"]),
        (["proto=https, for=192.0.2.1"], ["", "192.0.2.1"]),
        (['for="a\\"b"'], ['a"b']),
        (["for=192.0.2.1 ; proto=https"], ["192.0.2.1"]),
        # Lines that do not parse are dropped whole: their commas cannot be trusted.
        (["for=192.0.2.1 garbage, for=203.0.113.9"], []),
        (['for="unterminated, for=203.0.113.9'], []),
        (["for=192.0.2.1", "junk junk"], ["192.0.2.1"]),
    ],
)
def test_forwarded_for(lines: list[str], expected: list[str]) -> None:
    assert forwarded_for(lines) == expected


@pytest.mark.parametrize(
    ("peer", "hops", "client"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        ("::ffff:203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # Behind our proxy: the address it appended.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # The client's own entries left of it are ignored.
        ("10.0.0.2", ["192.0.2.66", "198.51.100.1"], "198.51.100.1"),
        # A chain of our proxies is skipped.
        ("10.0.0.2", ["192.0.2.66", "198.51.100.1", "10.0.0.9"], "198.51.100.1"),
        ("10.0.0.2", ["192.0.2.66", "[2001:db8::5]:1", "[2001:db8:ffff::9]"], "2001:db8::5"),
        # Everyone is ours: the farthest is the client.
        ("10.0.0.2", ["10.1.2.3", "10.0.0.9"], "10.1.2.3"),
        # Nothing forwarded: the proxy itself.
        ("10.0.0.2", [], "10.0.0.2"),
        # Garbage stops the walk at the last trusted address.
        ("10.0.0.2", ["198.51.100.1", "unknown"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1", "garbage", "10.0.0.9"], "10.0.0.9"),
    ],
)
def test_client_address(peer: str, hops: list[str], client: str) -> None:
    assert client_address(peer, hops, PROXIES) == address(client)


def test_no_peer_and_no_sense() -> None:
    assert client_address(None, ["198.51.100.1"], PROXIES) is None
    assert client_address("not an address", ["198.51.100.1"], PROXIES) is None


public_v4 = st.integers(min_value=0x01000000, max_value=0x09FFFFFF).map(IPv4Address)
trusted_v4 = st.integers(min_value=0x0A000000, max_value=0x0AFFFFFF).map(IPv4Address)
anything = st.one_of(
    st.text(max_size=30), public_v4.map(str), trusted_v4.map(str), st.just("unknown")
)


@given(
    forged=st.lists(anything, max_size=5),
    client=public_v4,
    proxies=st.lists(trusted_v4, max_size=4),
    peer=trusted_v4,
)
def test_whatever_a_client_forges_the_proxies_word_wins(
    forged: list[str], client: IPv4Address, proxies: list[IPv4Address], peer: IPv4Address
) -> None:
    hops = [*forged, str(client), *(str(p) for p in proxies)]
    assert client_address(str(peer), hops, PROXIES) == client


@given(hops=st.lists(anything, max_size=6), peer=public_v4)
def test_an_untrusted_peers_headers_never_count(hops: list[str], peer: IPv4Address) -> None:
    assert client_address(str(peer), hops, PROXIES) == peer


@given(st.lists(st.text(alphabet='for=;,"\\ [:]19.2_x', max_size=40), max_size=4))
def test_any_forwarded_header_parses_or_is_dropped(lines: list[str]) -> None:
    # Never an exception, and never more elements than the lines have commas to split.
    found = forwarded_for(lines)
    assert len(found) <= sum(line.count(",") + 1 for line in lines)
