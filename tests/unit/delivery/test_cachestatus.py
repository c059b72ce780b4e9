"""Cache-Status members as RFC 9211 spells them, and read back as a structured list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.cachestatus import HIT, MISS, NEGATIVE, CacheStatus, parse_cache_status


@pytest.mark.parametrize(
    ("status", "header"),
    [
        (HIT, "castedge; hit"),
        (NEGATIVE, "castedge; hit; detail=negative"),
        (CacheStatus(fwd="miss", stored=True), "castedge; fwd=miss; stored"),
        (
            CacheStatus(fwd="miss", stored=True, collapsed=True),
            "castedge; fwd=miss; stored; collapsed",
        ),
        (CacheStatus(fwd="miss", detail="too-large"), "castedge; fwd=miss; detail=too-large"),
        (MISS.joined(False), "castedge; fwd=miss; collapsed=?0"),
        (CacheStatus(fwd="miss", fwd_status=404), "castedge; fwd=miss; fwd-status=404"),
    ],
)
def test_each_path_has_its_member(status: CacheStatus, header: str) -> None:
    assert str(status) == header


def test_a_hit_is_never_also_forwarded() -> None:
    # https://www.rfc-editor.org/rfc/rfc9211#section-2.1
    with pytest.raises(ValueError, match="either a hit or forwarded"):
        CacheStatus(hit=True, fwd="miss")


@pytest.mark.parametrize("detail", ["two words", "a,b", "", "9starts-with-a-digit", 'q"uote'])
def test_a_detail_that_is_not_a_token_is_refused(detail: str) -> None:
    with pytest.raises(ValueError, match="token"):
        CacheStatus(fwd="miss", detail=detail)


@pytest.mark.parametrize(
    "value", ["castedge; hit=1.5", "castedge; Hit", "castedge; hit; hit", "a b"]
)
def test_the_parser_refuses_what_the_members_never_use(value: str) -> None:
    with pytest.raises(ValueError):
        parse_cache_status(value)


def test_the_parser_reads_a_list_of_caches() -> None:
    members = parse_cache_status("OriginCache; hit, castedge; fwd=miss; fwd-status=404")
    assert members == [
        ("OriginCache", {"hit": True}),
        ("castedge", {"fwd": "miss", "fwd-status": 404}),
    ]


@given(
    st.one_of(
        st.builds(CacheStatus, hit=st.just(True), detail=st.sampled_from([None, "negative"])),
        st.builds(
            CacheStatus,
            fwd=st.just("miss"),
            fwd_status=st.one_of(st.none(), st.integers(100, 599)),
            stored=st.booleans(),
            collapsed=st.sampled_from([None, True, False]),
            detail=st.sampled_from([None, "too-large", "no-space", "disk-failed"]),
        ),
    )
)
def test_every_member_reads_back_as_what_it_says(status: CacheStatus) -> None:
    [(cache, params)] = parse_cache_status(str(status))
    assert cache == "castedge"
    assert params.get("hit", False) == status.hit
    assert params.get("fwd") == status.fwd
    assert params.get("fwd-status") == status.fwd_status
    assert params.get("stored", False) == status.stored
    assert params.get("collapsed") == status.collapsed
    assert params.get("detail") == status.detail
