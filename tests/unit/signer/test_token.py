"""Minting and verifying tokens: round trips, every rejection reason, rotation, URLs."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import itsdangerous
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from signer import (
    MAX_TOKEN_LENGTH,
    ClaimError,
    Claims,
    KeyConfigError,
    Purpose,
    Reason,
    Signer,
    TokenRejected,
    fingerprint,
    normalise_path,
)

from .values import CHAPTER, KEYS, NOW, SECRET_1, SECRET_2, SEGMENT

SEGMENT_NAMES = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1)
SCOPES = st.lists(SEGMENT_NAMES, min_size=1, max_size=5).map(lambda names: "/".join(names) + "/")
SUBJECTS = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=128
)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_TTL = 86400  # the Signer's default
PARENTS = st.text("0123456789abcdef", min_size=32, max_size=32)
PARENT = fingerprint("k1.a-grant.signature")


def rejected(
    signer: Signer,
    token: str,
    path: str = SEGMENT,
    *,
    now: float = NOW + 60,
    client_ip: str | None = None,
) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        signer.verify(token, path, now=now, client_ip=client_ip)
    return caught.value


def signed_payload(payload: bytes, key_id: str = "k1", secret: str = SECRET_1) -> str:
    """A token whose signature is valid over an arbitrary payload, as only a keyholder could."""
    raw = itsdangerous.encoding.base64_encode(payload)
    signer = itsdangerous.Signer(
        secret, salt=Purpose.URL_TOKEN.value, sep=".", digest_method=hashlib.sha256
    )
    return signer.sign(key_id.encode() + b"." + raw).decode()


class TestRoundTrip:
    def test_verify_returns_what_mint_put_in(self, signer: Signer) -> None:
        token = signer.mint(CHAPTER, now=NOW, ttl=600, ip="203.0.113.9", subject="user-1842")
        claims = signer.verify(token, SEGMENT, now=NOW + 1, client_ip="203.0.113.9")
        assert claims == Claims(
            scope=CHAPTER,
            expires_at=NOW + 600,
            issued_at=NOW,
            key_id="k1",
            ip="203.0.113.9",
            subject="user-1842",
        )

    def test_default_ttl_applies(self) -> None:
        token = Signer(KEYS, "k1", default_ttl=90).mint(CHAPTER, now=NOW)
        assert Signer(KEYS, "k1").verify(token, SEGMENT, now=NOW).expires_at == NOW + 90

    def test_times_round_outwards_to_whole_seconds(self, signer: Signer) -> None:
        claims = signer.verify(signer.mint(CHAPTER, now=NOW + 0.75, ttl=10.1), SEGMENT, now=NOW)
        assert (claims.issued_at, claims.expires_at) == (NOW, NOW + 11)

    def test_token_is_one_compact_url_path_segment(self, signer: Signer) -> None:
        token = signer.mint(
            "courses/python-jumpstart/ch03/",
            now=NOW,
            ip="2001:db8:1234:5678::/64",
            subject="3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        )
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
        assert len(token) < 250

    def test_a_url_minted_from_a_grant_stays_compact(self) -> None:
        # The case the MAX_TOKEN_LENGTH comment gives: a 60-character scope, a UUID
        # subject, a /64 binding and a parent, under a key id like the documented one.
        scope = "courses/python-jumpstart/ch03-functions-and-closures/hls720/"
        assert len(scope) == 60
        token = Signer({"2025-01": SECRET_1}, "2025-01").mint(
            scope,
            now=NOW,
            ip="2001:db8:1234:5678::/64",
            subject="3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            issued_at=NOW - 600,
            parent=PARENT,
        )
        assert (len(token), MAX_TOKEN_LENGTH - len(token)) == (303, 1745)

    @given(parent=PARENTS, subject=st.none() | SUBJECTS)
    def test_any_parent_round_trips(self, parent: str, subject: str | None) -> None:
        signer = Signer(KEYS, "k1")
        token = signer.mint(CHAPTER, now=NOW, subject=subject, parent=parent)
        claims = signer.verify(token, SEGMENT, now=NOW)
        assert (claims.parent, claims.subject, claims.scope) == (parent, subject, CHAPTER)

    def test_no_parent_verifies_as_none(self, signer: Signer) -> None:
        assert signer.verify(signer.mint(CHAPTER, now=NOW), SEGMENT, now=NOW).parent is None

    @pytest.mark.parametrize(
        ("now", "issued_at", "expected"),
        [
            (NOW, NOW, NOW),
            (NOW, NOW - 0.5, NOW - 1),
            (NOW + 0.75, NOW + 0.25, NOW),
            (NOW, NOW - 3600, NOW - 3600),
            (NOW, NOW - MAX_TTL + 600, NOW - MAX_TTL + 600),
            (10, 0, 0),
        ],
    )
    def test_issued_at_may_be_an_earlier_time(
        self, signer: Signer, now: float, issued_at: float, expected: int
    ) -> None:
        token = signer.mint(CHAPTER, now=now, ttl=600, issued_at=issued_at)
        claims = signer.verify(token, SEGMENT, now=now)
        assert (claims.issued_at, claims.expires_at) == (expected, math.ceil(now + 600))

    @given(
        now=st.floats(min_value=0, max_value=4e9),
        ttl=st.integers(min_value=1, max_value=MAX_TTL),
        share=st.floats(min_value=0, max_value=1),
    )
    def test_mint_with_issued_at_up_to_now_round_trips_it(
        self, now: float, ttl: int, share: float
    ) -> None:
        issued_at = max(0.0, now - share * (MAX_TTL - ttl))
        assume(now + ttl <= issued_at + MAX_TTL)
        signer = Signer(KEYS, "k1")
        claims = signer.verify(
            signer.mint(CHAPTER, now=now, ttl=ttl, issued_at=issued_at), SEGMENT, now=now
        )
        assert claims.issued_at == math.floor(issued_at)
        assert claims.expires_at == math.ceil(now + ttl)

    @given(
        issued_at=st.floats(min_value=NOW - 2 * MAX_TTL, max_value=NOW + MAX_TTL)
        | st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, NOW, NOW - MAX_TTL + 600])
    )
    def test_issued_at_is_taken_exactly_within_now_and_max_ttl(self, issued_at: float) -> None:
        signer = Signer(KEYS, "k1")
        fits = 0 <= issued_at <= NOW and issued_at + MAX_TTL >= NOW + 600
        if fits:
            token = signer.mint(CHAPTER, now=NOW, ttl=600, issued_at=issued_at)
            assert signer.verify(token, SEGMENT, now=NOW).issued_at == math.floor(issued_at)
        else:
            with pytest.raises(ClaimError, match="issued"):
                signer.mint(CHAPTER, now=NOW, ttl=600, issued_at=issued_at)

    @given(scope=SCOPES, leaf=SEGMENT_NAMES, subject=st.none() | SUBJECTS)
    def test_any_scope_and_subject_round_trip(
        self, scope: str, leaf: str, subject: str | None
    ) -> None:
        signer = Signer(KEYS, "k2")
        claims = signer.verify(signer.mint(scope, now=NOW, subject=subject), scope + leaf, now=NOW)
        assert (claims.scope, claims.subject, claims.key_id) == (scope, subject, "k2")


TOKEN = Signer(KEYS, "k1").mint(CHAPTER, now=NOW, ip="203.0.113.0/24", subject="user-7")
CHILD = Signer(KEYS, "k1").mint(
    CHAPTER, now=NOW, ip="203.0.113.0/24", subject="user-7", issued_at=NOW - 60, parent=PARENT
)


@given(
    token=st.sampled_from([TOKEN, CHILD]),
    index=st.integers(min_value=0, max_value=len(CHILD) - 1),
    replacement=st.sampled_from(BASE64URL + ".=/%~ "),
)
def test_any_single_changed_character_is_rejected(token: str, index: int, replacement: str) -> None:
    changed = token[:index] + replacement + token[index + 1 :]
    if changed == token:
        return
    with pytest.raises(TokenRejected):
        Signer(KEYS, "k1").verify(changed, SEGMENT, now=NOW, client_ip="203.0.113.1")


class TestPayload:
    @pytest.mark.parametrize(
        ("claims", "payload"),
        [
            (Claims("a/", 2, 1, "k1"), b'[1,"a/",2,1,null,null]'),
            (Claims("a/", 2, 1, "k1", "10.0.0.0/8", "u"), b'[1,"a/",2,1,"10.0.0.0/8","u"]'),
            (
                Claims("a/", 2, 1, "k1", parent=PARENT),
                b'[2,"a/",2,1,null,null,"' + PARENT.encode() + b'"]',
            ),
            (
                Claims("a/", 2, 1, "k1", "10.0.0.0/8", "u", PARENT),
                b'[2,"a/",2,1,"10.0.0.0/8","u","' + PARENT.encode() + b'"]',
            ),
        ],
        ids=["version 1", "version 1 bound", "version 2", "version 2 bound"],
    )
    def test_version_1_without_a_parent_and_2_with_one(
        self, claims: Claims, payload: bytes
    ) -> None:
        assert claims.to_payload() == payload
        assert Claims.from_payload(payload, "k1") == claims

    @given(
        scope=SCOPES,
        times=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)).map(sorted),
        subject=st.none() | SUBJECTS,
        parent=st.none() | PARENTS,
    )
    def test_any_claims_round_trip_through_the_payload(
        self, scope: str, times: list[int], subject: str | None, parent: str | None
    ) -> None:
        issued_at, expires_at = times
        claims = Claims(scope, expires_at, issued_at, "k1", None, subject, parent)
        assert Claims.from_payload(claims.to_payload(), "k1") == claims
        assert claims.to_payload().startswith(b"[1," if parent is None else b"[2,")


def test_the_signature_has_exactly_one_spelling(signer: Signer) -> None:
    # The 43rd base64 character carries 4 signature bits and 2 spare bits; flipping a
    # spare bit leaves the decoded signature unchanged.
    token = signer.mint(CHAPTER, now=NOW)
    last = BASE64URL.index(token[-1])
    for spare in (1, 2, 3):
        twin = token[:-1] + BASE64URL[last ^ spare]
        assert rejected(signer, twin).reason is Reason.BAD_SIGNATURE


class TestMalformed:
    @pytest.mark.parametrize(
        "token",
        [
            "",
            "k1",
            "k1.WzFd",
            "k1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "k1.WzFd.AAAA",
            "k1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "k1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "k1.W+Fd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "k1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            "k.1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "k1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
            "%6b1.WzFd.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
    )
    def test_shapes_that_are_not_tokens(self, signer: Signer, token: str) -> None:
        assert rejected(signer, token).reason is Reason.MALFORMED

    def test_overlong_token(self, signer: Signer) -> None:
        token = "k1." + "A" * MAX_TOKEN_LENGTH + ".sig"
        error = rejected(signer, token)
        assert error.reason is Reason.MALFORMED
        assert f"over {MAX_TOKEN_LENGTH}" in error.detail

    @pytest.mark.parametrize(
        ("payload", "detail"),
        [
            (b"not json", "not UTF-8 JSON"),
            (b"\xff\xfe", "not UTF-8 JSON"),
            (b'{"scope": "a/"}', "not a JSON array starting with a format version"),
            (b"[]", "not a JSON array starting with a format version"),
            (b'[1,"a/",2,1,null]', "version 1 is an array of 5 elements, not 6"),
            (b'[2,"a/",2,1,null,null]', "version 2 is an array of 6 elements, not 7"),
            (b'[1,"a/",2,1,null,null,"' + PARENT.encode() + b'"]', "of 7 elements, not 6"),
            (b'[2,"a/",2,1,null,null,"' + PARENT.encode() + b'",null]', "of 8 elements, not 7"),
            (b'[3,"a/",2,1,null,null,null]', "version 3 is not 1 or 2"),
            (b'[true,"a/",2,1,null,null]', "version True is not 1 or 2"),
            (b'[1.0,"a/",2,1,null,null]', "version 1.0 is not 1 or 2"),
            (b'["1","a/",2,1,null,null]', "version '1' is not 1 or 2"),
            (b'[2,"a/",2,1,null,null,null]', "parent is not a fingerprint"),
            (b'[2,"a/",2,1,null,null,"' + PARENT.upper().encode() + b'"]', "parent"),
            (b'[2,"a/",2,1,null,null,"' + PARENT[:31].encode() + b'"]', "parent"),
            (b'[2,"a/",2,1,null,null,"' + PARENT.encode() + b'0"]', "parent"),
            (b'[2,"a/",2,1,null,null,"' + PARENT.encode() + b'\\n"]', "parent"),
            (b'[2,"a/",2,1,null,null,7]', "parent"),
            (b'[2,"a/",2,1,null,null,["' + PARENT.encode() + b'"]]', "parent"),
            (b'[2,"../a/",2,1,null,null,"' + PARENT.encode() + b'"]', "'..' segment"),
            (b'[1,"../a/",2,1,null,null]', "'..' segment"),
            (b"[1,7,2,1,null,null]", "not a string"),
            (b'[1,"a/",2.5,1,null,null]', "not integers"),
            (b'[1,"a/",true,1,null,null]', "not integers"),
            (b'[1,"a/",NaN,1,null,null]', "not UTF-8 JSON"),
            (b'[1,"a/",1,2,null,null]', "issued 2 <= expires 1"),
            (b'[1,"a/",2,-1,null,null]', "0 <= issued -1"),
            (b'[1,"a/",2,1,7,null]', "ip"),
            (b'[1,"a/",2,1,null,""]', "subject"),
            (b'[1,"a/",2,1,null,["u"]]', "subject"),
        ],
    )
    def test_signed_payload_not_in_the_layout(
        self, signer: Signer, payload: bytes, detail: str
    ) -> None:
        error = rejected(signer, signed_payload(payload), path="a/b", now=0)
        assert error.reason is Reason.MALFORMED
        assert detail in error.detail

    def test_signed_binding_that_is_not_an_address(self, signer: Signer) -> None:
        token = signed_payload(b'[1,"a/",9,1,"not-an-ip",null]')
        error = rejected(signer, token, path="a/b", now=0, client_ip="203.0.113.1")
        assert error.reason is Reason.IP_MISMATCH
        assert "not an IP address or network" in error.detail


class TestKeys:
    def test_unknown_key_id(self, signer: Signer) -> None:
        token = Signer({"k9": SECRET_1}, "k9").mint(CHAPTER, now=NOW)
        error = rejected(signer, token)
        assert error.reason is Reason.UNKNOWN_KEY
        assert error.detail == "key id 'k9' is not in the key ring (k1, k2)"

    def test_wrong_secret_is_a_bad_signature(self, signer: Signer) -> None:
        token = Signer({"k1": SECRET_2}, "k1").mint(CHAPTER, now=NOW)
        assert rejected(signer, token).reason is Reason.BAD_SIGNATURE

    def test_rotation_old_key_still_listed_verifies(self) -> None:
        old = Signer({"k1": SECRET_1}, "k1").mint(CHAPTER, now=NOW)
        rotated = Signer(KEYS, "k2")
        new = rotated.mint(CHAPTER, now=NOW)
        assert new.startswith("k2.")
        assert rotated.verify(old, SEGMENT, now=NOW).key_id == "k1"
        assert rotated.verify(new, SEGMENT, now=NOW).key_id == "k2"

    def test_rotation_removed_key_is_unknown(self) -> None:
        old = Signer(KEYS, "k1").mint(CHAPTER, now=NOW)
        retired = Signer({"k2": SECRET_2}, "k2")
        assert rejected(retired, old).reason is Reason.UNKNOWN_KEY

    def test_purposes_do_not_mix(self, signer: Signer) -> None:
        grants = Signer(KEYS, "k1", purpose=Purpose.GRANT)
        grant = grants.mint(CHAPTER, now=NOW)
        assert grants.verify(grant, SEGMENT, now=NOW).scope == CHAPTER
        assert rejected(signer, grant).reason is Reason.BAD_SIGNATURE
        assert rejected(grants, signer.mint(CHAPTER, now=NOW)).reason is Reason.BAD_SIGNATURE

    @pytest.mark.parametrize(
        ("keys", "active", "message"),
        [
            ({}, "k1", "empty"),
            ({"k1": SECRET_1}, "k2", "active key id 'k2' is not among the keys (k1)"),
            ({"k.1": SECRET_1}, "k.1", "key id 'k.1'"),
            ({"": SECRET_1}, "", "key id ''"),
            ({"k" * 33: SECRET_1}, "k" * 33, "1 to 32"),
            ({"k1": "short"}, "k1", "is 5 bytes, under 16"),
            ({"k1": b"\x00" * 15}, "k1", "is 15 bytes, under 16"),
        ],
    )
    def test_bad_key_rings(self, keys: dict[str, str | bytes], active: str, message: str) -> None:
        with pytest.raises(KeyConfigError, match=re.escape(message)):
            Signer(keys, active)

    def test_bytes_secrets_are_used_as_they_are(self) -> None:
        token = Signer({"k1": SECRET_1.encode()}, "k1").mint(CHAPTER, now=NOW)
        assert token == Signer({"k1": SECRET_1}, "k1").mint(CHAPTER, now=NOW)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"leeway": -1},
            {"leeway": math.inf},
            {"default_ttl": 0},
            {"default_ttl": 90_000},
            {"max_ttl": 0},
            {"max_ttl": math.nan},
        ],
    )
    def test_bad_timings(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(KeyConfigError):
            Signer(KEYS, "k1", **kwargs)

    def test_repr_names_keys_but_never_secrets(self, signer: Signer) -> None:
        shown = repr(signer)
        assert "k1" in shown and "k2" in shown
        assert SECRET_1 not in shown and SECRET_2 not in shown


class TestExpiry:
    def test_detail_says_how_long_ago(self, signer: Signer) -> None:
        token = signer.mint(CHAPTER, now=NOW, ttl=60)
        error = rejected(signer, token, now=NOW + 60 + 42)
        assert error.reason is Reason.EXPIRED
        assert error.detail == "token expired 42 s ago (leeway 30 s)"
        assert str(error) == "expired: token expired 42 s ago (leeway 30 s)"

    @pytest.mark.parametrize(
        ("leeway", "after_expiry", "accepted"),
        [
            (30, 0, True),
            (30, 29.999, True),
            (30, 30, True),
            (30, 30.001, False),
            (30, 31, False),
            (0, 0, True),
            (0, 0.001, False),
            (120, 120, True),
            (120, 121, False),
        ],
    )
    def test_leeway_boundaries(self, leeway: float, after_expiry: float, accepted: bool) -> None:
        signer = Signer(KEYS, "k1", leeway=leeway)
        token = signer.mint(CHAPTER, now=NOW, ttl=60)
        now = NOW + 60 + after_expiry
        if accepted:
            assert signer.verify(token, SEGMENT, now=now).expires_at == NOW + 60
        else:
            assert rejected(signer, token, now=now).reason is Reason.EXPIRED

    def test_nan_clock_fails_closed(self, signer: Signer) -> None:
        token = signer.mint(CHAPTER, now=NOW)
        assert rejected(signer, token, now=math.nan).reason is Reason.EXPIRED


class TestScopeAndAddress:
    @pytest.mark.parametrize(
        ("scope", "path", "accepted"),
        [
            (CHAPTER, SEGMENT, True),
            (CHAPTER, CHAPTER + "720p/seg-00001.ts", True),
            (CHAPTER, "courses/python-jumpstart/ch03", False),
            (CHAPTER, "courses/python-jumpstart/ch03x/seg-00001.ts", False),
            (CHAPTER, "courses/python-jumpstart/ch04/seg-00001.ts", False),
            (CHAPTER, CHAPTER + "../ch04/seg-00001.ts", False),
            (CHAPTER, CHAPTER + "./seg-00001.ts", False),
            (CHAPTER, CHAPTER + "/seg-00001.ts", False),
            (CHAPTER, CHAPTER + "a\\b.ts", False),
            (CHAPTER, CHAPTER + "a\x00.ts", False),
            (CHAPTER, CHAPTER + "%2e%2e/x.ts", False),
            (CHAPTER, "/" + SEGMENT, False),
            ("courses/py/ch03/intro.mp4", "courses/py/ch03/intro.mp4", True),
            ("courses/py/ch03/intro.mp4", "courses/py/ch03/intro.mp4/x", False),
            ("courses/py/ch03", "courses/py/ch03x/intro.mp4", False),
            ("courses/py/ch03", "courses/py/ch03/intro.mp4", False),
        ],
    )
    def test_paths(self, signer: Signer, scope: str, path: str, accepted: bool) -> None:
        token = signer.mint(scope, now=NOW)
        if accepted:
            assert signer.verify(token, path, now=NOW).scope == scope
        else:
            assert rejected(signer, token, path=path).reason is Reason.OUT_OF_SCOPE

    @pytest.mark.parametrize(
        ("bound", "client", "accepted"),
        [
            ("203.0.113.7", "203.0.113.7", True),
            ("203.0.113.7", "203.0.113.8", False),
            ("203.0.113.0/24", "203.0.113.254", True),
            ("203.0.113.0/24", "203.0.114.1", False),
            ("203.0.113.0/24", "::ffff:203.0.113.9", True),
            ("203.0.113.0/24", "2001:db8::1", False),
            ("2001:db8:ab::/48", "2001:db8:ab:ffff::1", True),
            ("2001:db8:ab::/48", "2001:db8:ac::1", False),
            ("2001:db8::1", "2001:0db8:0000::0001", True),
            ("2001:db8::/32", "203.0.113.7", False),
            ("203.0.113.7", None, False),
            ("203.0.113.7", "not an address", False),
        ],
    )
    def test_client_addresses(
        self, signer: Signer, bound: str, client: str | None, accepted: bool
    ) -> None:
        token = signer.mint(CHAPTER, now=NOW, ip=bound)
        if accepted:
            assert signer.verify(token, SEGMENT, now=NOW, client_ip=client).ip == bound
        else:
            assert rejected(signer, token, client_ip=client).reason is Reason.IP_MISMATCH

    def test_unbound_token_ignores_the_client(self, signer: Signer) -> None:
        token = signer.mint(CHAPTER, now=NOW)
        assert signer.verify(token, SEGMENT, now=NOW, client_ip="198.51.100.1").ip is None


class TestMintRefuses:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"ttl": 0}, "ttl 0 s is not within (0, 86400] s"),
            ({"ttl": -5}, "ttl -5"),
            ({"ttl": 86401}, "ttl 86401"),
            ({"ttl": math.nan}, "ttl nan"),
            ({"now": math.inf}, "now must be finite"),
            ({"now": -1}, "now must be finite"),
            ({"scope": "/"}, "whole site"),
            ({"scope": ""}, "is empty"),
            ({"scope": "/courses/py/"}, "empty segment"),
            ({"scope": "courses/../admin/"}, "'..' segment"),
            ({"scope": "courses//py/"}, "empty segment"),
            ({"scope": "courses\\py/"}, "forbidden character"),
            ({"scope": "courses/py%2Fch03/"}, "double encoding"),
            ({"scope": "a/" * 600}, "over the limit of 1024"),
            ({"ip": "203.0.113.300"}, "not an IP address or CIDR"),
            ({"ip": "10.0.0.0/33"}, "not an IP address or CIDR"),
            ({"ip": "example.com"}, "not an IP address or CIDR"),
            ({"subject": ""}, "subject '' is empty"),
            ({"subject": "user\n42"}, "control character"),
            ({"subject": "u" * 129}, "over the limit of 128"),
            ({"issued_at": math.nan}, f"issued_at nan is not unix seconds within [0, now {NOW}]"),
            ({"issued_at": math.inf}, "issued_at inf is not unix seconds"),
            ({"issued_at": -1}, "issued_at -1 is not unix seconds"),
            ({"issued_at": NOW + 1}, f"issued_at {NOW + 1} is not unix seconds"),
            ({"issued_at": NOW + 0.001}, f"issued_at {NOW + 0.001} is not unix seconds"),
            (
                {"issued_at": NOW - MAX_TTL, "ttl": 60},
                f"token issued at {NOW - MAX_TTL} must expire by {NOW} (max_ttl 86400 s),"
                f" not at now {NOW} + ttl 60 s",
            ),
            ({"issued_at": NOW - MAX_TTL + 7199}, "must expire by"),
            ({"parent": ""}, "parent is not a fingerprint (32 lowercase hex digits"),
            ({"parent": PARENT.upper()}, "parent is not a fingerprint"),
            ({"parent": PARENT[:31]}, "got 31 characters"),
            ({"parent": PARENT + "0"}, "got 33 characters"),
            ({"parent": "g" * 32}, "parent is not a fingerprint"),
            ({"parent": f" {PARENT[1:]}"}, "parent is not a fingerprint"),
        ],
    )
    def test_bad_claims(self, signer: Signer, kwargs: dict[str, Any], message: str) -> None:
        arguments: dict[str, Any] = {"scope": CHAPTER, "now": NOW} | kwargs
        with pytest.raises(ClaimError, match=re.escape(message)):
            signer.mint(**arguments)

    def test_a_grant_given_as_parent_is_refused_without_being_echoed(self, signer: Signer) -> None:
        grant = Signer(KEYS, "k1", purpose=Purpose.GRANT).mint(CHAPTER, now=NOW)
        with pytest.raises(ClaimError) as caught:
            signer.mint(CHAPTER, now=NOW, parent=grant)
        assert f"got {len(grant)} characters" in str(caught.value)
        assert grant not in str(caught.value)

    def test_token_too_long_for_a_path_segment(self, signer: Signer) -> None:
        scope = "/".join(["é" * 100] * 10) + "/"
        with pytest.raises(ClaimError, match="over 2048"):
            signer.mint(scope, now=NOW)

    def test_claim_errors_are_value_errors(self, signer: Signer) -> None:
        with pytest.raises(ValueError):
            signer.mint("", now=NOW)


class TestUrl:
    def test_playlist_url_grants_its_segments(self, signer: Signer) -> None:
        url = signer.url(
            CHAPTER + "index.m3u8", scope=CHAPTER, now=NOW, base="https://edge-fra.example.com/"
        )
        parts = urlsplit(url)
        assert parts.netloc == "edge-fra.example.com"
        prefix, token, rest = parts.path.split("/", 3)[1:]
        assert prefix == "s"
        assert rest == "courses/python-jumpstart/ch03/index.m3u8"
        # A player resolving "seg-00001.ts" against the playlist URL keeps the token.
        segment_raw = rest.rsplit("/", 1)[0] + "/seg-00001.ts"
        assert signer.verify(token, normalise_path(segment_raw), now=NOW).scope == CHAPTER

    def test_scope_defaults_to_the_path(self, signer: Signer) -> None:
        url = signer.url("podcasts/ep-042.mp3", now=NOW, base="https://edge.example")
        token = url.split("/")[4]
        assert signer.verify(token, "podcasts/ep-042.mp3", now=NOW).scope == "podcasts/ep-042.mp3"
        assert rejected(signer, token, path="podcasts/ep-043.mp3").reason is Reason.OUT_OF_SCOPE

    def test_path_is_percent_encoded_and_decodes_back(self, signer: Signer) -> None:
        path = 'courses/café/lesson 1 "intro" #1?.mp4'
        url = signer.url(path, now=NOW, base="https://edge.example", subject="u1")
        raw = url.split("/", 5)[5]
        assert raw == "courses/caf%C3%A9/lesson%201%20%22intro%22%20%231%3F.mp4"
        token = url.split("/")[4]
        assert signer.verify(token, normalise_path(raw), now=NOW).subject == "u1"

    @pytest.mark.parametrize(
        ("path", "scope", "message"),
        [
            ("courses/py/ch04/a.ts", "courses/py/ch03/", "lies outside scope"),
            ("courses/py/ch03", "courses/py/ch03/", "lies outside scope"),
            ("courses/py/../x.ts", None, "'..' segment"),
            ("courses/py/ch03/a.ts", "courses//", "empty segment"),
        ],
    )
    def test_refuses_paths_it_would_not_verify(
        self, signer: Signer, path: str, scope: str | None, message: str
    ) -> None:
        with pytest.raises(ClaimError, match=re.escape(message)):
            signer.url(path, scope=scope, now=NOW, base="https://edge.example")


@dataclass
class FakeSecret:
    value: str

    def reveal(self) -> str:
        return self.value


@dataclass
class FakeSigning:
    """Stands in for config's signing section, loose enough to hold wrong types."""

    keys: object = field(default_factory=lambda: {"k1": FakeSecret(SECRET_1)})
    active: object = "k1"
    leeway: object = 5
    default_ttl: object = 600


