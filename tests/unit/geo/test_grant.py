"""Who may have a path: a grant's scope, or the web app's proxy secret, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.errors import Refused
from geo.grant import Via, authorise, proxy_scope
from signer import Purpose, Signer

NOW = 1_767_225_600
KEYS = {"k1": "grant-test-secret-0123456789abcdef"}
GRANTS = Signer(KEYS, "k1", purpose=Purpose.GRANT)
URL_TOKENS = Signer(KEYS, "k1")
SECRET = b"proxy-secret-0123456789"


def check(path: str, grant: str | None = None, *, client: str | None = None, **kwargs: object):
    return authorise(path, grant=grant, signer=GRANTS, now=NOW, client_ip=client, **kwargs)  # type: ignore[arg-type]


def refusal(path: str, grant: str | None = None, **kwargs: object) -> str:
    with pytest.raises(Refused) as caught:
        check(path, grant, **kwargs)
    assert caught.value.status_hint == 403
    return caught.value.reason


def test_a_grant_carries_its_scope_subject_and_binding() -> None:
    grant = GRANTS.mint("courses/py/", now=NOW, ttl=60, subject="u-7", ip="192.0.2.0/24")
    permit = check("courses/py/ch01/a.ts", grant, client="192.0.2.9")
    assert (permit.scope, permit.subject, permit.ip, permit.via) == (
        "courses/py/",
        "u-7",
        "192.0.2.0/24",
        Via.GRANT,
    )


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("courses/py/", "courses/rust/ch01/a.ts"),
        ("courses/py/", "courses/pyx/a.ts"),
        ("courses/py/", "courses/py"),
        ("courses/py/ch01/", "courses/py/ch02/a.ts"),
        ("courses/py/ch01/a.mp4", "courses/py/ch01/b.mp4"),
    ],
)
def test_a_grant_for_one_course_does_not_open_another(scope: str, path: str) -> None:
    grant = GRANTS.mint(scope, now=NOW, ttl=60)
    assert refusal(path, grant) == "out_of_scope"


@pytest.mark.parametrize(
    ("grant", "client", "reason"),
    [
        (None, None, "no_grant"),
        (GRANTS.mint("courses/", now=NOW - 600, ttl=60), None, "expired"),
        (URL_TOKENS.mint("courses/", now=NOW), None, "bad_signature"),
        (GRANTS.mint("courses/", now=NOW, ip="198.51.100.0/24"), "192.0.2.1", "ip_mismatch"),
        (GRANTS.mint("courses/", now=NOW, ip="198.51.100.0/24"), None, "ip_mismatch"),
        ("k9.e30.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", None, "unknown_key"),
        ("nonsense", None, "malformed"),
    ],
)
def test_a_bad_grant_is_refused_with_its_reason(
    grant: str | None, client: str | None, reason: str
) -> None:
    assert refusal("courses/a.mp4", grant, client=client) == reason


def test_the_proxy_secret_vouches_for_the_path_only() -> None:
    permit = check(
        "courses/py/ch01/index.m3u8", presented_secret=SECRET.decode(), proxy_secret=SECRET
    )
    assert (permit.scope, permit.via, permit.subject, permit.ip) == (
        "courses/py/ch01/",
        Via.PROXY,
        None,
        None,
    )
    assert refusal("a.mp4", presented_secret="wrong", proxy_secret=SECRET) == "bad_proxy_secret"
    # A locator configured without a secret takes no header as one.
    assert refusal("a.mp4", presented_secret="", proxy_secret=None) == "bad_proxy_secret"
    assert refusal("a.mp4", presented_secret=SECRET.decode(), proxy_secret=b"") == (
        "bad_proxy_secret"
    )


def test_a_wrong_secret_does_not_spoil_a_good_grant() -> None:
    grant = GRANTS.mint("courses/", now=NOW, ttl=60)
    permit = check("courses/a.mp4", grant, presented_secret="wrong", proxy_secret=SECRET)
    assert permit.via is Via.GRANT


@given(st.text(max_size=40))
def test_only_the_exact_secret_passes(presented: str) -> None:
    if presented.encode() == SECRET:
        return
    with pytest.raises(Refused):
        check("a.mp4", presented_secret=presented, proxy_secret=SECRET)


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("courses/py/ch01/index.m3u8", "courses/py/ch01/"),
        ("courses/py/ch01/manifest.mpd", "courses/py/ch01/"),
        ("courses/py/ch01/intro.mp4", "courses/py/ch01/intro.mp4"),
        ("index.m3u8", "index.m3u8"),
        ("courses/py/ch01/index.m3u8x", "courses/py/ch01/index.m3u8x"),
    ],
)
def test_proxy_scope(path: str, scope: str) -> None:
    assert proxy_scope(path) == scope
