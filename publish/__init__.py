"""Publishing media: upload files to the main bucket, check them, follow them to the regions.

``castedge publish`` collects the files and their keys (``sources`` over the pure
``naming``), uploads each with boto3's managed transfer (``upload``), checks S3's
ETag against the one computed from the file (``verify`` over the pure ``etag``),
shows progress (``terminal`` over the pure ``progress`` and ``human``), then tells
the sync daemon (``daemon``, its documents read by the pure ``answers``) and may
wait (``wait`` over the pure ``arrivals``) until every healthy region holds it.
``sync_table`` is ``castedge sync status``'s table of the daemon's regions.
"""

from . import human
from .answers import Holding, Holdings, RegionStatus, SyncStatus
from .arrivals import Arrival, Published, RegionBack, RegionDown, Watch
from .daemon import SyncDaemon
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
from .sources import Source, collect
from .sync_table import status_lines
from .terminal import ProgressLine
from .upload import DEFAULT_PART_SIZE, Stored, Uploader
from .verify import file_etag, verify
from .wait import NoAnswer, Outcome, wait_for_regions

__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "Arrival",
    "BadAnswer",
    "BadPrefix",
    "BadSource",
    "ChecksumMismatch",
    "DaemonError",
    "DaemonRefused",
    "DaemonUnreachable",
    "ETagHasher",
    "Holding",
    "Holdings",
    "NoAnswer",
    "Outcome",
    "ProgressLine",
    "PublishError",
    "Published",
    "RegionBack",
    "RegionDown",
    "RegionStatus",
    "Source",
    "Stored",
    "SyncDaemon",
    "SyncStatus",
    "UploadFailed",
    "Uploader",
    "Watch",
    "bar_line",
    "check_prefix",
    "collect",
    "done_line",
    "etag_problem",
    "file_etag",
    "human",
    "key_for",
    "part_size_for",
    "status_lines",
    "unique_keys",
    "verify",
    "wait_for_regions",
]
