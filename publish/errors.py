"""Errors the publishing side raises, each carrying what the operator needs to act.

The tree::

    PublishError                base of everything this package raises
    ├── BadPrefix               --prefix cannot start object keys; carries .prefix
    ├── BadSource               a file cannot be published (missing, or its key refused)
    ├── UploadFailed            S3 refused or dropped an upload; carries .key
    ├── ChecksumMismatch        S3 holds other bytes than the file's; carries both ETags
    └── DaemonError             the sync daemon's admin API gave no usable answer; .url
        ├── DaemonUnreachable   nothing answered (connection refused, timeout, DNS)
        ├── DaemonRefused       401: a missing or wrong admin token
        └── BadAnswer           an HTTP error or a document not of the documented shape

botocore's errors and urllib's are turned into these where they enter (``upload``,
``daemon``), so the command line shows one line and never a traceback.
"""

from __future__ import annotations

__all__ = [
    "BadAnswer",
    "BadPrefix",
    "BadSource",
    "ChecksumMismatch",
    "DaemonError",
    "DaemonRefused",
    "DaemonUnreachable",
    "PublishError",
    "UploadFailed",
]


class PublishError(Exception):
    """Base class for every error the publishing side raises."""


class BadPrefix(PublishError, ValueError):
    """Signals a --prefix that cannot start object keys."""

    def __init__(self, prefix: str, reason: str) -> None:
        self.prefix = prefix
        self.reason = reason
        super().__init__(f"--prefix {prefix!r} {reason}")


class BadSource(PublishError):
    """Signals a path that cannot be published: missing, empty, or named against the rules."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UploadFailed(PublishError):
    """Signals an upload S3 refused or that broke off after boto3's retries."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: upload failed: {reason}")


class ChecksumMismatch(PublishError):
    """Signals that the object S3 stored is not the file that was sent."""

    def __init__(self, key: str, stored: str, computed: str, reason: str) -> None:
        self.key = key
        self.stored = stored
        self.computed = computed
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class DaemonError(PublishError):
    """Base class of the sync daemon's admin API failing to answer usefully."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class DaemonUnreachable(DaemonError):
    """Signals that nothing answered at the daemon's admin URL."""


class DaemonRefused(DaemonError):
    """Signals a 401: the admin token is missing or is not the daemon's."""


class BadAnswer(DaemonError):
    """Signals an HTTP error status, or a body that is not the documented JSON."""
