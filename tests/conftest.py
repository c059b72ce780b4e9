"""Fixtures shared by the integration and end-to-end tests: a real S3 server on loopback."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3

# boto3's credential chain needs something; the local S3 server accepts any pair.
os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def s3() -> Iterator[LocalS3]:
    """moto's S3 server on 127.0.0.1, shared by the session (each test has its own bucket)."""
    server = LocalS3().start()
    yield server
    server.stop()


class Bucket:
    """A fresh bucket on the local S3 server, with helpers to fill it."""

    def __init__(self, server: LocalS3) -> None:
        self.server = server
        self.name = f"t-{uuid.uuid4().hex[:16]}"
        self.client: Any = server.client()
        self.client.create_bucket(Bucket=self.name)

    def put(self, key: str, body: bytes, **extra: Any) -> str:
        """Upload ``body`` under ``key``; return its sha256."""
        self.client.put_object(Bucket=self.name, Key=key, Body=body, **extra)
        return hashlib.sha256(body).hexdigest()

    def gets(self, key: str) -> int:
        """How many GETs for ``key`` the S3 server has seen."""
        return len(self.server.gets(f"/{self.name}/{key}"))


@pytest.fixture
def bucket(s3: LocalS3) -> Bucket:
    return Bucket(s3)


def payload(size: int, seed: str = "castedge") -> bytes:
    """Deterministic incompressible bytes of ``size``."""
    return hashlib.shake_256(seed.encode()).digest(size)


MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


@pytest.fixture
def migrate_requests() -> Iterator[None]:
    """Turn on what systemd/castedge-sysctl.conf turns on, for this test only.

    Without it the kernel resets connections still queued at a worker that a reload
    retires, instead of handing them to the new one.
    """
    try:
        before = MIGRATE_REQ.read_text()
        MIGRATE_REQ.write_text("1\n")
    except OSError as exc:
        pytest.skip(f"cannot set net.ipv4.tcp_migrate_req here (needs root, Linux 5.14+): {exc}")
    yield
    MIGRATE_REQ.write_text(before)


@pytest.fixture
async def fast_server() -> Any:
    """Like ``aiohttp_server``, on the listener's runner: connections start on the fast
    path (``fast_path=False``: as the listener runs without it)."""
    from tests.support.fastpath import FastTestServer

    servers: list[FastTestServer] = []

    async def go(app: Any, *, fast_path: bool = True, **kwargs: Any) -> FastTestServer:
        server = FastTestServer(app, fast_path=fast_path)
        await server.start_server(**kwargs)
        servers.append(server)
        return server

    yield go
    while servers:
        await servers.pop().close()


@pytest.fixture(params=["aiohttp", "fast"])
def media_server(request: pytest.FixtureRequest, aiohttp_server: Any, fast_server: Any) -> Any:
    """A server factory for each path a plain-HTTP request may take (``http.fast_path``)."""
    return fast_server if request.param == "fast" else aiohttp_server
