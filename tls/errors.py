"""What can go wrong with a listener's certificate and key.

::

    TlsError                    (base; ``path`` names the file at fault, when one is)
    ├── PairUnreadable          a file is missing, unreadable, or not PEM of the right kind
    └── PairMismatch            the key is not the certificate's
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PairMismatch", "PairUnreadable", "TlsError"]


class TlsError(Exception):
    """A certificate/key pair that cannot be served; the message says what to do."""

    def __init__(self, message: str, path: Path | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        #: "cert" or "key": the setting whose file is at fault.
        self.field = field


class PairUnreadable(TlsError):
    """A certificate or key file that is missing, unreadable or not what it should be."""


class PairMismatch(TlsError):
    """The private key does not belong to the certificate."""
