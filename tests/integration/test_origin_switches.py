"""The operator's switches on a live origin: S3 fallback, automatic fallback, maintenance."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from config import settings_from_mapping
from tests.conftest import Bucket, payload
from tests.support.disks import tmpfs
from tests.support.origin import (
    ADMIN_TOKEN,
    RunningOrigin,
    fetch,
    origin_settings,
    start_origin,
)

KEY = "podcast/ep-042.mp3"
BODY = payload(2_000_000, KEY)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


@pytest.fixture
async def origin(aiohttp_server, bucket: Bucket, tmp_path: Path) -> RunningOrigin:
    bucket.put(KEY, BODY)
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    return await start_origin(aiohttp_server, settings)


async def put_switch(session, origin: RunningOrigin, which: str, **body) -> tuple[int, dict]:
    status, _, raw = await fetch(
        session, origin.admin_url(f"/admin/{which}"), method="PUT", json=body,
        headers=origin.auth,
    )  # fmt: skip
    return status, __import__("json").loads(raw)


async def test_fallback_redirects_with_range_preserved(origin, session) -> None:
    status, doc = await put_switch(session, origin, "fallback", mode="on", by="night-shift")
    assert status == 200 and doc["on"] is True and doc["by"] == "night-shift"

    status, headers, _ = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert status == 302
    assert headers["Cache-Control"] == "no-store"
    assert headers["Location"].startswith(origin.settings.storage.s3.endpoint_url)

    status, headers, _ = await fetch(session, origin.url(KEY), method="HEAD", allow_redirects=False)
    assert status == 307

    # curl -L follows to S3 and re-sends its Range there.
    done = await asyncio.to_thread(
        subprocess.run,
        ["curl", "-sSfL", "-r", "1000-1999", "-o", "-", origin.url(KEY)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == BODY[1000:2000]

    status, doc = await put_switch(session, origin, "fallback", mode="off")
    status, _, got = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert (status, got) == (200, BODY)


async def test_public_url_is_used_when_configured(aiohttp_server, bucket, tmp_path, session):
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        storage={"s3": {"bucket": bucket.name, "public_url": "https://media.example.com/pod/"}},
    )
    origin = await start_origin(aiohttp_server, settings)
    await put_switch(session, origin, "fallback", mode="on")
    status, headers, _ = await fetch(session, origin.url("podcast/ep 1.mp3"), allow_redirects=False)
    assert status == 302
    assert headers["Location"] == "https://media.example.com/pod/podcast/ep%201.mp3"


async def test_fallback_survives_a_restart_and_shows_in_health_and_metrics(
    aiohttp_server, origin, session
) -> None:
    await put_switch(session, origin, "fallback", mode="on", by="alice")
    _, _, health = await fetch(session, origin.admin_url("/healthz"))
    assert b'"fallback": {"on": true' in health
    _, _, metrics = await fetch(session, origin.admin_url("/metrics"))
    assert b"castedge_fallback_manual 1.0" in metrics
    await origin.admin.close()
    await origin.media.close()

    again = await start_origin(aiohttp_server, origin.settings)
    status, _, _ = await fetch(session, again.url(KEY), allow_redirects=False)
    assert status == 302
    status, _, raw = await fetch(session, again.admin_url("/admin/fallback"), headers=again.auth)
    assert b'"by": "alice"' in raw
    status, _, body = await fetch(session, again.url("healthz"))
    assert status == 200 and b"fallback" in body


@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer nope"}], ids=["none", "wrong"])
async def test_switches_need_the_token(origin, session, auth) -> None:
    for which in ("fallback", "maintenance"):
        status, _, _ = await fetch(
            session, origin.admin_url(f"/admin/{which}"), method="PUT",
            json={"mode": "on"}, headers=auth,
        )  # fmt: skip
        assert status == 401
    status, _, _ = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert status == 200


@pytest.mark.parametrize(
    "body",
    [{"mode": "maybe"}, {}, {"mode": "on", "by": 5}, {"mode": "on", "retry_after": "x"}],
)
async def test_bad_switch_requests_are_400(origin, session, body) -> None:
    status, _, _ = await fetch(
        session, origin.admin_url("/admin/maintenance"), method="PUT", json=body,
        headers=origin.auth,
    )  # fmt: skip
    assert status == 400


async def test_maintenance_page_for_browsers_redirect_for_players(origin, session) -> None:
    status, doc = await put_switch(
        session, origin, "maintenance", mode="on", message="Patching <now>", retry_after=7
    )
    assert status == 200 and doc["on"]

    status, headers, page = await fetch(
        session, origin.url(KEY), headers={"Accept": "text/html,application/xhtml+xml"}
    )
    assert status == 503
    assert headers["Retry-After"] == "7"
    assert headers["Content-Type"].startswith("text/html")
    assert b'<meta http-equiv="refresh" content="7">' in page
    assert b"Patching &lt;now&gt;" in page

    status, headers, _ = await fetch(
        session, origin.url(KEY), headers={"Accept": "*/*"}, allow_redirects=False
    )
    assert status == 302

    status, _, body = await fetch(session, origin.url("healthz"))
    assert status == 503 and b"maintenance" in body

    await put_switch(session, origin, "maintenance", mode="off")
    status, _, got = await fetch(session, origin.url(KEY))
    assert (status, got) == (200, BODY)


async def test_maintenance_without_s3_is_503_with_retry_after(aiohttp_server, tmp_path, session):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.mp3").write_bytes(b"abc")
    settings = settings_from_mapping(
        {
            "storage": {"dir": str(tmp_path / "srv")},
            "cache": {"dir": str(tmp_path / "cache"), "max_size": "10MB"},
            "origin": {"listen": "127.0.0.1:0", "access_log": None},
            "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        },
        source="t.yaml",
    )
    origin = await start_origin(aiohttp_server, settings)
    status, _ = await put_switch(session, origin, "fallback", mode="on")
    assert status == 409, "no S3 to fall back to"
    await put_switch(session, origin, "maintenance", mode="on", retry_after=30)
    status, headers, _ = await fetch(session, origin.url("a.mp3"), allow_redirects=False)
    assert status == 503 and headers["Retry-After"] == "30"


@pytest.fixture
def remountable(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs the test can turn read-only and back."""
    with tmpfs(tmp_path / "disk", "64m") as mount:
        yield mount


