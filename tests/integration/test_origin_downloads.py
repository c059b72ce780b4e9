"""The origin's download log: a row per response, with what was really sent and to whom.

Every test runs through aiohttp and on the fast path for hits (``media_server``).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from analytics import Row
from delivery.limits import PARSER_LIMITS
from origin.app import create_admin_app, create_app
from tests.conftest import Bucket, payload
from tests.support.clients import read_then_leave
from tests.support.origin import RunningOrigin, fetch, origin_settings, start_origin

SIZE = 3_000_000
KEY = "podcast/ep-001.mp3"
AGENT = "AntennaPod/3.4.0"
#: 2026-11-03 07:00:00 UTC, as the origin's clock says.
MORNING = 1793689200.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def rows(path: Path, count: int, timeout: float = 10.0) -> list[Row]:
    """The log's rows, once it has ``count`` (a row is written as its response ends)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lines = lines_of(path)
        if len(lines) >= count:
            return [Row.from_line(line) for line in lines]
        assert loop.time() < deadline, f"{len(lines)} rows, not {count}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


async def origin_with(
    media_server: Any, bucket: Bucket, tmp_path: Path, clock: Clock, **sections: dict[str, Any]
) -> RunningOrigin:
    analytics = {"log": str(tmp_path / "downloads.log"), **sections.pop("analytics", {})}
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path / "cache",
        analytics=analytics,
        **sections,
    )
    app = create_app(settings, clock=clock)
    media = await media_server(app, **PARSER_LIMITS)
    admin = await media_server(create_admin_app(app), **PARSER_LIMITS)
    return RunningOrigin(media, admin, settings)


@pytest.fixture
def clock() -> Clock:
    return Clock(MORNING)


@pytest.mark.parametrize("state", ["miss", "hit"])
async def test_each_answer_is_a_row_with_its_range_and_the_bytes_sent(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session, state: str
) -> None:
    origin = await origin_with(media_server, bucket, tmp_path, clock, analytics={"ip": "keep"})
    bucket.put(KEY, payload(SIZE, seed=KEY))
    before = 0
    if state == "hit":
        await fetch(session, origin.url(KEY))
        await origin.wait_cached(1)
        before = 1
    ua = {"User-Agent": AGENT}
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD", headers=ua)
    await fetch(session, origin.url(KEY), headers={**ua, "Range": "bytes=0-1"})
    await fetch(session, origin.url(KEY), headers={**ua, "Range": "bytes=1000000-"})
    await fetch(session, origin.url(KEY), headers={**ua, "If-None-Match": headers["ETag"]})
    await fetch(session, origin.url(KEY), headers={**ua, "Range": "bytes=9000000-"})
    await fetch(session, origin.url("podcast/missing.mp3"), headers=ua)
    got = (await rows(tmp_path / "downloads.log", before + 6))[before:]
    assert [(r.method, r.status, r.size, r.start, r.end, r.sent) for r in got] == [
        ("HEAD", 200, SIZE, 0, SIZE - 1, 0),
        ("GET", 206, SIZE, 0, 1, 2),
        ("GET", 206, SIZE, 1_000_000, SIZE - 1, SIZE - 1_000_000),
        ("GET", 304, None, None, None, 0),
        ("GET", 416, SIZE, None, None, 0),
        ("GET", 404, None, None, None, 0),
    ]
    assert {(r.key, r.agent, r.ip, r.time) for r in got[:5]} == {(KEY, AGENT, "127.0.0.1", MORNING)}
    assert got[5].key == "podcast/missing.mp3"


@pytest.mark.parametrize("state", ["miss", "hit"])
async def test_a_client_that_leaves_is_logged_with_what_it_got(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session, state: str
) -> None:
    big = 10_000_000
    origin = await origin_with(media_server, bucket, tmp_path, clock)
    bucket.put(KEY, payload(big, seed=KEY))
    before = 0
    if state == "hit":
        await fetch(session, origin.url(KEY))
        await origin.wait_cached(1)
        before = 1
    read = await asyncio.to_thread(read_then_leave, origin.url(KEY), 300_000)
    (row,) = (await rows(tmp_path / "downloads.log", before + 1))[before:]
    assert (row.status, row.start, row.end) == (200, 0, big - 1)
    # What its TCP acknowledged: within its receive buffer above what it read, and
    # within two loopback segments below (see test_origin_sent).
    assert read - 128 * 1024 <= row.sent < read + 512 * 1024


