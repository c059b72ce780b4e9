"""What pod catchers see from a live origin: ranges, conditionals, errors, on a miss and a hit.

Every test runs over plain HTTP through aiohttp ("http"), over plain HTTP on the fast
path for hits ("fast", ``delivery.fastpath``; hits go out with ``os.sendfile`` on both)
and over HTTPS (hits are copied through OpenSSL): every path must answer alike.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Bucket, payload
from tests.support.certs import Authority
from tests.support.origin import RunningOrigin, fetch, origin_settings, sha256, start_origin

SIZE = 3_000_000
KEY = "podcast/ep-001.mp3"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(params=["http", "fast", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def origin(
    aiohttp_server, fast_server, bucket: Bucket, tmp_path: Path, scheme: str, authority: Authority
) -> RunningOrigin:
    settings = origin_settings(
        bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path / "cache"
    )
    context = None
    if scheme == "https":
        cert, key = authority.issue().write(tmp_path / "tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    serve = fast_server if scheme == "fast" else aiohttp_server
    running = await start_origin(serve, settings, ssl_context=context)
    assert running.url(KEY).startswith("https://" if scheme == "https" else "http://")
    return running


@pytest.fixture
async def session(authority: Authority) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=authority.client_context())
    async with aiohttp.ClientSession(auto_decompress=False, connector=connector) as s:
        yield s


@pytest.fixture(params=["miss", "hit"])
async def state(request, origin: RunningOrigin, bucket: Bucket, session) -> tuple[bytes, str]:
    """An episode on S3, either not yet cached (miss) or already cached (hit)."""
    body = payload(SIZE, seed=KEY)
    bucket.put(KEY, body)
    if request.param == "hit":
        status, _, got = await fetch(session, origin.url(KEY))
        assert status == 200 and got == body
        assert len(await origin.wait_cached(1)) == 1
    return body, request.param


async def test_full_get_matches_source(origin, session, state) -> None:
    body, _ = state
    status, headers, got = await fetch(session, origin.url(KEY))
    assert status == 200
    assert sha256(got) == sha256(body)
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Length"] == str(SIZE)
    assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    assert headers["Cache-Control"] == "public, max-age=86400"


async def test_etag_matches_s3(origin, bucket, session, state) -> None:
    s3_etag = bucket.client.head_object(Bucket=bucket.name, Key=KEY)["ETag"]
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD")
    assert headers["ETag"] == s3_etag


async def test_apple_podcasts_probe(origin, session, state) -> None:
    body, _ = state
    status, headers, got = await fetch(session, origin.url(KEY), headers={"Range": "bytes=0-1"})
    assert status == 206
    assert got == body[:2]
    assert headers["Content-Range"] == f"bytes 0-1/{SIZE}"
    assert headers["Content-Length"] == "2"


async def test_spotify_ten_megabyte_style_ranges_reassemble(origin, session, state) -> None:
    body, _ = state
    step = 700_000  # several ranges over the 3 MB episode, last one short
    parts = []
    for start in range(0, SIZE, step):
        end = min(start + step, SIZE) - 1
        status, headers, got = await fetch(
            session, origin.url(KEY), headers={"Range": f"bytes={start}-{end}"}
        )
        assert status == 206
        assert headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
        parts.append(got)
    assert b"".join(parts) == body


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=-500", SIZE - 500, SIZE - 1), ("bytes=2999000-", 2_999_000, SIZE - 1)],
)
async def test_suffix_and_open_ranges(origin, session, state, header, first, last) -> None:
    body, _ = state
    status, headers, got = await fetch(session, origin.url(KEY), headers={"Range": header})
    assert status == 206
    assert got == body[first : last + 1]
    assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"


async def test_antennapod_head_gives_size_without_body(origin, session, state) -> None:
    status, headers, got = await fetch(session, origin.url(KEY), method="HEAD")
    assert status == 200
    assert headers["Content-Length"] == str(SIZE)
    assert got == b""


async def test_unsatisfiable_range_is_416_with_length(origin, session, state) -> None:
    status, headers, _ = await fetch(session, origin.url(KEY), headers={"Range": f"bytes={SIZE}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-1", "items=0-1", "bytes=--1"])
async def test_malformed_range_gets_whole_file(origin, session, state, header) -> None:
    body, _ = state
    status, _, got = await fetch(session, origin.url(KEY), headers={"Range": header})
    assert status == 200
    assert got == body


async def test_many_ranges_never_amplify(origin, session, state) -> None:
    ranges = ",".join(f"{i}-{i + 10}" for i in range(0, 200 * 100, 100))
    status, headers, got = await fetch(
        session, origin.url(KEY), headers={"Range": f"bytes={ranges}"}
    )
    assert "multipart" not in headers.get("Content-Type", "")
    assert len(got) <= SIZE
    assert status in (200, 206)


async def test_overlapping_ranges_are_merged(origin, session, state) -> None:
    body, _ = state
    status, headers, got = await fetch(
        session, origin.url(KEY), headers={"Range": "bytes=0-99,50-199,0-0"}
    )
    assert status == 206
    assert got == body[:200]
    assert headers["Content-Range"] == f"bytes 0-199/{SIZE}"


async def test_if_none_match_gives_304(origin, session, state) -> None:
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD")
    status, h304, got = await fetch(
        session, origin.url(KEY), headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 304
    assert got == b""
    assert h304["ETag"] == headers["ETag"]


async def test_if_modified_since_gives_304(origin, session, state) -> None:
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD")
    status, _, _ = await fetch(
        session, origin.url(KEY), headers={"If-Modified-Since": headers["Last-Modified"]}
    )
    assert status == 304


async def test_if_range_with_current_etag_gives_range(origin, session, state) -> None:
    body, _ = state
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD")
    status, _, got = await fetch(
        session,
        origin.url(KEY),
        headers={"Range": "bytes=10-19", "If-Range": headers["ETag"]},
    )
    assert status == 206
    assert got == body[10:20]


async def test_if_range_with_date_equal_to_last_modified_gives_range(origin, session, state):
    _, headers, _ = await fetch(session, origin.url(KEY), method="HEAD")
    status, _, _ = await fetch(
        session,
        origin.url(KEY),
        headers={"Range": "bytes=10-19", "If-Range": headers["Last-Modified"]},
    )
    assert status == 206


@pytest.mark.parametrize("if_range", ['"stale"', 'W/"weak"', "Mon, 01 Jan 2001 00:00:00 GMT"])
async def test_if_range_that_does_not_match_gives_whole_file(
    origin, session, state, if_range
) -> None:
    body, _ = state
    status, _, got = await fetch(
        session, origin.url(KEY), headers={"Range": "bytes=10-19", "If-Range": if_range}
    )
    assert status == 200
    assert got == body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_get_405_with_allow(origin, session, method) -> None:
    status, headers, _ = await fetch(session, origin.url(KEY), method=method)
    assert status == 405
    assert set(headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


async def test_missing_object_is_404_and_remembered(origin, bucket, session) -> None:
    for _ in range(3):
        status, _, _ = await fetch(session, origin.url("podcast/nope.mp3"))
        assert status == 404
    assert bucket.gets("podcast/nope.mp3") == 1
    assert origin.cached_files() == []


async def test_overlong_url_is_414(origin, session) -> None:
    status, _, _ = await fetch(session, origin.url("a" * 9000 + ".mp3"))
    assert status == 414


async def test_overlong_header_is_431(origin, session) -> None:
    status, _, _ = await fetch(session, origin.url(KEY), headers={"X-Junk": "j" * 9000})
    assert status == 431


async def test_media_types_come_from_the_extension(origin, bucket, session) -> None:
    for key, expected in [
        ("v/a.m3u8", "application/vnd.apple.mpegurl"),
        ("v/a.ts", "video/mp2t"),
        ("a/b.m4a", "audio/mp4"),
        ("v/c.mp4", "video/mp4"),
    ]:
        bucket.put(key, b"x" * 100)
        status, headers, _ = await fetch(session, origin.url(key))
        assert status == 200
        assert headers["Content-Type"] == expected
