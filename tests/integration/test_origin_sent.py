"""What the origin counts as sent when a client leaves in the middle of a body.

Download counts and the access log's body size are made of this count, so a player
that reads the first few hundred kilobytes and goes away must be credited with what
reached it: not nothing, not the whole episode, and not the megabytes that were still
in the origin's send buffer when the connection was reset. Through aiohttp and on the
fast path for hits alike (``media_server``).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Bucket, payload
from tests.support.clients import read_then_leave
from tests.support.origin import RunningOrigin, fetch, origin_settings, start_origin

SIZE = 10_000_000
KEY = "podcast/cut.mp3"
#: What the client reads before it closes the connection.
READ = 300_000
#: Bytes the client's kernel may have acknowledged beyond what it read: its receive
#: buffer (set to 64 KiB, which Linux doubles), with room to spare.
RECEIVE_BUFFER_SLACK = 512 * 1024
#: Bytes it may have read without acknowledging them yet: a receiver acknowledges every
#: second full segment (RFC 9293 section 3.8.6.3), and on loopback a segment is 64 KiB.
DELAYED_ACK_SLACK = 2 * 64 * 1024


@pytest.fixture
async def origin(media_server, bucket: Bucket, tmp_path: Path) -> RunningOrigin:
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    return await start_origin(media_server, settings)


async def sent_total(session: aiohttp.ClientSession, origin: RunningOrigin) -> float:
    _, _, body = await fetch(session, origin.admin_url("/metrics"))
    found = re.search(rb"^castedge_sent_bytes_total(?:\{[^}]*\})? (\S+)$", body, re.M)
    return float(found[1]) if found else 0.0


@pytest.mark.parametrize("state", ["miss", "hit"])
async def test_a_client_that_leaves_is_credited_with_what_it_was_sent(
    origin: RunningOrigin, bucket: Bucket, state: str
) -> None:
    bucket.put(KEY, payload(SIZE, seed=KEY))
    async with aiohttp.ClientSession() as session:
        if state == "hit":
            status, _, _ = await fetch(session, origin.url(KEY))
            assert status == 200
            await origin.wait_cached(1)
        before = await sent_total(session, origin)
        read = await asyncio.to_thread(read_then_leave, origin.url(KEY), READ)
        deadline = asyncio.get_running_loop().time() + 10
        while (sent := await sent_total(session, origin) - before) == 0:
            assert asyncio.get_running_loop().time() < deadline, "the request was never counted"
            await asyncio.sleep(0.02)
    # Its receive buffer is all it had on top of what it read; what sat in the origin's
    # own send buffer (megabytes) never reached it.
    assert read - DELAYED_ACK_SLACK <= sent < read + RECEIVE_BUFFER_SLACK
