"""Forging tokens for tests that must see them refused, so that the forgery always is one.

A token is ``<key id>.<payload>.<signature>`` (see :mod:`signer.token`); the signature is
an HMAC-SHA-256, 32 bytes, written as 43 unpadded base64url characters. The first 42
characters carry 6 signature bits each; the last carries the remaining 4 and 2 spare
bits that must be zero, so only 16 characters ever appear there ("A" among them). A test
that overwrites the last character with a fixed one therefore leaves the token as it was
about one run in 16, and the "tampered" token is accepted.
"""

from __future__ import annotations

import string

__all__ = ["BASE64URL", "tamper"]

#: The base64url alphabet, in the order of the 6-bit values it encodes.
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

_SIGNATURE_LENGTH = 43


def tamper(token: str) -> str:
    """``token`` with one signature bit flipped: a well-formed token that is never valid.

    The key id and payload are kept, so a verifier gets as far as the signature check
    and refuses the token there (BAD_SIGNATURE). The changed character is the middle one
    of the signature, all six of whose bits are signature bits, and it is swapped for the
    character whose value differs in the top bit, so the signature's bytes always change.
    """
    key_id, payload, signature = token.split(".")
    assert len(signature) == _SIGNATURE_LENGTH, f"not a token's signature: {signature!r}"
    middle = len(signature) // 2
    flipped = BASE64URL[BASE64URL.index(signature[middle]) ^ 0b100000]
    tampered = f"{key_id}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    assert tampered != token
    return tampered
