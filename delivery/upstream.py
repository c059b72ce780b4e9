"""Where misses come from: S3 (any S3-compatible endpoint) or a local directory.

``open(key, byte_range)`` answers with the object's metadata and an async iterator of
body chunks. Failures are retried with exponential backoff and full jitter on
connection errors, timeouts, 5xx and ``SlowDown``; a body that breaks off midway is
resumed with a ranged GET pinned to the same ETag (``If-Match``), which the SDK's own
retries do not do. All the attempts of one fetch share one ``Patience``
(``upstream.fill_deadline``): when storage keeps a fetch waiting that long in all, it
fails with ``UpstreamTimeout`` whatever retries are left. botocore and aiohttp errors
are converted here and never leak.

The event loop never blocks on boto3: it only presigns URLs (in an executor, since a
credential refresh may touch the network) and the bytes travel over aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiofiles
import aiohttp

from tls.context import client_context

from .byte_range import ByteRange
from .conditional import parse_http_date
from .errors import (
    ObjectNotFound,
    RangeNotSatisfiable,
    UpstreamChanged,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .keys import is_within
from .mediatypes import content_type_for
from .metrics import DeliveryMetrics
from .objectfile import ObjectMeta
from .patience import Patience

__all__ = [
    "DirectoryUpstream",
    "RetryPolicy",
    "S3Upstream",
    "Upstream",
    "UpstreamBody",
    "backoff_delay",
]

log = logging.getLogger("castedge.upstream")

#: Read size for the directory upstream and for aiohttp's body iteration.
CHUNK = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_PLAIN_MD5_ETAG = re.compile(r'"[0-9a-f]{32}"')


def backoff_delay(attempt: int, base: float, *, cap: float = 10.0, rand: float) -> float:
    """Full-jitter exponential backoff: a delay in [0, min(cap, base * 2**attempt)).

    ``rand`` is a number in [0, 1) supplied by the caller, so this stays pure.
    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
    """
    return float(rand * min(cap, base * (2**attempt)))


def md5_of_etag(etag: str) -> str | None:
    """The hex MD5 an S3 ETag stands for, or None (multipart and SSE-KMS ETags are not MD5s)."""
    return etag[1:-1] if _PLAIN_MD5_ETAG.fullmatch(etag) else None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry the upstream."""

    retries: int = 4
    backoff: float = 0.2
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    #: Seconds one fetch may wait on storage in all its attempts (see ``Patience``).
    fill_deadline: float = 60.0


