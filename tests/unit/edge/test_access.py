"""The signed route's pure parts: splitting the path, hiding tokens in logs, naming tokens."""

from __future__ import annotations

import pytest

from edge.access import authorise, is_public, split_signed
from edge.accesslog import redact_tokens, shown_target
from edge.commands import token_fingerprint
from edge.errors import CommandError
from signer import Reason, RevocationList, Signer, TokenRejected, fingerprint

NOW = 1_767_225_600
SIGNER = Signer({"k1": "unit-test-secret-0123456789abcdef"}, "k1")
TOKEN = SIGNER.mint("courses/py/", now=NOW, subject="s-1")


@pytest.mark.parametrize(
    ("raw", "split"),
    [
        ("/s/TOKEN/courses/py/a.ts", ("TOKEN", "courses/py/a.ts")),
        ("/s/TOKEN/", ("TOKEN", "")),
        ("/s/TOKEN", ("TOKEN", "")),
        ("/s/", ("", "")),
        ("/s", None),
        ("/marketing/a.mp4", None),
        ("/x/s/TOKEN/a", None),
        ("//s/TOKEN/a", None),
    ],
)
def test_split_signed(raw: str, split: tuple[str, str] | None) -> None:
    assert split_signed(raw) == split


def test_authorise_returns_the_decoded_path_and_claims() -> None:
    grant = authorise(
        SIGNER, TOKEN, "courses/py/ch%C3%A9/a.ts", now=NOW, client_ip=None, revoked=None
    )
    assert grant.path == "courses/py/ché/a.ts"
    assert grant.claims.subject == "s-1"


@pytest.mark.parametrize(
    ("rest", "reason"),
    [
        ("courses/py/../js/a.ts", Reason.OUT_OF_SCOPE),
        ("courses/py/%2e%2e/js/a.ts", Reason.OUT_OF_SCOPE),
        ("courses/js/a.ts", Reason.OUT_OF_SCOPE),
        ("", Reason.OUT_OF_SCOPE),
    ],
)
def test_authorise_refuses_paths_outside_the_scope(rest: str, reason: Reason) -> None:
    with pytest.raises(TokenRejected) as caught:
        authorise(SIGNER, TOKEN, rest, now=NOW, client_ip=None, revoked=None)
    assert caught.value.reason is reason


def test_authorise_honours_the_revocation_list() -> None:
    revoked = RevocationList().with_subject("s-1", now=NOW + 5, max_ttl=86400)
    with pytest.raises(TokenRejected) as caught:
        authorise(SIGNER, TOKEN, "courses/py/a.ts", now=NOW + 10, client_ip=None, revoked=revoked)
    assert caught.value.reason is Reason.REVOKED


@pytest.mark.parametrize(
    ("key", "public"),
    [
        ("marketing/trailer.mp4", True),
        ("marketing/2025/poster.jpg", True),
        ("marketing", False),
        ("marketingx/a.mp4", False),
        ("courses/py/a.mp4", False),
    ],
)
def test_is_public(key: str, public: bool) -> None:
    assert is_public(key, ("marketing/", "press/")) is public


def test_logged_targets_carry_a_fingerprint_never_the_token() -> None:
    shown = shown_target(f"/s/{TOKEN}/courses/py/a.ts?x=1")
    assert shown == f"/s/fp:{fingerprint(TOKEN)}/courses/py/a.ts?x=1"
    assert TOKEN not in shown
    assert shown_target("/marketing/a.mp4?t=3") == "/marketing/a.mp4?t=3"


@pytest.mark.parametrize(
    "given",
    [
        TOKEN,
        f"https://edge-fra.example.com/s/{TOKEN}/courses/py/a.ts",
        f"/s/{TOKEN}/courses/py/a.ts",
        fingerprint(TOKEN),
        f"fp:{fingerprint(TOKEN)}",
        f"  {TOKEN}\n",
    ],
    ids=["token", "url", "path", "fingerprint", "log form", "pasted with spaces"],
)
def test_a_token_to_revoke_may_be_given_in_every_form_an_operator_has(given: str) -> None:
    assert token_fingerprint(given) == fingerprint(TOKEN)


@pytest.mark.parametrize("given", ["", "https://edge.example.com/marketing/a.mp4", "a/b"])
def test_things_that_are_not_tokens_are_refused(given: str) -> None:
    with pytest.raises(CommandError):
        token_fingerprint(given)


def test_tokens_are_redacted_from_any_log_text() -> None:
    line = f"Invalid char in url path: b'GET /s/{TOKEN}/\\xff HTTP/1.1'"
    redacted = redact_tokens(line)
    assert TOKEN not in redacted
    assert f"/s/fp:{fingerprint(TOKEN)}/" in redacted
    assert redact_tokens("GET /marketing/a.b.mp4") == "GET /marketing/a.b.mp4"
