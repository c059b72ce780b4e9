"""Which base URL ``castedge sign`` builds on, from --base, --region or the edge section."""

from __future__ import annotations

from typing import Any

import pytest

from config import ConfigError, Settings, settings_from_mapping
from edge.commands import base_url, grant, playlist_scope, signed_url
from edge.errors import CommandError
from signer import ClaimError, Purpose, Signer, TokenRejected

NOW = 1_767_225_600
KEY = "unit-test-secret-0123456789abcdef"


def settings(**sections: Any) -> Settings:
    doc: dict[str, Any] = {
        "storage": {"dir": "/srv/media"},
        "cache": {"dir": "/var/cache/castedge", "max_size": "1GB"},
        "signing": {"keys": {"k1": KEY}, "active": "k1"},
        **sections,
    }
    return settings_from_mapping(doc, source="castedge.yaml", environ={})


EDGE = {"region": "eu-central", "public_url": "https://edge-fra.example.com/"}
REGIONS = [
    {"name": "eu-central", "latitude": 50.11, "longitude": 8.68,
     "base_url": "https://edge-fra.example.com"},
    {"name": "ap-southeast", "latitude": -33.87, "longitude": 151.21,
     "base_url": "https://edge-syd.example.com"},
]  # fmt: skip


def test_the_edge_section_gives_the_default_base() -> None:
    assert base_url(settings(edge=EDGE)) == "https://edge-fra.example.com"
    assert base_url(settings(edge=EDGE), region="eu-central") == "https://edge-fra.example.com"


def test_base_wins_over_everything() -> None:
    got = base_url(settings(edge=EDGE), region="eu-central", base="http://127.0.0.1:8081/")
    assert got == "http://127.0.0.1:8081"


def test_another_region_comes_from_the_locators_catalogue() -> None:
    configured = settings(edge=EDGE, regions=REGIONS)
    assert base_url(configured, region="ap-southeast") == "https://edge-syd.example.com"


@pytest.mark.parametrize(
    ("sections", "region", "message"),
    [
        ({"edge": EDGE}, "ap-southeast", "region 'ap-southeast' has no base URL in castedge.yaml"
                                         " (known: eu-central); give --base URL"),
        ({"edge": EDGE, "regions": REGIONS}, "us-east", "(known: eu-central, ap-southeast)"),
        ({}, "eu-central", "(known: none)"),
    ],
)  # fmt: skip
def test_an_unknown_region_is_refused(sections: dict[str, Any], region: str, message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        base_url(settings(**sections), region=region)


def test_no_base_at_all_names_the_key_to_set() -> None:
    with pytest.raises(ConfigError) as caught:
        base_url(settings(edge={"region": "eu-central"}))
    assert str(caught.value).startswith("castedge.yaml: edge.public_url: missing;")


@pytest.mark.parametrize("base", ["edge.example.com", "ftp://edge.example.com", "https://e/?a=1"])
def test_a_base_that_is_not_an_http_url_is_refused(base: str) -> None:
    with pytest.raises(CommandError):
        base_url(settings(edge=EDGE), base=base)


def test_signed_url_is_what_the_signer_mints_and_verifies() -> None:
    url = signed_url(
        settings(edge=EDGE),
        "/courses/py/ch01/index.m3u8",
        now=NOW,
        ttl=600,
        scope="courses/py/ch01/",
        subject="user-1",
    )
    prefix = "https://edge-fra.example.com/s/"
    assert url.startswith(prefix) and url.endswith("/courses/py/ch01/index.m3u8")
    token = url.removeprefix(prefix).split("/")[0]
    claims = Signer({"k1": KEY}, "k1").verify(token, "courses/py/ch01/seg-1.ts", now=NOW + 599)
    assert (claims.scope, claims.subject, claims.expires_at) == (
        "courses/py/ch01/",
        "user-1",
        NOW + 600,
    )


def test_a_path_outside_its_scope_is_not_signed() -> None:
    with pytest.raises(ClaimError, match="lies outside scope"):
        signed_url(settings(edge=EDGE), "courses/py/ch02/a.mp4", now=NOW, scope="courses/py/ch01/")


@pytest.mark.parametrize(
    ("path", "scope", "expected"),
    [
        ("courses/py/ch01/index.m3u8", None, "courses/py/ch01/"),
        ("courses/py/ch01/master.mpd", None, "courses/py/ch01/"),
        ("courses/py/ch01/index.m3u8", "courses/py/", "courses/py/"),
        ("courses/py/ch01/lesson.mp4", None, None),
        ("courses/py/ch01/lesson.mp4", "courses/py/ch01/lesson.mp4", "courses/py/ch01/lesson.mp4"),
    ],
)
def test_a_playlist_is_scoped_to_its_folder(path: str, scope: str | None, expected: str) -> None:
    assert playlist_scope(path, scope, "--scope") == expected


@pytest.mark.parametrize(
    ("path", "scope", "message"),
    [
        ("index.m3u8", None, "a playlist at the top of the bucket"),
        ("courses/a/index.m3u8", "courses/a/index.m3u8", "is one file, but courses/a/index.m3u8"),
    ],
)
def test_a_playlist_scope_that_could_not_play_is_refused(
    path: str, scope: str | None, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        playlist_scope(path, scope, "--scope")


def test_a_grant_is_what_the_locator_verifies_for_the_paths_under_it() -> None:
    minted = grant(settings(edge=EDGE), "courses/py/", now=NOW, subject="u-7", ttl=300)
    grants = Signer({"k1": KEY}, "k1", purpose=Purpose.GRANT)
    claims = grants.verify(minted, "courses/py/ch03/index.m3u8", now=NOW + 299)
    assert (claims.scope, claims.subject, claims.expires_at) == ("courses/py/", "u-7", NOW + 300)
    # Not an edge token: the purposes keep the two apart under the same key.
    with pytest.raises(TokenRejected):
        Signer({"k1": KEY}, "k1").verify(minted, "courses/py/ch03/index.m3u8", now=NOW)
