"""Uploading a file to the main bucket with boto3's managed transfer, and what S3 then holds.

One ``TransferConfig`` decides both how a file is sent and which ETag S3 will give
it: a file of ``part_size`` bytes or more goes up in parts of that size, several at
once, and a smaller one in one PUT. botocore's errors stop here and become
``UploadFailed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from config import S3Settings

from .errors import UploadFailed
from .etag import MAX_PART_SIZE, MIN_PART_SIZE
from .sources import Source

__all__ = ["DEFAULT_PART_SIZE", "Stored", "Uploader"]

#: 16 MiB parts: a 100 MB episode in 6 requests, and with CONCURRENCY parts in
#: flight at most 128 MiB of the file in memory.
DEFAULT_PART_SIZE = 16 * 1024**2
#: Parts of one file uploaded at once.
CONCURRENCY = 8


@dataclass(frozen=True)
class Stored:
    """What S3 says it holds under a key once the upload returned."""

    key: str
    etag: str
    size: int
    content_type: str | None


class Uploader:
    """Puts files in the bucket of ``s3``; ``client`` may be given (tests, other tools)."""

    def __init__(
        self, s3: S3Settings, *, part_size: int = DEFAULT_PART_SIZE, client: Any = None
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"a part size must be between 5MiB and 5GiB (S3's limits), got {part_size} bytes"
            )
        self.s3 = s3
        self.part_size = part_size
        self.client = client if client is not None else _client(s3)

    @property
    def threshold(self) -> int:
        """Files of at least this many bytes go up in parts."""
        return self.part_size

    def upload(self, source: Source, progress: Callable[[int], None]) -> Stored:
        """Send ``source``; ``progress`` gets byte counts as parts go (from boto3's threads)."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.threshold,
            multipart_chunksize=self.part_size,
            max_concurrency=CONCURRENCY,
            # The CRT transfer client chooses its own part sizes, and the ETag check
            # needs the ones set here.
            preferred_transfer_client="classic",
        )
        with _converted(source.key):
            self.client.upload_file(
                str(source.path),
                self.s3.bucket,
                source.key,
                ExtraArgs={"ContentType": source.content_type},
                Config=config,
                Callback=progress,
            )
        return self.stored(source.key)

    def stored(self, key: str) -> Stored:
        """What S3 holds under ``key`` now."""
        with _converted(key):
            head = self.client.head_object(Bucket=self.s3.bucket, Key=key)
        return Stored(key, head["ETag"], head["ContentLength"], head.get("ContentType"))


def _client(s3: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if s3.endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.client(
        "s3", region_name=s3.region, endpoint_url=s3.endpoint_url, config=config, verify=s3.verify
    )


@contextmanager
def _converted(key: str) -> Iterator[None]:
    """Turns botocore's and the file system's errors into UploadFailed for ``key``."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (S3UploadFailedError, BotoCoreError, ClientError, OSError) as exc:
        raise UploadFailed(key, _reason(exc)) from None


def _reason(exc: Exception) -> str:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", "error"
        )
        message = error.get("Message") or ""
        return f"{code}: {message}" if message else str(code)
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
