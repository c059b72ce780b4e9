"""What browsers, the locator and operators see from a live edge: CORS, health, admin API."""

from __future__ import annotations

import dataclasses
import errno
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from config import ConfigError
from delivery.admin import DELIVERY
from edge.app import create_app
from edge.cors import EXPOSED_HEADERS
from tests.conftest import Bucket, payload
from tests.support.edge import (
    PAGE_ORIGIN,
    REGION,
    RunningEdge,
    edge_settings,
    metric,
    start_edge,
)
from tests.support.origin import fetch

LESSON = "courses/py/ch01/intro.mp4"
SIZE = 200_000


@pytest.fixture
async def edge(aiohttp_server, bucket: Bucket, tmp_path: Path) -> RunningEdge:
    bucket.put(LESSON, payload(SIZE, LESSON))
    settings = edge_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    return await start_edge(aiohttp_server, settings)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def preflight_headers(origin: str, headers: str = "range") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": headers,
    }


async def test_preflight_from_the_course_site_is_granted(edge, session) -> None:
    status, headers, body = await fetch(
        session, edge.url(LESSON), method="OPTIONS", headers=preflight_headers(PAGE_ORIGIN)
    )
    assert (status, body) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    assert set(headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert headers["Access-Control-Allow-Headers"] == "range"
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]


@pytest.mark.parametrize(
    "headers",
    [
        preflight_headers("https://evil.example.com"),
        preflight_headers(PAGE_ORIGIN, "range, x-steal"),
        {"Origin": PAGE_ORIGIN, "Access-Control-Request-Method": "DELETE"},
    ],
    ids=["other origin", "unlisted header", "unsafe method"],
)
async def test_preflight_that_asks_too_much_is_not_granted(edge, session, headers) -> None:
    status, got, _ = await fetch(session, edge.url(LESSON), method="OPTIONS", headers=headers)
    assert status == 204
    assert "Access-Control-Allow-Origin" not in got
    assert "Access-Control-Allow-Methods" not in got


async def test_responses_expose_what_a_player_needs_to_the_course_site(edge, session) -> None:
    status, headers, _ = await fetch(
        session, edge.url(LESSON), headers={"Origin": PAGE_ORIGIN, "Range": "bytes=0-9"}
    )
    assert status == 206
    assert headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    exposed = {h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Content-Range", "Content-Length", "Accept-Ranges", "X-Castedge-Region"}
    assert headers["Vary"] == "Origin"


async def test_every_answer_names_the_region_that_gave_it(edge, session) -> None:
    # A page shows where its video came from; an operator, which edge refused.
    for url in (edge.url(LESSON), edge.url(LESSON)[:-1] + "x", edge.public("courses/no-token")):
        status, headers, _ = await fetch(session, url, headers={"Origin": PAGE_ORIGIN})
        assert headers["X-Castedge-Region"] == REGION, (url, status)
    assert headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN


async def test_other_origins_get_no_cors_grant(edge, session) -> None:
    status, headers, _ = await fetch(
        session, edge.url(LESSON), headers={"Origin": "https://evil.example.com"}
    )
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_any_origin_when_configured_with_a_star(aiohttp_server, bucket, tmp_path, session):
    bucket.put(LESSON, payload(SIZE, LESSON))
    settings = edge_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path,
        edge={"cors_origins": ["*"]},
    )
    edge = await start_edge(aiohttp_server, settings)
    _, headers, _ = await fetch(
        session, edge.url(LESSON), headers={"Origin": "https://any.example"}
    )
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == EXPOSED_HEADERS
    assert "Vary" not in headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_get_405_with_allow(edge, session, method) -> None:
    status, headers, _ = await fetch(session, edge.url(LESSON), method=method)
    assert status == 405
    assert set(headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


async def test_healthz_tells_the_locator_region_store_and_free_space(edge, session) -> None:
    status, headers, body = await fetch(session, edge.public("healthz"))
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    doc = json.loads(body)
    assert doc["status"] == "ok"
    assert doc["region"] == REGION
    assert doc["store"]["healthy"] is True
    assert doc["store"]["free_bytes"] > 0


async def test_healthz_is_503_while_the_store_is_degraded(edge, session) -> None:
    store = edge.media.app[DELIVERY].store
    store.mark_failed(OSError(errno.EIO, "Input/output error"), "write")
    status, _, body = await fetch(session, edge.public("healthz"))
    assert status == 503
    assert b'"degraded"' in body
    # Degraded is not dead: a signed request is still answered, straight from S3.
    status, _, got = await fetch(session, edge.url(LESSON))
    assert (status, got) == (200, payload(SIZE, LESSON))
    store.recovered()
    assert (await fetch(session, edge.public("healthz")))[0] == 200


async def test_admin_health_adds_region_free_space_and_revocations(edge, session) -> None:
    status, _, body = await fetch(session, edge.admin_url("/healthz"))
    node = json.loads(body)
    assert status == 200
    assert (node["status"], list(node["roles"])) == ("ok", ["edge"])
    doc = node["roles"]["edge"]
    assert doc["healthy"] is True
    assert doc["region"] == REGION
    assert doc["free_bytes"] > 0
    assert doc["revocations"] == {"file": None, "entries": 0, "loaded_at": None}


async def test_admin_prefetch_and_purge_work_with_the_admin_token(edge, bucket, session) -> None:
    status, _, _ = await fetch(
        session, edge.admin_url("/admin/prefetch"), method="POST", json={"keys": [LESSON]}
    )
    assert status == 401
    status, _, body = await fetch(
        session,
        edge.admin_url("/admin/prefetch?wait=1"),
        method="POST",
        json={"keys": [LESSON]},
        headers=edge.auth,
    )
    assert status == 200, body
    assert bucket.gets(LESSON) == 1
    assert (await fetch(session, edge.url(LESSON)))[0] == 200
    assert bucket.gets(LESSON) == 1, "the prefetched copy served the request"
    _, _, text = await fetch(session, edge.admin_url("/metrics"))
    assert metric(text.decode(), "castedge_cache_lookups_total", result="hit", service="edge") == 1

    status, _, _ = await fetch(
        session, edge.admin_url(f"/admin/cache/{LESSON}"), method="DELETE", headers=edge.auth
    )
    assert status == 200
    assert (await fetch(session, edge.url(LESSON)))[0] == 200
    assert bucket.gets(LESSON) == 2


@pytest.mark.parametrize("missing", ["edge", "signing"])
def test_an_edge_without_its_sections_does_not_start(bucket, tmp_path, missing) -> None:
    settings = edge_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    settings = dataclasses.replace(settings, **{missing: None})
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert str(caught.value).startswith(f"test.yaml: {missing}: missing; castedge edge needs")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.m3u8", "application/vnd.apple.mpegurl"),
        ("720p/seg-00001.ts", "video/mp2t"),
        ("dash/manifest.mpd", "application/dash+xml"),
        ("dash/chunk-1.m4s", "video/iso.segment"),
        ("subtitles/en.vtt", "text/vtt"),
    ],
)
async def test_streaming_formats_get_their_types_under_one_directory_token(
    edge, bucket, session, name, content_type
) -> None:
    chapter = "courses/py/ch03/"
    bucket.put(chapter + name, b"#EXTM3U\n" if name.endswith("m3u8") else b"\x47" * 188)
    url = edge.url(chapter + name, scope=chapter)
    status, headers, _ = await fetch(session, url)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "private, max-age=3600"
