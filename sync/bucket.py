"""The main bucket as the daemon sees it: a listing of keys with ETags and sizes.

``ListObjectsV2``, 1,000 keys a request (the most S3 returns), run in a thread by the
caller. boto3 signs each page's URL, but the pages are fetched over one kept-alive
connection and parsed with ElementTree: botocore's own response parsing costs about
70 µs of CPU a key, which for a 100,000-key bucket is 7 s a pass; this way it is a
fraction of that. Keys under ``_castedge/`` are the fleet's own (the revocation list)
and are never replicated as media. botocore's and the connection's errors stop
here, as ListingFailed.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET  # noqa: N817 - the usual name
from collections.abc import Iterable, Iterator
from typing import Any

from config import S3Settings
from delivery.keys import RESERVED_PREFIX
from tls.context import client_context

from .errors import ListingFailed
from .plan import Obj

__all__ = ["RESERVED_PREFIX", "REVOCATIONS_KEY", "Bucket"]

#: Where ``castedge revoke`` puts the revocation list for every node of the fleet.
REVOCATIONS_KEY = RESERVED_PREFIX + "revocations.json"

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
#: Attempts at one page before the pass is given up (the next pass starts afresh).
_PAGE_ATTEMPTS = 3


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
            verify=s3.verify,
        )
        #: The pages are fetched outside boto3: verified the same way.
        self._ssl = client_context(s3.ca_bundle)

    def list(self) -> dict[str, Obj]:
        """Every complete object under the prefixes: key → (ETag, size)."""
        found: dict[str, Obj] = {}
        connection: http.client.HTTPConnection | None = None
        try:
            for prefix in self.prefixes:
                token: str | None = None
                while True:
                    url = self._page_url(prefix, token)
                    if connection is None:
                        connection = _connect(url, self._ssl)
                    body, connection = _fetch(connection, url, self._ssl)
                    token = _parse_page(body, found)
                    if token is None:
                        break
        finally:
            if connection is not None:
                connection.close()
        return found

    def _page_url(self, prefix: str, token: str | None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "MaxKeys": 1000}
        if token is not None:
            params["ContinuationToken"] = token
        try:
            url: str = self._client.generate_presigned_url(
                "list_objects_v2", Params=params, ExpiresIn=300
            )
        except (BotoCoreError, ClientError) as exc:
            raise ListingFailed(f"cannot list s3://{self.name}: {exc}") from None
        return url

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


def _connect(url: str, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=30, context=context)
    return http.client.HTTPConnection(parts.netloc, timeout=30)


def _fetch(
    connection: http.client.HTTPConnection, url: str, context: ssl.SSLContext | None = None
) -> tuple[bytes, http.client.HTTPConnection]:
    """GET one page, on a fresh connection again if the kept one broke; ListingFailed."""
    parts = urllib.parse.urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    problem = ""
    for attempt in range(_PAGE_ATTEMPTS):
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            problem = str(exc) or type(exc).__name__
            connection.close()
            connection = _connect(url, context)
            time.sleep(0.2 * attempt)
            continue
        if response.status == 200:
            return body, connection
        problem = f"S3 answered {response.status}: {_error_code(body)}"
        if response.status < 500 and response.status != 429:
            break
        time.sleep(0.2 * attempt)
    raise ListingFailed(f"cannot list {parts.netloc}{parts.path}: {problem}")


def _error_code(body: bytes) -> str:
    try:
        return ET.fromstring(body).findtext("Code") or "?"  # noqa: S314 - the bucket's own answer
    except ET.ParseError:
        return "?"


def _parse_page(body: bytes, found: dict[str, Obj]) -> str | None:
    """Add a ListObjectsV2 page's objects to ``found``; the next page's token, or None."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - the bucket's own answer, no entities
    except ET.ParseError as exc:
        raise ListingFailed(f"the bucket listing is not XML: {exc}") from None
    for item in _contents(root):
        key, etag, size = item
        # "folder/" objects (an S3 console's folders) and the fleet's own files are no media.
        if not key.startswith(RESERVED_PREFIX) and not key.endswith("/"):
            found[key] = Obj(etag, size)
    if root.findtext(f"{_NS}IsTruncated") == "true":
        return root.findtext(f"{_NS}NextContinuationToken")
    return None


def _contents(root: ET.Element) -> Iterator[tuple[str, str, int]]:
    key_tag, etag_tag, size_tag = f"{_NS}Key", f"{_NS}ETag", f"{_NS}Size"
    for item in root.iter(f"{_NS}Contents"):
        key = etag = size = None
        for child in item:
            if child.tag == key_tag:
                key = child.text
            elif child.tag == etag_tag:
                etag = child.text
            elif child.tag == size_tag:
                size = child.text
        if key is None or etag is None or size is None:
            raise ListingFailed("a listed object lacks its key, ETag or size")
        yield key, etag, int(size)
