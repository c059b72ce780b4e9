"""The per-network lookup cache: how addresses key, and least-recently-used eviction."""

from __future__ import annotations

import pytest

from geo import InvalidAddress, InvalidSetting, NetworkCache, network_key


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("81.2.69.142", "81.2.69.0/24"),
        ("81.2.69.0", "81.2.69.0/24"),
        ("81.2.69.255", "81.2.69.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("2001:0db8:1234:ffff:ffff:ffff:ffff:ffff", "2001:db8:1234::/48"),
        ("::ffff:81.2.69.142", "81.2.69.0/24"),  # IPv4-mapped: keys as the IPv4 address
        ("::ffff:5102:458e", "81.2.69.0/24"),  # the same address written in hex
        ("::1", "::/48"),
    ],
)
def test_network_key(ip: str, key: str) -> None:
    assert network_key(ip) == key


@pytest.mark.parametrize(
    "text", ["not-an-ip", "", "81.2.69", "81.2.69.142/24", "[::1]", "1.2.3.256"]
)
def test_network_key_rejects_non_addresses(text: str) -> None:
    with pytest.raises(InvalidAddress):
        network_key(text)


def test_one_entry_serves_the_whole_network() -> None:
    cache: NetworkCache[str] = NetworkCache(maxsize=8)
    cache.put("81.2.69.142", "london")
    assert cache.get("81.2.69.7") == "london"
    assert cache.get("::ffff:81.2.69.200") == "london"
    assert cache.get("81.2.70.1") is None
    assert (cache.hits, cache.misses) == (2, 1)
    assert len(cache) == 1


def test_least_recently_used_network_is_evicted() -> None:
    cache: NetworkCache[str] = NetworkCache(maxsize=2)
    cache.put("192.0.2.1", "a")
    cache.put("2001:db8::1", "b")
    assert cache.get("192.0.2.9") == "a"  # now a is the most recently used
    cache.put("198.51.100.1", "c")
    assert cache.get("2001:db8:0:1::1") is None
    assert cache.get("192.0.2.1") == "a"
    assert cache.get("198.51.100.1") == "c"
    assert len(cache) == 2


def test_put_again_replaces_and_refreshes() -> None:
    cache: NetworkCache[str] = NetworkCache(maxsize=2)
    cache.put("192.0.2.1", "a")
    cache.put("198.51.100.1", "b")
    cache.put("192.0.2.2", "a2")
    cache.put("203.0.113.1", "c")
    assert cache.get("192.0.2.3") == "a2"
    assert cache.get("198.51.100.1") is None


def test_non_addresses_are_neither_cached_nor_counted() -> None:
    cache: NetworkCache[str] = NetworkCache(maxsize=2)
    cache.put("not-an-ip", "x")
    assert cache.get("not-an-ip") is None
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (0, 0)


def test_clear_forgets_everything() -> None:
    cache: NetworkCache[int] = NetworkCache(maxsize=4)
    cache.put("192.0.2.1", 1)
    cache.clear()
    assert cache.get("192.0.2.1") is None
    assert len(cache) == 0


@pytest.mark.parametrize("maxsize", [0, -5])
def test_maxsize_must_be_positive(maxsize: int) -> None:
    with pytest.raises(InvalidSetting, match="maxsize"):
        NetworkCache(maxsize)
