"""A node is one file: which roles it runs, what each needs, and what each may touch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import (
    ConfigError,
    exposure_warnings,
    role_cache,
    role_prefixes,
    roles_in,
    serves,
)
from config.roles import overlapping

from .documents import SIGNING_KEY, settings

SIGNING = {"keys": {"k1": SIGNING_KEY}, "active": "k1"}
STORAGE = {"s3": {"bucket": "media"}}
CACHE = {"dir": "/var/cache/castedge", "max_size": "100GB"}
GEO = {"database": "/var/lib/GeoIP/GeoLite2-City.mmdb"}
REGIONS = [{"name": "eu", "latitude": 50.1, "longitude": 8.7, "base_url": "https://e.example"}]


def node(**sections: Any) -> dict[str, Any]:
    return dict(sections)


def error(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(document)
    return str(caught.value)


def test_the_roles_are_the_sections_present_in_start_order() -> None:
    got = settings(
        node(
            locator={},
            edge={"region": "eu"},
            origin={},
            storage=STORAGE,
            cache=CACHE,
            signing=SIGNING,
            geo=GEO,
            regions=REGIONS,
        )
    )
    assert roles_in(got) == ("origin", "edge", "locator")


def test_a_file_without_roles_is_valid_for_the_signing_commands() -> None:
    assert roles_in(settings(node(signing=SIGNING))) == ()


def test_a_locator_needs_no_storage_and_no_cache() -> None:
    got = settings(node(locator={}, signing=SIGNING, geo=GEO, regions=REGIONS))
    assert roles_in(got) == ("locator",)
    assert got.storage is None and got.cache is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            node(origin={}, cache=CACHE),
            "castedge.yaml: storage: missing, and the origin section needs it: "
            "the origin fetches misses from it (give storage.s3 or storage.dir)",
        ),
        (
            node(edge={"region": "eu"}, storage=STORAGE, signing=SIGNING),
            "castedge.yaml: cache: missing, and the edge section needs it: "
            "the edge keeps video there (give cache.dir and cache.max_size)",
        ),
        (
            node(locator={}, signing=SIGNING, geo=GEO),
            "castedge.yaml: regions: missing, and the locator section needs it: "
            "the locator sends players to one of them",
        ),
        (
            node(locator={}, geo=GEO, regions=REGIONS),
            "castedge.yaml: signing: missing, and the locator section needs it: "
            "the locator checks grants and signs edge URLs with its keys",
        ),
    ],
)
def test_a_role_names_the_section_it_lacks(document: dict[str, Any], message: str) -> None:
    assert error(document) == message


def both(origin: dict[str, Any] | None = None, edge: dict[str, Any] | None = None) -> Any:
    return settings(
        node(
            origin=origin or {},
            edge={"region": "eu", **(edge or {})},
            storage=STORAGE,
            cache=CACHE,
            signing=SIGNING,
        )
    )


def test_each_caching_role_has_its_own_directory_and_half_the_size() -> None:
    got = both()
    assert role_cache(got, "origin").dir == Path("/var/cache/castedge/origin")
    assert role_cache(got, "edge").dir == Path("/var/cache/castedge/edge")
    assert role_cache(got, "origin").max_size == role_cache(got, "edge").max_size == 50 * 10**9


def test_an_explicit_size_is_kept_and_the_rest_goes_to_the_other() -> None:
    got = both(origin={"cache_max_size": "80GB"})
    assert role_cache(got, "origin").max_size == 80 * 10**9
    assert role_cache(got, "edge").max_size == 20 * 10**9


def test_a_role_alone_has_the_whole_cache() -> None:
    got = settings(node(origin={}, storage=STORAGE, cache=CACHE))
    assert role_cache(got, "origin").max_size == 100 * 10**9
    with pytest.raises(LookupError):
        role_cache(got, "edge")


def test_an_explicit_directory_is_kept() -> None:
    got = both(edge={"cache_dir": "/srv/edge-cache"})
    assert role_cache(got, "edge").dir == Path("/srv/edge-cache")


@pytest.mark.parametrize(
    ("origin", "edge", "message"),
    [
        (
            {"cache_max_size": "100GB"},
            {},
            "castedge.yaml: origin.cache_max_size: expected sizes that add up to at most "
            "cache.max_size (100000000000 bytes) and leave some for edge, "
            "got 100000000000 bytes in all",
        ),
        (
            {"cache_max_size": "60GB"},
            {"cache_max_size": "60GB"},
            "castedge.yaml: edge.cache_max_size: expected sizes that add up to at most "
            "cache.max_size (100000000000 bytes), got 120000000000 bytes in all",
        ),
        (
            {"cache_dir": "/var/cache/castedge/edge"},
            {},
            "castedge.yaml: edge.cache_dir: expected a directory apart from the origin's cache "
            "(/var/cache/castedge/edge), got '/var/cache/castedge/edge'",
        ),
        (
            {"cache_dir": "/srv/cache"},
            {"cache_dir": "/srv/cache/video"},
            "castedge.yaml: edge.cache_dir: expected a directory apart from the origin's cache "
            "(/srv/cache), got '/srv/cache/video'",
        ),
    ],
)
def test_caches_that_would_collide_are_refused(
    origin: dict[str, Any], edge: dict[str, Any], message: str
) -> None:
    document = node(
        origin=origin,
        edge={"region": "eu", **edge},
        storage=STORAGE,
        cache=CACHE,
        signing=SIGNING,
    )
    assert error(document) == message


def test_an_origin_over_the_edges_folders_is_warned_about() -> None:
    (warning,) = exposure_warnings(both())
    assert warning.startswith("castedge.yaml: origin.prefixes: the origin serves without a token")
    assert "'every key'" in warning


def test_folders_apart_raise_no_warning() -> None:
    got = both(origin={"prefixes": ["podcast/"]}, edge={"prefixes": ["courses/"]})
    assert exposure_warnings(got) == []
    assert role_prefixes(got, "origin") == ("podcast/",)


def test_an_origin_may_share_the_edges_public_folders() -> None:
    got = both(
        origin={"prefixes": ["podcast/", "marketing/"]},
        edge={"prefixes": ["courses/", "marketing/"], "public_prefixes": ["marketing/"]},
    )
    assert exposure_warnings(got) == []


def test_an_origin_inside_a_protected_folder_is_named() -> None:
    got = both(origin={"prefixes": ["courses/free/"]}, edge={"prefixes": ["courses/"]})
    (warning,) = exposure_warnings(got)
    assert "'courses/free/'" in warning


def test_no_warning_without_both_roles() -> None:
    assert exposure_warnings(settings(node(origin={}, storage=STORAGE, cache=CACHE))) == []


folders = st.lists(
    st.text(alphabet="ab/", min_size=1, max_size=6).map(lambda s: s.strip("/") + "/"),
    min_size=1,
    max_size=4,
).map(tuple)


@given(folders, folders, st.text(alphabet="ab/", max_size=10))
def test_a_key_served_by_both_lies_in_an_overlap(
    a: tuple[str, ...], b: tuple[str, ...], key: str
) -> None:
    """The overlap holds exactly the keys both sets of prefixes serve."""
    shared = overlapping(a, b)
    assert (serves(a, key) and serves(b, key)) == serves(tuple(shared), key)


# -- a region of several edges behind a balancer (docs/scaling.md) --------------------

SYNC = {"state_file": "/var/lib/castedge/sync-state.json"}
MEMBERS = ["http://10.0.1.11:9090", "http://10.0.1.12:9090"]


def balanced(**region: Any) -> list[dict[str, Any]]:
    return [REGIONS[0] | region]


def test_a_region_behind_a_balancer_lists_its_edges_as_members() -> None:
    got = settings(
        node(sync=SYNC, storage=STORAGE, signing=SIGNING, regions=balanced(members=MEMBERS))
    )
    assert got.regions is not None
    assert got.regions[0].members == tuple(MEMBERS)
    assert got.regions[0].admin_url is None


def test_the_sync_daemon_needs_each_region_s_admin_url_or_members() -> None:
    assert error(node(sync=SYNC, storage=STORAGE, regions=REGIONS)) == (
        "castedge.yaml: regions[0].admin_url: missing, and the sync section needs it: the "
        "admin URL of the region's edge, which the daemon asks to prefetch and purge (or, for "
        "several edges behind a balancer at base_url, their admin URLs as members)"
    )


def test_members_need_the_signing_keys_the_prefetches_are_signed_with() -> None:
    assert error(node(sync=SYNC, storage=STORAGE, regions=balanced(members=MEMBERS))) == (
        "castedge.yaml: signing: missing, and regions[0] (eu) lists members: the sync daemon "
        "prefetches through the region's balancer with signed requests, minted with these keys "
        "(give the edges' signing section)"
    )


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (
            {"members": MEMBERS, "admin_url": MEMBERS[0]},
            "regions[0].members: expected either admin_url (a region of one edge) or members "
            "(the admin URLs of the edges behind the balancer at base_url), not both",
        ),
        (
            {"members": [MEMBERS[0], MEMBERS[0] + "/"]},
            "regions[0].members[1]: expected each edge once, got 'http://10.0.1.11:9090' again",
        ),
        (
            {"members": ["10.0.1.11:9090"]},
            "regions[0].members[0]: expected an http(s) URL",
        ),
    ],
)
def test_members_are_checked(region: dict[str, Any], message: str) -> None:
    assert f"castedge.yaml: {message}" in error(
        node(sync=SYNC, storage=STORAGE, signing=SIGNING, regions=balanced(**region))
    )


def test_an_edge_behind_a_balancer_trusts_its_forwarded_header() -> None:
    got = settings(
        node(
            edge={"region": "eu", "trusted_proxies": ["10.0.1.5/32"]},
            storage=STORAGE,
            cache=CACHE,
            signing=SIGNING,
        )
    )
    assert got.edge is not None
    assert [str(n) for n in got.edge.trusted_proxies] == ["10.0.1.5/32"]
    assert got.edge.client_ip_header == "x-forwarded-for"
