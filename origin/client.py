"""For the web app that renders the feed: media URLs that follow the origin's health.

``MediaUrls.media_url(key)`` answers from memory, never from the network: a
background thread asks the origin's ``/healthz`` every few seconds with a short
timeout. While the origin answers ``ok`` (or ``degraded``: it still serves), links
point at it; while it is switched to fallback, in maintenance, or not answering,
they point at S3.

    urls = MediaUrls("https://pod.example.com", s3_url="https://media.example.com")

    def feed_items(episodes):
        for ep in episodes:
            yield {
                "title": ep.title,
                "enclosure": urls.media_url(f"podcast/{ep.slug}.mp3"),
                "length": ep.size,
                "type": "audio/mpeg",
            }
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["MediaUrls"]

log = logging.getLogger("castedge.client")

#: Origin states in which it serves media itself.
SERVING = frozenset({"ok", "degraded"})


class MediaUrls:
    """Origin URL while the origin is healthy, S3 URL otherwise."""

    def __init__(
        self,
        origin_url: str,
        *,
        s3_url: str | None = None,
        presign: Callable[[str], str] | None = None,
        interval: float = 5.0,
        timeout: float = 1.0,
        start: bool = True,
    ) -> None:
        if s3_url is None and presign is None:
            raise ValueError("give s3_url (the bucket's public URL) or presign")
        if not origin_url.startswith(("http://", "https://")):
            raise ValueError(f"origin_url must be an http(s) URL, got {origin_url!r}")
        self.origin_url = origin_url.rstrip("/")
        self.s3_url = s3_url.rstrip("/") if s3_url else None
        self._presign = presign
        self.interval = interval
        self.timeout = timeout
        self.origin_ok = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            # One check now, at start-up (not on a request), so the first feed is right.
            self.check_now()
            self._thread = threading.Thread(target=self._run, daemon=True, name="castedge-health")
            self._thread.start()

    @classmethod
    def from_settings(cls, settings: Any, origin_url: str, **kwargs: Any) -> MediaUrls:
        """Use ``storage.s3.public_url``, or presign with boto3 when the bucket is private."""
        s3 = settings.storage.s3 if settings.storage is not None else None
        if s3 is None:
            raise ValueError("storage.s3 is not configured: there is no S3 to point at")
        if s3.public_url:
            return cls(origin_url, s3_url=s3.public_url, **kwargs)
        import boto3

        client = boto3.client(
            "s3", region_name=s3.region, endpoint_url=s3.endpoint_url, verify=s3.verify
        )

        def presign(key: str) -> str:
            url: str = client.generate_presigned_url(
                "get_object",
                Params={"Bucket": s3.bucket, "Key": key},
                ExpiresIn=int(s3.presign_ttl),
            )
            return url

        return cls(origin_url, presign=presign, **kwargs)

    def media_url(self, key: str) -> str:
        """Where a client should fetch ``key`` right now."""
        if self.origin_ok:
            return f"{self.origin_url}/{urllib.parse.quote(key)}"
        if self.s3_url is not None:
            return f"{self.s3_url}/{urllib.parse.quote(key)}"
        assert self._presign is not None
        return self._presign(key)

    def check_now(self) -> bool:
        """Ask the origin once; update and return whether links should point at it."""
        ok = False
        try:
            with urllib.request.urlopen(  # noqa: S310 - scheme checked in __init__
                f"{self.origin_url}/healthz", timeout=self.timeout
            ) as resp:
                ok = resp.status == 200 and json.loads(resp.read()).get("status") in SERVING
        except (urllib.error.URLError, OSError, ValueError):
            ok = False
        if ok != self.origin_ok:
            log.warning("origin %s is %s", self.origin_url, "serving" if ok else "NOT serving")
        self.origin_ok = ok
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_now()

    def close(self) -> None:
        """Stop the background checks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)
