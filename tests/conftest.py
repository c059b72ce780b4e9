"""Fixtures shared by the integration and end-to-end tests: a real S3 server on loopback."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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
        # moto works an object's ETag out at its first HEAD or GET, reading its body in
        # 16 MiB blocks from a buffer that a concurrent GET moves too: eight regions
        # fetching a 20 MB object at once were once told the MD5 of its first 16 MiB.
        # Asked now, alone, it is the MD5 of the whole.
        self.client.head_object(Bucket=self.name, Key=key)
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
#: Test runs on one machine share the setting; these files say who put it back.
_MIGRATE_MUTEX = Path(tempfile.gettempdir()) / "castedge-tests-migrate-req.mutex"
_MIGRATE_USERS = Path(tempfile.gettempdir()) / "castedge-tests-migrate-req.users"


@pytest.fixture
def migrate_requests() -> Iterator[None]:
    """Turn on what systemd/castedge-sysctl.conf turns on, while this test runs.

    Without it the kernel resets connections still queued at a worker that a reload
    retires, instead of handing them to the new one. The setting is the machine's (its
    network namespace's), so test runs side by side share it, and one putting the old
    value back while another's reload runs resets that one's queued connections. So
    each test holds a shared lock on a file while it needs the setting; the last to
    let go (the one that can then lock it exclusively) puts back the value the first
    found. The locks are taken and dropped under a second, exclusive one.
    """
    with open(_MIGRATE_MUTEX, "a+") as mutex, open(_MIGRATE_USERS, "a") as users:
        with _locked(mutex):
            try:
                if _try_exclusive(users):
                    # Nobody else needs it on: what it is now is what to put back.
                    mutex.seek(0)
                    mutex.truncate()
                    mutex.write(MIGRATE_REQ.read_text())
                    mutex.flush()
                fcntl.flock(users, fcntl.LOCK_SH)
                MIGRATE_REQ.write_text("1\n")
            except OSError as exc:
                pytest.skip(
                    f"cannot set net.ipv4.tcp_migrate_req here (needs root, Linux 5.14+): {exc}"
                )
        try:
            yield
        finally:
            with _locked(mutex):
                fcntl.flock(users, fcntl.LOCK_UN)
                if _try_exclusive(users):
                    mutex.seek(0)
                    MIGRATE_REQ.write_text(mutex.read() or "0\n")


@contextlib.contextmanager
def _locked(file: IO[str]) -> Iterator[None]:
    fcntl.flock(file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file, fcntl.LOCK_UN)


def _try_exclusive(file: IO[str]) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture
async def fast_server() -> Any:
    """Like ``aiohttp_server``, on the listener's runner: connections start on the fast
    path (``fast_path=False``: as the listener runs without it)."""
    from tests.support.fastpath import FastTestServer

    servers: list[FastTestServer] = []

    async def go(
        app: Any, *, fast_path: bool = True, http: Any = None, **kwargs: Any
    ) -> FastTestServer:
        server = FastTestServer(app, fast_path=fast_path, http=http)
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
