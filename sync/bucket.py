"""The main bucket as the daemon sees it: a listing of keys with ETags and sizes.

boto3's paginated ``ListObjectsV2`` (1,000 keys a request, the most S3 returns), run in
a thread by the caller. Keys under ``_castedge/`` are the fleet's own (the revocation
list) and are never replicated as media. botocore's errors stop here, as ListingFailed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from config import S3Settings

from .errors import ListingFailed
from .plan import Obj

__all__ = ["RESERVED_PREFIX", "REVOCATIONS_KEY", "Bucket"]

#: Keys of the fleet's own, never served or replicated as media.
RESERVED_PREFIX = "_castedge/"
#: Where ``castedge revoke`` puts the revocation list for every node of the fleet.
REVOCATIONS_KEY = RESERVED_PREFIX + "revocations.json"


class Bucket:
    """Listing and reading the main bucket (blocking calls: run them in a thread)."""

    def __init__(self, s3: S3Settings, prefixes: Iterable[str] = ()) -> None:
        import boto3
        from botocore.config import Config

        self.name = s3.bucket
        self.prefixes = tuple(prefixes) or ("",)
        self._client: Any = boto3.client(
            "s3",
            region_name=s3.region,
            endpoint_url=s3.endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def list(self) -> dict[str, Obj]:
        """Every complete object under the prefixes: key → (ETag, size)."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[str, Obj] = {}
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for prefix in self.prefixes:
                for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
                    for item in page.get("Contents", ()):
                        key = item["Key"]
                        if not key.startswith(RESERVED_PREFIX):
                            found[key] = Obj(item["ETag"], item["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise ListingFailed(f"cannot list s3://{self.name}: {exc}") from None
        return found

    def revocations(self) -> tuple[str, bytes] | None:
        """The fleet's revocation list (its ETag and body), or None when there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            got = self._client.get_object(Bucket=self.name, Key=REVOCATIONS_KEY)
            return str(got["ETag"]), bytes(got["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ListingFailed(f"cannot read s3://{self.name}/{REVOCATIONS_KEY}: {exc}") from None
        except BotoCoreError as exc:
            raise ListingFailed(f"cannot read s3://{self.name}/{REVOCATIONS_KEY}: {exc}") from None

    def put_revocations(self, body: bytes) -> None:
        """Store the fleet's revocation list (``castedge revoke``)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(
                Bucket=self.name,
                Key=REVOCATIONS_KEY,
                Body=body,
                ContentType="application/json",
            )
        except (BotoCoreError, ClientError) as exc:
            raise ListingFailed(f"cannot write s3://{self.name}/{REVOCATIONS_KEY}: {exc}") from None
