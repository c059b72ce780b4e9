"""castedge verifies every HTTPS peer it calls: S3, and the edges the locator checks.

S3 is moto's server on loopback serving HTTPS with a certificate from a throwaway CA;
an edge's /healthz is a real aiohttp server over HTTPS. With the CA given
(``storage.s3.ca_bundle``, ``ca_bundle``) the calls succeed; without it, the system's
CAs do not know the issuer and the call is refused, never made insecurely.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from castedge.locals3 import LocalS3
from geo.health import HealthBoard
from locator.metrics import LocatorMetrics
from locator.prober import Prober
from tests.conftest import Bucket, payload
from tests.support.certs import Authority
from tests.support.origin import fetch, origin_settings, sha256, start_origin

KEY = "podcast/secure.mp3"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("ca"))


def _server_context(authority: Authority, directory: Path) -> ssl.SSLContext:
    cert, key = authority.issue().write(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def https_s3(authority: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    context = _server_context(authority, tmp_path_factory.mktemp("s3-cert"))
    server = LocalS3(ssl_context=context, ca_bundle=str(authority.path)).start()
    yield server
    server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


@pytest.mark.parametrize("trusted", [True, False], ids=["ca_bundle", "no_ca_bundle"])
async def test_an_https_s3_is_verified_against_the_ca_bundle(
    aiohttp_server, https_s3: LocalS3, authority: Authority, tmp_path: Path, session, trusted
) -> None:
    bucket = Bucket(https_s3)
    body = payload(200_000, seed=KEY)
    digest = bucket.put(KEY, body)
    s3 = {"ca_bundle": str(authority.path)} if trusted else {}
    settings = origin_settings(
        bucket=bucket.name,
        endpoint=https_s3.url,
        cache_dir=tmp_path,
        storage={"s3": {"bucket": bucket.name, "endpoint_url": https_s3.url, **s3}},
        upstream={"retries": 0, "read_timeout": "2s"},
    )
    origin = await start_origin(aiohttp_server, settings)
    status, _, got = await fetch(session, origin.url(KEY))
    if trusted:
        assert status == 200
        assert sha256(got) == digest
        assert bucket.gets(KEY) == 1
    else:
        # The TLS handshake fails before any request: S3 never sees a GET.
        assert status in (502, 503)
        assert bucket.gets(KEY) == 0


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def https_edge(authority: Authority, tmp_path: Path) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=_server_context(authority, tmp_path))
    yield server
    await server.close()


def _probes(metrics: LocatorMetrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "castedge_locator_probes_total", {"region": "edge", "result": result}
    )
    return value or 0.0


@pytest.mark.parametrize("trusted", [True, False], ids=["ca_bundle", "no_ca_bundle"])
async def test_the_locator_verifies_an_https_edge(
    https_edge: TestServer, authority: Authority, trusted: bool
) -> None:
    url = str(https_edge.make_url("/healthz"))
    assert url.startswith("https://")
    board = HealthBoard(["edge"], rise=1, fall=2)
    metrics = LocatorMetrics(["edge"])
    prober = Prober(
        {"edge": url},
        board,
        interval=0.05,
        timeout=1.0,
        metrics=metrics,
        on_change=lambda name, healthy: None,
        ca_bundle=authority.path if trusted else None,
    )
    task = asyncio.create_task(prober.run())
    try:
        # Three checks either way, bounded: the result word says which way they went.
        deadline = asyncio.get_running_loop().time() + 10
        while _probes(metrics, "ok") + _probes(metrics, "connect_error") < 3:
            assert asyncio.get_running_loop().time() < deadline, "the prober never checked"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if trusted:
        assert _probes(metrics, "connect_error") == 0
        assert board.state("edge").healthy
    else:
        # An unknown issuer is a failed check, as a refused connection is.
        assert _probes(metrics, "ok") == 0
        assert not board.state("edge").healthy


def test_the_sync_daemon_lists_an_https_bucket_with_its_ca_bundle(
    https_s3: LocalS3, authority: Authority
) -> None:
    from config import S3Settings
    from sync.bucket import Bucket as Listing
    from sync.errors import ListingFailed

    bucket = Bucket(https_s3)
    bucket.put("podcast/listed.mp3", b"episode")

    def s3(ca_bundle: Path | None) -> S3Settings:
        return S3Settings(
            bucket=bucket.name,
            endpoint_url=https_s3.url,
            region="us-east-1",
            public_url=None,
            presign_ttl=3600,
            ca_bundle=ca_bundle,
        )

    assert list(Listing(s3(authority.path)).list()) == ["podcast/listed.mp3"]
    with pytest.raises(ListingFailed, match="CERTIFICATE_VERIFY_FAILED"):
        Listing(s3(None)).list()
