"""The tests' token forger (tests/support/tokens.py) always forges: never the token itself."""

from __future__ import annotations

import pytest

from signer import Reason, Signer, TokenRejected
from tests.support.tokens import BASE64URL, tamper

from .values import CHAPTER, KEYS, NOW, SEGMENT


def test_the_alphabet_is_base64urls() -> None:
    assert len(set(BASE64URL)) == 64
    assert BASE64URL[0] + BASE64URL[26] + BASE64URL[52] + BASE64URL[62:] == "Aa0-_"


@pytest.mark.parametrize("key_id", ["k1", "k2"])
def test_every_tampered_token_is_well_formed_and_refused_for_its_signature(key_id: str) -> None:
    signer = Signer(KEYS, key_id)
    # A token per second for four minutes: all 16 characters a signature can end in
    # turn up, "A" among them, the one a fixed replacement used to leave unchanged.
    tokens = [signer.mint(CHAPTER, now=NOW + second, ttl=3600) for second in range(240)]
    assert len({token[-1] for token in tokens}) == 16
    assert "A" in {token[-1] for token in tokens}
    for token in tokens:
        forged = tamper(token)
        assert forged != token
        assert len(forged) == len(token)
        assert forged.rsplit(".", 1)[0] == token.rsplit(".", 1)[0]
        assert signer.verify(token, SEGMENT, now=NOW + 300)
        with pytest.raises(TokenRejected) as caught:
            signer.verify(forged, SEGMENT, now=NOW + 300)
        assert caught.value.reason is Reason.BAD_SIGNATURE
