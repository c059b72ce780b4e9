"""Any string a client puts where a token goes is either a valid token or our own refusal."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from signer import Signer, TokenRejected

from .values import CHAPTER, KEYS, NOW, SEGMENT

SIGNER = Signer(KEYS, "k1")
TOKEN = SIGNER.mint(CHAPTER, now=NOW, ttl=3600)
# Tokens are base64url parts joined by dots: mutate within and around that alphabet.
ALPHABET = st.sampled_from("ABCabc012-_.=+/%~ \x00é")


@given(st.text(max_size=300))
@example("")
@example(".")
@example("..")
@example("v2." * 50)
@example(TOKEN[:-1])
@example(TOKEN + ".")
def test_arbitrary_text_is_refused_with_our_error(text: str) -> None:
    with pytest.raises(TokenRejected):
        SIGNER.verify(text, SEGMENT, now=NOW + 60)


@given(
    st.integers(0, len(TOKEN)),
    st.integers(0, 8),
    st.text(ALPHABET, max_size=8),
)
def test_a_token_spliced_anywhere_is_the_token_or_refused(at: int, cut: int, insert: str) -> None:
    forged = TOKEN[:at] + insert + TOKEN[at + cut :]
    try:
        claims = SIGNER.verify(forged, SEGMENT, now=NOW + 60)
    except TokenRejected:
        return
    # Only the very same token may pass.
    assert forged == TOKEN
    assert claims