@dataclass
class FakeSettings:
    signing: object = None


class TestFromSettings:
    def test_reads_keys_through_reveal(self) -> None:
        signer = Signer.from_settings(FakeSettings(FakeSigning()))
        token = signer.mint(CHAPTER, now=NOW)
        assert token == Signer({"k1": SECRET_1}, "k1").mint(CHAPTER, now=NOW, ttl=600)
        assert signer.leeway == 5
        assert rejected(signer, token, now=NOW + 606).reason is Reason.EXPIRED

    def test_max_ttl_when_configured(self) -> None:
        @dataclass
        class SigningWithMaxTtl(FakeSigning):
            max_ttl: object = 900

        signer = Signer.from_settings(FakeSettings(SigningWithMaxTtl()), purpose=Purpose.GRANT)
        assert (signer.max_ttl, signer.purpose) == (900, Purpose.GRANT)

    def test_missing_signing_section(self) -> None:
        with pytest.raises(KeyConfigError, match=r"settings\.signing is not configured"):
            Signer.from_settings(FakeSettings())
        with pytest.raises(KeyConfigError, match=r"settings\.signing is not configured"):
            Signer.from_settings(object())

    @pytest.mark.parametrize(
        ("signing", "message"),
        [
            (FakeSigning(keys={"k1": 42}), "settings.signing.keys['k1'] is not a secret"),
            (FakeSigning(keys=["k1"]), "not a mapping"),
            (FakeSigning(active=None), "active None is not a key id"),
            (FakeSigning(leeway="30s"), "settings.signing.leeway '30s' is not seconds"),
            (FakeSigning(keys={"k1": FakeSecret("short")}), "under 16"),
        ],
    )
    def test_unusable_signing_section(self, signing: FakeSigning, message: str) -> None:
        with pytest.raises(KeyConfigError, match=re.escape(message)):
            Signer.from_settings(FakeSettings(signing))

    def test_signing_lacking_an_attribute(self) -> None:
        @dataclass
        class Partial:
            keys: dict[str, str]

        with pytest.raises(KeyConfigError, match="lacks 'active'"):
            Signer.from_settings(FakeSettings(Partial({"k1": SECRET_1})))


def test_rejections_share_one_status(signer: Signer) -> None:
    assert rejected(signer, "nonsense").status_hint == 403
