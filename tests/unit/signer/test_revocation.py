"""Per-student revocation: matching, pruning, and the JSON file edges load."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from signer import (
    ClaimError,
    Purpose,
    Reason,
    RevocationList,
    RevocationListError,
    Signer,
    SubjectRevocation,
    TokenRejected,
    TokenRevocation,
    fingerprint,
)

from .values import CHAPTER, KEYS, NOW, SEGMENT

DAY = 86400


def subjects(entry: str) -> str:
    """A revocation-list document holding one subject entry given as JSON text."""
    return f'{{"version":1,"subjects":[{entry}],"tokens":[]}}'


def verdict(signer: Signer, token: str, now: float, revoked: RevocationList) -> Reason | None:
    try:
        signer.verify(token, SEGMENT, now=now, revoked=revoked)
    except TokenRejected as exc:
        return exc.reason
    return None


class TestBySubject:
    def test_tokens_issued_before_are_revoked_and_after_are_not(self, signer: Signer) -> None:
        before = signer.mint(CHAPTER, now=NOW - 100, subject="user-1842")
        same_second = signer.mint(CHAPTER, now=NOW + 0.9, subject="user-1842")
        after = signer.mint(CHAPTER, now=NOW + 1, subject="user-1842")
        revoked = RevocationList().with_subject("user-1842", now=NOW + 0.5, max_ttl=DAY)
        assert verdict(signer, before, NOW + 2, revoked) is Reason.REVOKED
        assert verdict(signer, same_second, NOW + 2, revoked) is Reason.REVOKED
        assert verdict(signer, after, NOW + 2, revoked) is None

    def test_other_subjects_and_anonymous_tokens_pass(self, signer: Signer) -> None:
        revoked = RevocationList().with_subject("user-1842", now=NOW, max_ttl=DAY)
        other = signer.mint(CHAPTER, now=NOW - 10, subject="user-1843")
        anonymous = signer.mint(CHAPTER, now=NOW - 10)
        assert verdict(signer, other, NOW, revoked) is None
        assert verdict(signer, anonymous, NOW, revoked) is None

    def test_detail_names_subject_and_times(self, signer: Signer) -> None:
        token = signer.mint(CHAPTER, now=NOW - 10, subject="user-1842")
        revoked = RevocationList().with_subject("user-1842", now=NOW, max_ttl=DAY)
        with pytest.raises(TokenRejected) as caught:
            signer.verify(token, SEGMENT, now=NOW, revoked=revoked)
        assert caught.value.detail == (
            f"subject 'user-1842' revoked at {NOW}; token issued at {NOW - 10}"
        )

    def test_a_url_carrying_its_grants_issue_time_falls_with_the_grant(
        self, signer: Signer
    ) -> None:
        grants = Signer(KEYS, "k1", purpose=Purpose.GRANT)
        grant = grants.mint(CHAPTER, now=NOW - 600, ttl=3600, subject="user-1842")
        issued_at = grants.verify(grant, SEGMENT, now=NOW).issued_at
        url = signer.mint(CHAPTER, now=NOW, subject="user-1842", issued_at=issued_at)
        undated = signer.mint(CHAPTER, now=NOW, subject="user-1842")
        revoked = RevocationList().with_subject("user-1842", now=NOW - 300, max_ttl=DAY)
        assert verdict(grants, grant, NOW + 1, revoked) is Reason.REVOKED
        assert verdict(signer, url, NOW + 1, revoked) is Reason.REVOKED
        assert verdict(signer, undated, NOW + 1, revoked) is None

    def test_until_covers_the_longest_token_and_the_leeway(self) -> None:
        (entry,) = RevocationList().with_subject("u", now=NOW + 0.5, max_ttl=7200, leeway=30)
        assert entry == SubjectRevocation("u", revoked_at=NOW, until=NOW + 7231)

    def test_repeated_subject_merges_to_the_latest(self) -> None:
        merged = RevocationList(
            [SubjectRevocation("u", 100, 500), SubjectRevocation("u", 300, 400)]
        )
        assert merged.entries == (SubjectRevocation("u", 300, 500),)


class TestByToken:
    def test_one_token_is_revoked_and_its_siblings_are_not(self, signer: Signer) -> None:
        leaked = signer.mint(CHAPTER, now=NOW, subject="user-1842")
        sibling = signer.mint(CHAPTER, now=NOW + 1, subject="user-1842")
        revoked = RevocationList().with_token(fingerprint(leaked), now=NOW, max_ttl=DAY)
        assert verdict(signer, leaked, NOW + 5, revoked) is Reason.REVOKED
        assert verdict(signer, sibling, NOW + 5, revoked) is None

    def test_fingerprint_is_32_hex_digits_of_sha256(self) -> None:
        assert fingerprint("k1.abc.def") == hashlib.sha256(b"k1.abc.def").hexdigest()[:32]
        assert re.fullmatch(r"[0-9a-f]{32}", fingerprint("anything"))
        # Long ones too, which are not kept (fingerprints.CACHED_LENGTH), and asked twice.
        for token in ("k1." + "a" * 600 + ".sig", "k1.abc.def"):
            for _ in range(2):
                want = hashlib.sha256(token.encode()).hexdigest()[:32]
                assert fingerprint(token) == want

    @pytest.mark.parametrize("bad", ["", "ABCDEF" * 6, "a" * 31, "a" * 33, "k1.abc.def"])
    def test_fingerprint_shape_is_checked(self, bad: str) -> None:
        with pytest.raises(RevocationListError, match="32 lowercase hex"):
            TokenRevocation(bad, NOW)


class TestByParent:
    def test_revoking_a_grant_voids_the_urls_minted_from_it(self, signer: Signer) -> None:
        grants = Signer(KEYS, "k1", purpose=Purpose.GRANT)
        grant = grants.mint(CHAPTER, now=NOW - 60, subject="user-1842")
        other_grant = grants.mint(CHAPTER, now=NOW - 59, subject="user-1842")
        url = signer.mint(CHAPTER, now=NOW, subject="user-1842", parent=fingerprint(grant))
        sibling = signer.mint(
            CHAPTER, now=NOW, subject="user-1842", parent=fingerprint(other_grant)
        )
        orphan = signer.mint(CHAPTER, now=NOW, subject="user-1842")
        revoked = RevocationList().with_token(fingerprint(grant), now=NOW, max_ttl=DAY)
        assert verdict(grants, grant, NOW + 5, revoked) is Reason.REVOKED
        assert verdict(signer, url, NOW + 5, revoked) is Reason.REVOKED
        assert verdict(signer, sibling, NOW + 5, revoked) is None
        assert verdict(signer, orphan, NOW + 5, revoked) is None

    def test_detail_names_the_parent(self, signer: Signer) -> None:
        parent = fingerprint("k1.a-grant.signature")
        token = signer.mint(CHAPTER, now=NOW, parent=parent)
        revoked = RevocationList().with_token(parent, now=NOW, max_ttl=DAY)
        with pytest.raises(TokenRejected) as caught:
            signer.verify(token, SEGMENT, now=NOW, revoked=revoked)
        assert caught.value.detail == f"parent token {parent} revoked"

    def test_only_the_direct_parent_counts(self, signer: Signer) -> None:
        grandparent = fingerprint("k1.a-grant.signature")
        child = signer.mint(CHAPTER, now=NOW, parent=grandparent)
        grandchild = signer.mint(CHAPTER, now=NOW, parent=fingerprint(child))
        revoked = RevocationList().with_token(grandparent, now=NOW, max_ttl=DAY)
        assert verdict(signer, child, NOW, revoked) is Reason.REVOKED
        assert verdict(signer, grandchild, NOW, revoked) is None

    @given(
        parent=st.text("0123456789abcdef", min_size=32, max_size=32),
        other=st.text("0123456789abcdef", min_size=32, max_size=32),
    )
    def test_a_token_with_a_parent_is_revoked_by_its_parents_fingerprint_and_its_own(
        self, parent: str, other: str
    ) -> None:
        signer = Signer(KEYS, "k1")
        token = signer.mint(CHAPTER, now=NOW, parent=parent)
        claims = signer.verify(token, SEGMENT, now=NOW)
        own = fingerprint(token)
        for named in (parent, own):
            entry = TokenRevocation(named, NOW + DAY)
            assert RevocationList([entry]).match(token, claims) == entry
            assert verdict(signer, token, NOW, RevocationList([entry])) is Reason.REVOKED
        if other not in (parent, own):
            assert RevocationList([TokenRevocation(other, NOW + DAY)]).match(token, claims) is None


class TestPruning:
    def test_drops_only_entries_whose_tokens_all_expired(self) -> None:
        entries = RevocationList(
            [
                SubjectRevocation("old", 100, 1000),
                SubjectRevocation("live", 900, 2000),
                TokenRevocation("0" * 32, 999),
                TokenRevocation("1" * 32, 1000),
            ]
        )
        assert entries.pruned(1000).entries == (
            SubjectRevocation("live", 900, 2000),
            SubjectRevocation("old", 100, 1000),
            TokenRevocation("1" * 32, 1000),
        )
        assert len(entries.pruned(1001)) == 1
        assert len(entries.pruned(float("nan"))) == 4

    @given(
        minted=st.integers(min_value=0, max_value=DAY),
        ttl=st.integers(min_value=1, max_value=DAY),
        revoked_after=st.integers(min_value=0, max_value=DAY),
        checked_after=st.integers(min_value=0, max_value=3 * DAY),
    )
    def test_a_revoked_token_never_verifies_even_after_pruning(
        self, minted: int, ttl: int, revoked_after: int, checked_after: int
    ) -> None:
        signer = Signer(KEYS, "k1", max_ttl=DAY)
        token = signer.mint(CHAPTER, now=NOW + minted, ttl=ttl, subject="s")
        revoked_at = NOW + minted + revoked_after
        revoked = RevocationList().with_subject(
            "s", now=revoked_at, max_ttl=signer.max_ttl, leeway=signer.leeway
        )
        now = revoked_at + checked_after
        assert verdict(signer, token, now, revoked.pruned(now)) in {
            Reason.REVOKED,
            Reason.EXPIRED,
        }

    @given(
        by_token=st.booleans(),
        grant_ttl=st.integers(min_value=1, max_value=DAY),
        grant_age=st.integers(min_value=0, max_value=DAY + 30),
        url_ttl=st.integers(min_value=1, max_value=DAY),
        revoked_after=st.integers(min_value=0, max_value=2 * DAY),
        checked_after=st.integers(min_value=0, max_value=3 * DAY),
    )
    def test_a_url_from_a_revoked_grant_never_verifies_even_after_pruning(
        self,
        by_token: bool,
        grant_ttl: int,
        grant_age: int,
        url_ttl: int,
        revoked_after: int,
        checked_after: int,
    ) -> None:
        # The locator mints the URL while the grant still verifies, whether or not the
        # subject has been revoked since: it does not read the revocation list.
        assume(grant_age <= grant_ttl + 30)
        grants = Signer(KEYS, "k1", purpose=Purpose.GRANT, max_ttl=DAY)
        urls = Signer(KEYS, "k1", max_ttl=DAY)
        grant = grants.mint(CHAPTER, now=NOW, ttl=grant_ttl, subject="s")
        claims = grants.verify(grant, SEGMENT, now=NOW + grant_age)
        try:
            url = urls.mint(
                CHAPTER,
                now=NOW + grant_age,
                ttl=url_ttl,
                subject="s",
                issued_at=claims.issued_at,
                parent=fingerprint(grant),
            )
        except ClaimError:
            # Refused only when the URL would outlive max_ttl counted from the grant.
            assert grant_age + url_ttl > DAY
            return
        revoked_at = NOW + revoked_after
        timing = {"now": revoked_at, "max_ttl": urls.max_ttl, "leeway": urls.leeway}
        if by_token:
            revoked = RevocationList().with_token(fingerprint(grant), **timing)
        else:
            revoked = RevocationList().with_subject("s", **timing)
        now = max(revoked_at, NOW + grant_age) + checked_after
        assert verdict(urls, url, now, revoked.pruned(now)) in {Reason.REVOKED, Reason.EXPIRED}


class TestJson:
    def test_round_trip(self) -> None:
        original = (
            RevocationList()
            .with_subject("user-1842", now=NOW, max_ttl=DAY)
            .with_subject("Jürgen Öst", now=NOW + 5, max_ttl=DAY)
            .with_token(fingerprint("k1.a.b"), now=NOW, max_ttl=DAY)
        )
        text = original.to_json()
        assert RevocationList.from_json(text) == original
        assert RevocationList.from_json(text.encode("utf-8")) == original
        assert RevocationList.from_json(text).to_json() == text
        assert json.loads(text)["version"] == 1

    def test_empty_list_round_trips(self) -> None:
        assert RevocationList.from_json(RevocationList().to_json()) == RevocationList()
        assert len(RevocationList.from_json('{"version":1,"subjects":[],"tokens":[]}')) == 0

    def test_one_entry_per_line(self) -> None:
        text = (
            RevocationList([SubjectRevocation("a", 1, 2), SubjectRevocation("b", 1, 2)])
            .with_token("f" * 32, now=0, max_ttl=1, leeway=0)
            .to_json()
        )
        assert text.splitlines()[2:4] == [
            '  {"subject": "a", "revoked_at": 1, "until": 2},',
            '  {"subject": "b", "revoked_at": 1, "until": 2}',
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "not valid JSON"),
            ("{", "not valid JSON"),
            ("[]", "revocation list: expected an object, got list"),
            ('{"version":1,"subjects":[]}', "missing ['tokens']"),
            ('{"version":1,"subjects":[],"tokens":[],"x":1}', "unexpected ['x']"),
            ('{"version":2,"subjects":[],"tokens":[]}', "version 2 is not 1"),
            ('{"version":true,"subjects":[],"tokens":[]}', "version True is not 1"),
            ('{"version":1,"version":1,"subjects":[],"tokens":[]}', "repeats the key 'version'"),
            ('{"version":1,"subjects":{},"tokens":[]}', "subjects: expected an array"),
            ('{"version":1,"subjects":[7],"tokens":[]}', "subjects[0]: expected an object"),
            (
                subjects('{"subject":"u","revoked_at":"1","until":2}'),
                "subjects[0]: revoked_at must be a non-negative integer, got '1'",
            ),
            (
                subjects('{"subject":"u","revoked_at":1.5,"until":2}'),
                "subjects[0]: revoked_at must be a non-negative integer, got 1.5",
            ),
            (
                subjects('{"subject":"u","revoked_at":-1,"until":2}'),
                "revoked_at must be a non-negative integer, got -1",
            ),
            (
                subjects('{"subject":"u","revoked_at":1,"until":false}'),
                "until must be a non-negative integer, got False",
            ),
            (
                subjects('{"subject":"u","revoked_at":1,"until":NaN}'),
                "NaN, which is not a JSON number",
            ),
            (
                subjects('{"subject":"u","revoked_at":9,"until":2}'),
                "subjects[0]: until 2 is 7 s before revoked_at",
            ),
            (
                subjects('{"subject":"","revoked_at":1,"until":2}'),
                "subjects[0]: subject '' is empty",
            ),
            (
                subjects('{"subject":3,"revoked_at":1,"until":2}'),
                "subjects[0]: subject must be a string, got 3",
            ),
            (subjects('{"subject":"a\\nb","revoked_at":1,"until":2}'), "control character"),
            (
                subjects('{"subject":"u","until":2}'),
                "subjects[0]: expected exactly the keys ['revoked_at', 'subject', 'until']",
            ),
            (
                '{"version":1,"subjects":[],"tokens":[{"fingerprint":"XYZ","until":2}]}',
                "tokens[0]: fingerprint 'XYZ' is not 32 lowercase hex digits",
            ),
        ],
    )
    def test_malformed_documents_are_refused_with_their_place(
        self, text: str, message: str
    ) -> None:
        with pytest.raises(RevocationListError, match=re.escape(message)):
            RevocationList.from_json(text)

    def test_revocation_list_errors_are_value_errors(self) -> None:
        with pytest.raises(ValueError):
            RevocationList.from_json("null")


@pytest.mark.parametrize(
    "kwargs", [{"now": float("nan")}, {"max_ttl": -1}, {"leeway": float("inf")}]
)
def test_helpers_refuse_unusable_times(kwargs: dict[str, float]) -> None:
    arguments = {"now": NOW, "max_ttl": DAY} | kwargs
    with pytest.raises(RevocationListError, match="must be finite"):
        RevocationList().with_subject("u", **arguments)