class UpstreamBody(Protocol):
    """One upstream answer: the object's metadata and the bytes of the span asked for."""

    meta: ObjectMeta
    start: int
    end: int  # inclusive; start > end for an empty object

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class Upstream(Protocol):
    """A source of objects for the store."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def open(
        self, key: str, byte_range: ByteRange | None = None, *, patience: Patience | None = None
    ) -> UpstreamBody:
        """The object's metadata and a body for ``byte_range`` (all of it when None).

        ``patience`` is the fetch's budget for waiting, shared by its resumes; a new
        one of ``fill_deadline`` when None.
        """
        ...

    def describe(self) -> str: ...


# -- S3 ------------------------------------------------------------------------------


class _S3Body:
    def __init__(
        self,
        upstream: S3Upstream,
        key: str,
        meta: ObjectMeta,
        start: int,
        end: int,
        response: aiohttp.ClientResponse,
        patience: Patience,
    ) -> None:
        self.meta = meta
        self.start = start
        self.end = end
        self._upstream = upstream
        self._key = key
        self._response: aiohttp.ClientResponse | None = response
        self._patience = patience

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks():
                yield chunk
        finally:
            await self.close()

    async def _chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        patience = self._patience
        pos = self.start
        failures = 0
        while pos <= self.end:
            response = self._response
            if response is None:
                response = await self._upstream._resume(
                    self._key, self.meta, pos, self.end, patience
                )
                self._response = response
            waiting_since = loop.time()
            budget: asyncio.Timeout | None = None
            try:
                while pos <= self.end:
                    waiting_since = loop.time()
                    # Each read may wait only for what is left of the fetch's patience;
                    # a read that returns in time charges nothing.
                    budget = asyncio.timeout(patience.left())
                    async with budget:
                        chunk = await response.content.readany()
                    if not chunk:
                        raise aiohttp.ClientPayloadError(
                            f"body ended at byte {pos} of {self.end + 1}"
                        )
                    take = min(len(chunk), self.end + 1 - pos)
                    pos += take
                    yield chunk if take == len(chunk) else chunk[:take]
            except (TimeoutError, aiohttp.ClientError) as exc:
                response.release()
                self._response = None
                stalled = loop.time() - waiting_since
                if isinstance(exc, aiohttp.ServerTimeoutError):
                    # ``sock_read`` counts from the last byte that arrived, which may be
                    # before this read began: storage was silent that long.
                    stalled = max(stalled, self._upstream.policy.read_timeout)
                patience.lose(stalled)
                if budget is not None and budget.expired():
                    # Cut by the patience itself: none is left, whatever the clock's
                    # rounding made of the time measured.
                    patience.exhaust()
                failures += 1
                kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else "body"
                self._upstream._count_error(kind)
                if patience.exhausted:
                    raise UpstreamTimeout(
                        f"reading {self._key!r} stalled at byte {pos}", seconds=patience.limit
                    ) from exc
                if failures > self._upstream.policy.retries:
                    raise UpstreamUnavailable(
                        f"reading {self._key!r} failed at byte {pos}: {exc or kind}"
                    ) from exc
                log.warning(
                    "upstream body of %r broke at byte %d (%s); resuming", self._key, pos, exc
                )
                await self._upstream._backoff(failures - 1, patience, self._key)

    async def close(self) -> None:
        if self._response is not None:
            self._response.release()
            self._response = None


class S3Upstream:
    """Objects in an S3 bucket, fetched over aiohttp with boto3-presigned URLs."""

    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None,
        policy: RetryPolicy,
        metrics: DeliveryMetrics,
        presign_ttl: float = 900,
        ca_bundle: Path | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.bucket = bucket
        #: Verifies an https endpoint beside the system's CAs (a private CA).
        self.ca_bundle = ca_bundle
        self.region = region
        self.endpoint_url = endpoint_url
        self.policy = policy
        self.presign_ttl = presign_ttl
        self._metrics = metrics
        self._rand = rand
        self._client: Any = None
        self._session: aiohttp.ClientSession | None = None

    def describe(self) -> str:
        where = self.endpoint_url or f"AWS {self.region}"
        return f"s3://{self.bucket} at {where}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._client = await loop.run_in_executor(None, self._make_client)
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.policy.connect_timeout,
            # aiohttp's client has no read timeout by default; a stalled S3 body
            # would hold every waiter of a fill forever.
            sock_read=self.policy.read_timeout,
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            auto_decompress=False,
            # Certificates are always verified; a private CA is added, never a bypass.
            connector=aiohttp.TCPConnector(
                limit=256, ttl_dns_cache=300, ssl=client_context(self.ca_bundle)
            ),
            raise_for_status=False,
        )

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            retries={"max_attempts": 1},
        )
        verify = str(self.ca_bundle) if self.ca_bundle is not None else None
        return boto3.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=config,
            verify=verify,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def presigned_url(self, key: str, ttl: float | None = None) -> str:
        """A presigned GET URL for ``key`` (signing happens off the event loop)."""
        loop = asyncio.get_running_loop()
        expires = int(ttl if ttl is not None else self.presign_ttl)
        try:
            url: str = await loop.run_in_executor(
                None,
                lambda: self._client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": key},
                    ExpiresIn=expires,
                ),
            )
        except Exception as exc:  # botocore raises many unrelated types here
            raise UpstreamUnavailable(f"cannot sign a request for {key!r}: {exc}") from exc
        return url

    def _delay(self, attempt: int) -> float:
        return backoff_delay(attempt, self.policy.backoff, rand=self._rand())

    async def _backoff(self, attempt: int, patience: Patience, key: str) -> None:
        """Sleep before another attempt, unless the fetch's patience would run out first."""
        delay = self._delay(attempt)
        if delay >= patience.left():
            raise UpstreamTimeout(f"fetching {key!r}", seconds=patience.limit)
        await asyncio.sleep(delay)
        patience.lose(delay)

    def _count_error(self, kind: str) -> None:
        self._metrics.upstream_errors.labels(self._metrics.service, kind).inc()

    async def open(
        self, key: str, byte_range: ByteRange | None = None, *, patience: Patience | None = None
    ) -> UpstreamBody:
        patience = patience if patience is not None else Patience(self.policy.fill_deadline)
        headers = {}
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        response = await self._get(key, headers, patience)
        meta, start, end = self._parse(key, response)
        return _S3Body(self, key, meta, start, end, response, patience)

    async def _resume(
        self, key: str, meta: ObjectMeta, pos: int, end: int, patience: Patience
    ) -> aiohttp.ClientResponse:
        headers = {"Range": f"bytes={pos}-{end}", "If-Match": meta.etag}
        response = await self._get(key, headers, patience)
        _meta, start, _end = self._parse(key, response)
        if start != pos:
            response.release()
            raise UpstreamChanged(key)
        return response

    async def _get(
        self, key: str, headers: dict[str, str], patience: Patience
    ) -> aiohttp.ClientResponse:
        """The response to a GET, after retries; the time it took is charged to ``patience``."""
        assert self._session is not None, "start() first"
        loop = asyncio.get_running_loop()
        last = "no attempt made"
        for attempt in range(self.policy.retries + 1):
            if attempt:
                await self._backoff(attempt - 1, patience, key)
            started = loop.time()
            budget = asyncio.timeout(patience.left())
            try:
                async with budget:
                    response, last = await self._attempt(key, headers)
            except TimeoutError:
                # sock_read/sock_connect, or the fetch's patience running out.
                response, last = None, "timed out"
                self._count_error("timeout")
            finally:
                patience.lose(loop.time() - started)
                if budget.expired():
                    patience.exhaust()
            if response is not None:
                return response
            if patience.exhausted:
                raise UpstreamTimeout(f"{self.describe()}: {last}", seconds=patience.limit)
        raise UpstreamUnavailable(f"{self.describe()}: {last}")

    async def _attempt(
        self, key: str, headers: dict[str, str]
    ) -> tuple[aiohttp.ClientResponse | None, str]:
        """One GET: the response, or None and why it is worth another attempt."""
        assert self._session is not None, "start() first"
        url = await self.presigned_url(key)
        try:
            response = await self._session.get(url, headers=headers)
        except aiohttp.ClientError as exc:
            if isinstance(exc, TimeoutError):
                raise
            self._count_error("connect")
            return None, str(exc) or type(exc).__name__
        status = response.status
        if status in (200, 206):
            return response, ""
        body = await self._error_body(response)
        if status == 404:
            raise ObjectNotFound(key)
        if status == 412:
            raise UpstreamChanged(key)
        if status == 416:
            raise RangeNotSatisfiable(_total_from(response.headers.get("Content-Range")))
        if status == 429 or status >= 500 or "SlowDown" in body:
            self._count_error("5xx" if status >= 500 else "throttled")
            return None, f"HTTP {status}"
        self._count_error(f"http_{status}")
        raise UpstreamError(f"S3 answered {status} for {key!r}: {_error_code(body)}")

    @staticmethod
    async def _error_body(response: aiohttp.ClientResponse) -> str:
        try:
            return (await response.content.read(4096)).decode("utf-8", "replace")
        except (TimeoutError, aiohttp.ClientError):
            return ""
        finally:
            response.release()

    def _parse(self, key: str, response: aiohttp.ClientResponse) -> tuple[ObjectMeta, int, int]:
        h = response.headers
        try:
            if response.status == 206:
                m = _CONTENT_RANGE.fullmatch(h.get("Content-Range", ""))
                if m is None:
                    raise ValueError(f"bad Content-Range {h.get('Content-Range')!r}")
                start, end, size = int(m[1]), int(m[2]), int(m[3])
            else:
                size = int(h["Content-Length"])
                start, end = 0, size - 1
        except (KeyError, ValueError) as exc:
            response.release()
            raise UpstreamError(f"S3 answer for {key!r} lacks a usable length: {exc}") from exc
        etag = h.get("ETag", "")
        if not etag.startswith('"'):
            etag = f'"{etag.strip(chr(34))}"' if etag else f'"{size:x}"'
        last_modified = parse_http_date(h.get("Last-Modified", "")) or 0
        meta = ObjectMeta(key, size, etag, last_modified, content_type_for(key))
        return meta, start, end


