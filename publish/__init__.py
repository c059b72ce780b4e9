"""Publishing media: upload files to the main bucket, check them, follow them to the regions.

``castedge publish`` names each file's key (``naming``), uploads it with boto3's
managed transfer and checks S3's ETag against the one computed from the file
(``etag``), shows progress (``progress``, ``human``), then tells the sync daemon.
"""

from . import human
from .errors import (
    BadAnswer,
    BadPrefix,
    BadSource,
    ChecksumMismatch,
    DaemonError,
    DaemonRefused,
    DaemonUnreachable,
    PublishError,
    UploadFailed,
)
from .etag import MIN_PART_SIZE, ETagHasher, etag_problem, part_size_for
from .naming import check_prefix, key_for, unique_keys
from .progress import bar_line, done_line

__all__ = [
    "MIN_PART_SIZE",
    "BadAnswer",
    "BadPrefix",
    "BadSource",
    "ChecksumMismatch",
    "DaemonError",
    "DaemonRefused",
    "DaemonUnreachable",
    "ETagHasher",
    "PublishError",
    "UploadFailed",
    "bar_line",
    "check_prefix",
    "done_line",
    "etag_problem",
    "human",
    "key_for",
    "part_size_for",
    "unique_keys",
]