async def test_behind_a_trusted_proxy_the_listener_is_who_it_says(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server,
        bucket,
        tmp_path,
        clock,
        analytics={"ip": "keep"},
        origin={"trusted_proxies": ["127.0.0.0/8"]},
    )
    bucket.put(KEY, payload(1000, seed=KEY))
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    await fetch(session, origin.url(KEY), headers=forged)
    await fetch(session, origin.url(KEY), headers={"Forwarded": "for=192.0.2.60"})
    got = await rows(tmp_path / "downloads.log", 2)
    # The right-most address before our own proxy; Forwarded is not the header it writes.
    assert [r.ip for r in got] == ["203.0.113.9", "127.0.0.1"]


async def test_an_untrusted_peers_forwarding_headers_are_ignored(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(media_server, bucket, tmp_path, clock, analytics={"ip": "keep"})
    bucket.put(KEY, payload(1000, seed=KEY))
    await fetch(session, origin.url(KEY), headers={"X-Forwarded-For": "203.0.113.9"})
    (row,) = await rows(tmp_path / "downloads.log", 1)
    assert row.ip == "127.0.0.1"


async def test_forwarded_when_the_proxies_write_it(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server,
        bucket,
        tmp_path,
        clock,
        analytics={"ip": "keep"},
        origin={"trusted_proxies": ["127.0.0.1"], "client_ip_header": "forwarded"},
    )
    bucket.put(KEY, payload(1000, seed=KEY))
    await fetch(session, origin.url(KEY), headers={"Forwarded": 'for="[2001:db8:1:2::7]:4711"'})
    (row,) = await rows(tmp_path / "downloads.log", 1)
    assert row.ip == "2001:db8:1:2::7"


async def test_hashed_addresses_are_one_listener_per_ipv6_64_and_change_with_the_day(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server, bucket, tmp_path, clock, origin={"trusted_proxies": ["127.0.0.1"]}
    )
    bucket.put(KEY, payload(1000, seed=KEY))
    for address in ("2001:db8:a:b::1", "2001:db8:a:b:ffff::2", "2001:db8:a:c::1"):
        await fetch(session, origin.url(KEY), headers={"X-Forwarded-For": address})
    clock.now += 86400
    await fetch(session, origin.url(KEY), headers={"X-Forwarded-For": "2001:db8:a:b::1"})
    got = await rows(tmp_path / "downloads.log", 4)
    ips = [r.ip for r in got]
    assert ips[0] == ips[1] != ips[2]
    assert ips[3] != ips[0], "the next day's salt gives the same listener another hash"
    assert all(ip.startswith("h:") and "2001" not in ip for ip in ips)
    assert {r.net for r in got} == {"2001:db8:a::/48"}
    salts = sorted((tmp_path / "cache" / "salts").iterdir())
    assert [p.name for p in salts] == ["2026-11-03", "2026-11-04"]
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in salts)
    # Two days on, the first day's salt is gone: its hashes can no longer be reversed.
    clock.now += 2 * 86400
    await fetch(session, origin.url(KEY), headers={"X-Forwarded-For": "192.0.2.1"})
    await rows(tmp_path / "downloads.log", 5)
    assert [p.name for p in sorted((tmp_path / "cache" / "salts").iterdir())] == ["2026-11-06"]


async def test_truncate_keeps_only_the_network(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server,
        bucket,
        tmp_path,
        clock,
        analytics={"ip": "truncate"},
        origin={"trusted_proxies": ["127.0.0.1"]},
    )
    bucket.put(KEY, payload(1000, seed=KEY))
    await fetch(session, origin.url(KEY), headers={"X-Forwarded-For": "203.0.113.77"})
    (row,) = await rows(tmp_path / "downloads.log", 1)
    assert (row.ip, row.net) == ("203.0.113.0/24", None)
    assert not (tmp_path / "cache" / "salts").exists()


