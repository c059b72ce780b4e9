"""A node beside a sync daemon answers a scanner from the daemon's listing: no S3 GETs.

One ``castedge serve`` runs an origin and the sync daemon; the origin reads the
bucket's keys from the daemon's state file (``storage.listing_file``) instead of
listing the bucket itself. Counted at the S3 server.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Bucket, payload
from tests.support.process import CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "sync-listing-admin-token-0123456789"
EPISODES = [f"podcast/ep-{n}.mp3" for n in range(3)]


def object_gets(bucket: Bucket) -> int:
    """GETs of the podcast's objects (not the daemon's listings, nor its revocation list)."""
    return sum(
        1
        for r in bucket.server.requests
        if r.method == "GET" and r.path.startswith(f"/{bucket.name}/podcast/")
    )


def node_config(bucket: Bucket, tmp_path: Path) -> dict[str, Any]:
    state = tmp_path / "sync-state.json"
    return {
        "storage": {
            "s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url},
            "listing_file": str(state),
            "list_interval": "200ms",
        },
        "cache": {"dir": str(tmp_path / "cache"), "max_size": "1GB"},
        "origin": {"listen": "127.0.0.1:0", "access_log": None, "prefixes": ["podcast/"]},
        "sync": {"prefixes": ["podcast/"], "interval": "300ms", "state_file": str(state)},
        # A region the daemon cannot reach: it lists and records all the same.
        "regions": [
            {
                "name": "far",
                "latitude": 0,
                "longitude": 0,
                "base_url": "http://127.0.0.1:9",
                "admin_url": "http://127.0.0.1:9",
            }
        ],
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
    }


def listed_keys(proc: CastedgeProcess) -> float:
    with urllib.request.urlopen(proc.urls["admin"] + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    # One sample a worker (labelled by pid): each keeps its own listing.
    samples = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("castedge_listed_keys{") and 'service="origin"' in line
    ]
    return min(samples, default=-1.0)


def wait_listed(proc: CastedgeProcess, keys: int) -> None:
    deadline = time.monotonic() + 20
    while listed_keys(proc) != keys:
        assert time.monotonic() < deadline, f"the origin never took a listing of {keys} keys"
        time.sleep(0.05)


async def statuses(urls: list[str]) -> list[int]:
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> int:
            async with session.get(url) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one(url) for url in urls))


def test_a_scanner_costs_no_s3_get_and_a_new_upload_is_served_from_the_next_listing(
    bucket: Bucket, tmp_path: Path
) -> None:
    for key in EPISODES:
        bucket.put(key, payload(1000, key))
    proc = CastedgeProcess("serve", node_config(bucket, tmp_path), tmp_path).start()
    try:
        wait_listed(proc, len(EPISODES))
        base = proc.urls["origin"]
        before = object_gets(bucket)
        scan = [f"{base}/podcast/{uuid.uuid4().hex}.mp3" for _ in range(300)]
        assert set(asyncio.run(statuses(scan))) == {404}
        assert object_gets(bucket) == before, "a scanner's paths reached S3"
        assert asyncio.run(statuses([f"{base}/{EPISODES[0]}"])) == [200]
        assert object_gets(bucket) == before + 1

        fresh = "podcast/ep-new.mp3"
        bucket.put(fresh, payload(500, fresh))
        wait_listed(proc, len(EPISODES) + 1)
        assert asyncio.run(statuses([f"{base}/{fresh}"])) == [200]
    finally:
        assert proc.stop() == 0, proc.stderr()
