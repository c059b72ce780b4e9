"""Where a player goes when no region is healthy: straight to the bucket, so playback goes on.

With `storage.s3.public_url` (a public bucket, or a CDN in front of it) the URL is
that base and the path. Otherwise a presigned GET URL for the object, valid for
`storage.s3.presign_ttl`; boto3 signs locally, off the event loop because a credential
refresh may touch the network. With `storage.dir` there is no bucket to send anyone to.
"""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from typing import Any

from config import S3Settings

__all__ = ["S3Fallback"]


class S3Fallback:
    """Presigned (or public) S3 URLs for paths, when `storage.s3` is configured."""

    def __init__(self, s3: S3Settings | None) -> None:
        self.s3 = s3
        self._client: Any = None

    @property
    def available(self) -> bool:
        """Whether there is a bucket to redirect to."""
        return self.s3 is not None

    def describe(self) -> str | None:
        """How fallback URLs are made, for /healthz: s3-public, s3-presigned or None."""
        if self.s3 is None:
            return None
        return "s3-public" if self.s3.public_url is not None else "s3-presigned"

    async def start(self) -> None:
        """Build the S3 client (which reads credentials) before the first request needs it."""
        if self.s3 is not None and self.s3.public_url is None:
            self._client = await asyncio.to_thread(_make_client, self.s3)

    async def url_for(self, path: str, *, now: float) -> tuple[str, int | None]:
        """The URL of the object at the decoded `path`, and when it stops working (or None).

        Raises LookupError when there is no bucket, OSError when signing fails.
        """
        s3 = self.s3
        if s3 is None:
            raise LookupError("no S3 bucket is configured to fall back to")
        if s3.public_url is not None:
            return f"{s3.public_url}/{urllib.parse.quote(path, safe='/')}", None
        ttl = int(s3.presign_ttl)
        client = self._client
        try:
            url: str = await asyncio.to_thread(
                client.generate_presigned_url,
                "get_object",
                Params={"Bucket": s3.bucket, "Key": path},
                ExpiresIn=ttl,
            )
        except Exception as exc:  # botocore raises many unrelated types here
            raise OSError(f"cannot presign a URL for {path!r}: {exc}") from exc
        return url, math.floor(now) + ttl


def _make_client(s3: S3Settings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if s3.endpoint_url else "auto"},
        retries={"max_attempts": 1},
    )
    return boto3.client(
        "s3", region_name=s3.region, endpoint_url=s3.endpoint_url, config=config, verify=s3.verify
    )
