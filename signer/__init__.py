"""Minting and verifying short-lived HMAC-signed URL tokens; pure, no I/O, clock passed in.

The web app mints ``https://EDGE/s/<token>/<path>`` URLs with :class:`Signer`; the edge
passes the raw path after the token through :func:`normalise_path` and then
:meth:`Signer.verify`, answering one uniform 403 to every :class:`TokenRejected` and
counting its :class:`Reason`. The wire format is specified in ``docs/signed-urls.md``.
"""

from signer.claims import Claims
from signer.errors import (
    ClaimError,
    KeyConfigError,
    PathRejected,
    Reason,
    RevocationListError,
    SignerError,
    TokenRejected,
)
from signer.fingerprints import fingerprint
from signer.keys import Purpose
from signer.revocation import Revocation, RevocationList, SubjectRevocation, TokenRevocation
from signer.scope import in_scope, normalise_path
from signer.token import MAX_TOKEN_LENGTH, Signer

__all__ = [
    "MAX_TOKEN_LENGTH",
    "ClaimError",
    "Claims",
    "KeyConfigError",
    "PathRejected",
    "Purpose",
    "Reason",
    "Revocation",
    "RevocationList",
    "RevocationListError",
    "Signer",
    "SignerError",
    "SubjectRevocation",
    "TokenRejected",
    "TokenRevocation",
    "fingerprint",
    "in_scope",
    "normalise_path",
]
