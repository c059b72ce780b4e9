"""Where a client is sent, and that a redirect URL never leaves the configured edge."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from geo import DEFAULT_REGIONS, Kind, Location, Reason, Region, great_circle_km, unplaced
from geo.errors import UnsafePath
from geo.target import edge_url, place_client

BASES = [
    "https://edge-fra.example.com",
    "http://127.0.0.1:8081",
    "https://cdn.example.com/video",
    "http://[2001:db8::1]:8443/a/b",
]
TOKEN = "k1.WzEsImNvdXJzZXMvIl0.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"


def city(latitude: float, longitude: float) -> Location:
    return Location(latitude, longitude, Kind.CITY, "XX", "XX")


@pytest.mark.parametrize(
    ("path", "quoted"),
    [
        ("courses/py/ch03/index.m3u8", "courses/py/ch03/index.m3u8"),
        ("@evil.example/x.mp4", "%40evil.example/x.mp4"),
        ("a:b@evil.example/x", "a%3Ab%40evil.example/x"),
        ("evil.example?x#y", "evil.example%3Fx%23y"),
        ("Éa b+c~d.mp4", "%C3%89a%20b%2Bc~d.mp4"),
        ("https:evil.example", "https%3Aevil.example"),
    ],
)
def test_the_path_is_re_encoded_below_the_token(path: str, quoted: str) -> None:
    assert edge_url(BASES[0], TOKEN, path) == f"{BASES[0]}/s/{TOKEN}/{quoted}"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/evil.example/x",
        "//evil.example/x",
        "a//b",
        "\\\\evil.example\\x",
        "a/../../evil.example",
        "./x",
        "a/.",
        "x\r\nLocation: http://evil.example/",
        "x\nSet-Cookie: a=b",
        "a\x00b",
        "a%2f%2fevil.example",
        "a" * 1025,
    ],
)
def test_a_path_that_could_escape_is_refused(path: str) -> None:
    with pytest.raises(UnsafePath):
        edge_url(BASES[0], TOKEN, path)


def test_a_token_that_the_signer_would_not_make_is_refused() -> None:
    for token in ("", "a/b", "a@b", "a b", "x" * 2049, "a?b"):
        with pytest.raises(UnsafePath):
            edge_url(BASES[0], token, "courses/a.mp4")


@given(base=st.sampled_from(BASES), path=st.text(max_size=60))
def test_no_path_makes_a_url_outside_the_base(base: str, path: str) -> None:
    try:
        url = edge_url(base, TOKEN, path)
    except UnsafePath:
        return
    prefix = f"{base}/s/{TOKEN}/"
    assert url.startswith(prefix)
    parts, base_parts = urlsplit(url), urlsplit(base)
    assert (parts.scheme, parts.netloc) == (base_parts.scheme, base_parts.netloc)
    assert parts.query == "" and parts.fragment == ""
    assert all(33 <= ord(c) < 127 for c in url)
    # The client resolves exactly this path below the token, no more and no less.
    rest = url[len(prefix) :]
    assert unquote(rest) == path
    assert all(segment not in ("", ".", "..") for segment in rest.split("/"))


coordinates = st.tuples(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


@given(
    point=coordinates,
    healthy=st.sets(st.sampled_from([r.name for r in DEFAULT_REGIONS])),
    weights=st.lists(
        st.floats(min_value=0.25, max_value=4), min_size=len(DEFAULT_REGIONS), max_size=8
    ),
)
def test_the_target_is_the_nearest_healthy_region(
    point: tuple[float, float], healthy: set[str], weights: list[float]
) -> None:
    regions = [
        Region(r.name, r.latitude, r.longitude, r.base_url, weight)
        for r, weight in zip(DEFAULT_REGIONS, weights, strict=True)
    ]
    placement = place_client(regions, city(*point), healthy, regions[0])
    target = placement.target
    if not healthy:
        assert target is None
        assert placement.healthy == ()
        return
    assert target is not None and target.region.name in healthy
    best = min(great_circle_km(point, r.point) / r.weight for r in regions if r.name in healthy)
    assert target.effective_km == pytest.approx(best, rel=1e-9, abs=1e-6)
    # The alternates are the other healthy regions, nearest first.
    order = [entry.effective_km for entry in placement.healthy]
    assert order == sorted(order)
    assert {entry.region.name for entry in placement.healthy} == healthy


@given(
    reason=st.sampled_from(list(Reason)),
    default=st.sampled_from(DEFAULT_REGIONS),
    down=st.sets(st.sampled_from([r.name for r in DEFAULT_REGIONS]), max_size=7),
)
def test_an_unplaced_client_goes_to_the_default_region_or_its_nearest_neighbour(
    reason: Reason, default: Region, down: set[str]
) -> None:
    healthy = {r.name for r in DEFAULT_REGIONS} - down
    assume(healthy)
    placement = place_client(DEFAULT_REGIONS, unplaced(reason), healthy, default)
    target = placement.target
    assert target is not None
    if default.name in healthy:
        assert target.region == default
    else:
        nearest = min(
            (r for r in DEFAULT_REGIONS if r.name in healthy),
            key=lambda r: great_circle_km(default.point, r.point),
        )
        assert target.distance_km == pytest.approx(great_circle_km(default.point, nearest.point))