def _total_from(content_range: str | None) -> int:
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        if tail.isdigit():
            return int(tail)
    return 0


def _error_code(body: str) -> str:
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return m[1] if m else body[:200]


# -- a local directory ---------------------------------------------------------------


class _FileBody:
    def __init__(self, path: str, meta: ObjectMeta, start: int, end: int) -> None:
        self.meta = meta
        self.start = start
        self.end = end
        self._path = path

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.end + 1 - self.start
        async with aiofiles.open(self._path, "rb") as f:
            await f.seek(self.start)
            while remaining > 0:
                data = await f.read(min(CHUNK, remaining))
                if not data:
                    raise UpstreamChanged(self.meta.key)
                remaining -= len(data)
                yield data

    async def close(self) -> None:
        return None


class DirectoryUpstream:
    """Objects as files under a directory (a single-machine setup, or a mounted share).

    Keys are validated before they get here; the resolved path must still lie inside
    the root, so a symlink that leaves it is refused like a missing file.
    """

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)

    def describe(self) -> str:
        return f"directory {self.root}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, os.path.isdir, self.root):
            raise UpstreamUnavailable(f"{self.root} is not a directory")

    async def close(self) -> None:
        return None

    def _stat(self, key: str) -> tuple[str, os.stat_result]:
        path = os.path.realpath(os.path.join(self.root, key))
        if not is_within(self.root, path):
            raise ObjectNotFound(key)
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise UpstreamUnavailable(f"{path}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        return path, st

    async def open(
        self, key: str, byte_range: ByteRange | None = None, *, patience: Patience | None = None
    ) -> UpstreamBody:
        # A local file answers at once or fails; there is no waiting to bound.
        loop = asyncio.get_running_loop()
        path, st = await loop.run_in_executor(None, self._stat, key)
        # A strong validator without reading the file: size and mtime change with it.
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        meta = ObjectMeta(key, st.st_size, etag, int(st.st_mtime), content_type_for(key))
        start, end = (
            (0, st.st_size - 1) if byte_range is None else (byte_range.start, byte_range.end)
        )
        return _FileBody(path, meta, start, end)