async def test_read_only_cache_triggers_auto_fallback_and_recovery(
    aiohttp_server, bucket: Bucket, remountable: Path, session
) -> None:
    bucket.put(KEY, BODY)
    bucket.put("podcast/new.mp3", b"n" * 5000)
    settings = origin_settings(
        bucket=bucket.name, endpoint=bucket.server.url, cache_dir=remountable
    )
    origin = await start_origin(aiohttp_server, settings)
    await fetch(session, origin.url(KEY))
    await origin.wait_cached(1)

    # The fill closes its file just after publishing it; a remount waits for that.
    for _ in range(50):
        ro = subprocess.run(
            ["mount", "-o", "remount,ro", str(remountable)], capture_output=True, check=False
        )
        if ro.returncode == 0:
            break
        await asyncio.sleep(0.1)
    assert ro.returncode == 0, ro.stderr
    # The first miss finds the disk read-only; from then on misses go to S3.
    for _ in range(2):
        status, headers, _ = await fetch(
            session, origin.url("podcast/new.mp3"), allow_redirects=False
        )
        assert status in (200, 302)
    assert status == 302 and headers["Cache-Control"] == "no-store"
    status, _, got = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert (status, got) == (200, BODY), "hits keep coming from disk"
    _, _, health = await fetch(session, origin.admin_url("/healthz"))
    assert b'"auto": true' in health

    subprocess.run(["mount", "-o", "remount,rw", str(remountable)], check=True)
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        status, _, got = await fetch(session, origin.url("podcast/new.mp3"), allow_redirects=False)
        if status == 200:
            break
        assert asyncio.get_running_loop().time() < deadline, "never recovered"
        await asyncio.sleep(0.25)
    assert got == b"n" * 5000
    await origin.wait_cached(2)
    _, _, metrics = await fetch(session, origin.admin_url("/metrics"))
    assert b'castedge_fallback_transitions_total{kind="auto",to="on"} 1.0' in metrics
    assert b'castedge_fallback_transitions_total{kind="auto",to="off"} 1.0' in metrics


async def test_media_urls_follow_the_origin(aiohttp_server, origin, session) -> None:
    from origin.client import MediaUrls

    urls = await asyncio.to_thread(
        MediaUrls, str(origin.media.make_url("")), s3_url="https://s3.example/pod", interval=0.05
    )
    try:
        assert urls.media_url("podcast/ep 1.mp3") == origin.url("podcast/ep%201.mp3")

        async def eventually(expected_prefix: str) -> None:
            deadline = asyncio.get_running_loop().time() + 5
            while not urls.media_url("a.mp3").startswith(expected_prefix):
                assert asyncio.get_running_loop().time() < deadline, expected_prefix
                await asyncio.sleep(0.02)

        await put_switch(session, origin, "fallback", mode="on")
        await eventually("https://s3.example/pod/")
        await put_switch(session, origin, "fallback", mode="off")
        await eventually(origin.url(""))
        await put_switch(session, origin, "maintenance", mode="on")
        await eventually("https://s3.example/pod/")
        await put_switch(session, origin, "maintenance", mode="off")
        await eventually(origin.url(""))
        await origin.admin.close()
        await origin.media.close()
        await eventually("https://s3.example/pod/")
    finally:
        await asyncio.to_thread(urls.close)


async def test_fallback_never_sends_another_roles_keys_or_the_fleets_files_to_s3(
    aiohttp_server, bucket: Bucket, tmp_path: Path, session
) -> None:
    bucket.put("courses/py/paid.mp4", b"paid")
    bucket.put("_castedge/revocations.json", b'{"version": 1}')
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        origin={"prefixes": [KEY.split("/")[0] + "/"]},
    )
    origin = await start_origin(aiohttp_server, settings)
    await put_switch(session, origin, "fallback", mode="on")
    status, headers, _ = await fetch(session, origin.url(KEY), allow_redirects=False)
    assert status == 302, "the origin's own episodes go to S3"
    for key in ("courses/py/paid.mp4", "_castedge/revocations.json"):
        status, headers, _ = await fetch(session, origin.url(key), allow_redirects=False)
        assert (status, headers.get("Location")) == (404, None), key
    assert bucket.gets("courses/py/paid.mp4") == 0