async def test_without_a_log_nothing_is_written(
    media_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    origin = await start_origin(media_server, settings)
    bucket.put(KEY, payload(1000, seed=KEY))
    status, _, _ = await fetch(session, origin.url(KEY))
    assert status == 200
    assert lines_of(tmp_path / "downloads.log") == []


async def test_the_admin_listener_counts_the_nodes_downloads(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server, bucket, tmp_path, clock, origin={"trusted_proxies": ["127.0.0.1"]}
    )
    # Not MPEG audio: no bitrate, so only complete downloads count.
    bucket.put(KEY, payload(SIZE, seed=KEY))
    overcast = {"User-Agent": "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"}
    one = {**overcast, "X-Forwarded-For": "203.0.113.1"}
    await fetch(session, origin.url(KEY), headers=one)
    await fetch(session, origin.url(KEY), headers={**one, "X-Forwarded-For": "203.0.113.2",
                                                   "Range": "bytes=0-999999"})  # fmt: skip
    clock.now += 86400
    await fetch(session, origin.url(KEY), headers=one)
    await rows(tmp_path / "downloads.log", 3)

    async def stats(query: str, auth: bool = True) -> tuple[int, Any]:
        headers = origin.auth if auth else {}
        status, _, body = await fetch(session, origin.admin_url(f"/admin/stats?{query}"),
                                      headers=headers)  # fmt: skip
        return status, json.loads(body)

    status, body = await stats("since=2026-11-03")
    assert status == 200
    # One listener on two days: two downloads. Hashed under each day's salt, the two
    # days' addresses cannot be linked, so that is two listeners too (docs/analytics.md).
    assert body["episodes"] == {KEY: {"downloads": 2, "listeners": 2, "bytes": 2 * SIZE}}
    assert body["filtered"] == {"short": 1}
    assert (body["since"], body["until"]) == ("2026-11-03", "2026-11-04")
    assert body["thresholds"][KEY]["rule"] == "complete file"
    _, by_day = await stats("since=2026-11-03&by=day")
    days = by_day["episodes"][KEY]["by_day"]
    assert {day: t["downloads"] for day, t in days.items()} == {"2026-11-03": 1, "2026-11-04": 1}
    _, later = await stats("since=2026-11-04")
    assert later["episodes"][KEY]["downloads"] == 1
    assert (await stats("since=yesterday"))[0] == 400
    assert (await stats("since=2026-11-03&by=planet"))[0] == 400
    assert (await stats("until=2026-11-03"))[0] == 400
    assert (await stats("since=2026-11-03", auth=False))[0] == 401


async def test_kept_addresses_make_one_listener_over_several_days(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(
        media_server,
        bucket,
        tmp_path,
        clock,
        analytics={"ip": "keep"},
        origin={"trusted_proxies": ["127.0.0.1"]},
    )
    bucket.put(KEY, payload(SIZE, seed=KEY))
    one = {"User-Agent": "Overcast/3.0 (iOS)", "X-Forwarded-For": "203.0.113.1"}
    await fetch(session, origin.url(KEY), headers=one)
    clock.now += 86400
    await fetch(session, origin.url(KEY), headers=one)
    await rows(tmp_path / "downloads.log", 2)
    _, _, body = await fetch(
        session, origin.admin_url("/admin/stats?since=2026-11-03"), headers=origin.auth
    )
    assert json.loads(body)["episodes"][KEY] == {"downloads": 2, "listeners": 1, "bytes": 2 * SIZE}


async def test_a_node_without_a_download_log_has_no_stats(
    media_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    origin = await start_origin(media_server, settings)
    status, _, body = await fetch(
        session, origin.admin_url("/admin/stats?since=2026-11-01"), headers=origin.auth
    )
    assert status == 404
    assert json.loads(body) == {"error": "this node records no downloads: set analytics.log"}


async def test_the_log_is_reopened_after_logrotate_moves_it(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session
) -> None:
    origin = await origin_with(media_server, bucket, tmp_path, clock)
    bucket.put(KEY, payload(1000, seed=KEY))
    log = tmp_path / "downloads.log"
    await fetch(session, origin.url(KEY))
    await rows(log, 1)
    log.rename(tmp_path / "downloads.log.1")
    await fetch(session, origin.url(KEY))
    assert len(await rows(log, 1)) == 1
    assert len(lines_of(tmp_path / "downloads.log.1")) == 1


async def test_a_log_that_cannot_be_written_never_fails_a_download(
    media_server, bucket: Bucket, tmp_path: Path, clock: Clock, session, caplog
) -> None:
    origin = await origin_with(media_server, bucket, tmp_path, clock)
    body = payload(1000, seed=KEY)
    bucket.put(KEY, body)
    log = tmp_path / "downloads.log"
    log.rename(tmp_path / "downloads.log.1")
    log.mkdir()  # where the log was, something that cannot take a line
    for _ in range(2):
        status, _, got = await fetch(session, origin.url(KEY))
        assert (status, got) == (200, body)
    said = [r.getMessage() for r in caplog.records if r.name == "castedge.downloads"]
    assert len(said) == 1 and "cannot record rows" in said[0]
