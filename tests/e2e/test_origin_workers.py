"""Several worker processes on one port, and restarts that drop nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import MIGRATE_REQ, Bucket, payload
from tests.support.process import CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "workers-admin-token-0123456789"


def config(bucket: Bucket, tmp_path: Path, **origin: Any) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(tmp_path / "cache"), "max_size": "2GB"},
        "origin": {"listen": "127.0.0.1:0", "access_log": None, **origin},
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
    }


async def get_many(url: str, count: int, **kwargs: Any) -> list[tuple[int, str]]:
    """``count`` concurrent GETs, each on its own connection (so workers share them)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, str]:
            async with session.get(url, allow_redirects=False, **kwargs) as resp:
                return resp.status, hashlib.sha256(await resp.read()).hexdigest()

        return await asyncio.gather(*(one() for _ in range(count)))


def test_four_workers_forty_misses_one_upstream_get(bucket: Bucket, tmp_path: Path) -> None:
    body = payload(20_000_000, "workers")
    digest = bucket.put("podcast/w.mp3", body)
    proc = CastedgeProcess("origin", config(bucket, tmp_path, workers=4), tmp_path).start()
    try:
        results = asyncio.run(get_many(proc.url("podcast/w.mp3"), 40))
        assert set(results) == {(200, digest)}
        assert bucket.gets("podcast/w.mp3") == 1

        # Metrics add up across the workers, whichever one answers the scrape.
        with urllib.request.urlopen(proc.urls["admin"] + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert 'castedge_requests_total{service="origin",status="200"} 40.0' in text

        # A switch flipped through one worker holds for all of them within a second.
        request = urllib.request.Request(
            proc.urls["admin"] + "/admin/fallback",
            data=b'{"mode": "on", "by": "test"}',
            method="PUT",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        time.sleep(1.0)
        statuses = {status for status, _ in asyncio.run(get_many(proc.url("podcast/w.mp3"), 20))}
        assert statuses == {302}
    finally:
        assert proc.stop() == 0


def test_a_killed_worker_is_replaced(bucket: Bucket, tmp_path: Path) -> None:
    bucket.put("podcast/k.mp3", b"k" * 10_000)
    proc = CastedgeProcess("origin", config(bucket, tmp_path, workers=2), tmp_path).start()
    try:
        assert proc.proc is not None
        children = _children(proc.proc.pid)
        assert len(children) == 2
        os.kill(children[0], signal.SIGKILL)
        _replaced(proc, children[0])
        statuses = {s for s, _ in asyncio.run(get_many(proc.url("podcast/k.mp3"), 10))}
        assert statuses == {200}
    finally:
        assert proc.stop() == 0


def test_a_worker_killed_as_connections_arrive_resets_none_with_migration_on(
    bucket: Bucket, tmp_path: Path, migrate_requests: None
) -> None:
    # A killed worker's listener takes connections until the kernel closes its files,
    # and then resets those it had not accepted, unless tcp_migrate_req hands them on.
    bucket.put("podcast/m.mp3", b"m" * 10_000)
    proc = CastedgeProcess("origin", config(bucket, tmp_path, workers=2), tmp_path).start()
    try:
        assert proc.proc is not None
        for _ in range(3):
            children = _children(proc.proc.pid)
            assert len(children) == 2
            os.kill(children[0], signal.SIGKILL)
            got = asyncio.run(get_outcomes(proc.url("podcast/m.mp3"), 50))
            assert got == ["200"] * 50, f"{got}; tcp_migrate_req: {MIGRATE_REQ.read_text()}"
            # The next kill must leave a worker that listens, not one still starting.
            _replaced(proc, children[0])
    finally:
        assert proc.stop() == 0


async def get_outcomes(url: str, count: int) -> list[str]:
    """Like ``get_many``, each outcome a status or how the request broke."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> str:
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    return str(resp.status)
            except (aiohttp.ClientError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"

        return await asyncio.gather(*(one() for _ in range(count)))


def _replaced(proc: CastedgeProcess, killed: int) -> None:
    """Wait for a worker in place of ``killed``, listening beside the other."""
    assert proc.proc is not None
    port = int(proc.urls["origin"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = _children(proc.proc.pid)
        if len(now) == 2 and killed not in now and _listening(port) == 2:
            return
        time.sleep(0.05)
    raise AssertionError("the killed worker was not replaced by one that listens")


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (IPv4): one per worker that has started."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1:4:2]
        count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_a_download_finish_then_exits_0(
    bucket: Bucket, tmp_path: Path, workers: int
) -> None:
    body = payload(100_000_000, "drain")
    digest = bucket.put("podcast/long.mp3", body)
    proc = CastedgeProcess("origin", config(bucket, tmp_path, workers=workers), tmp_path)
    proc.start()
    dest = tmp_path / "long.mp3"
    # About three seconds of transfer, so the signal lands mid-download.
    client = subprocess.Popen(
        ["curl", "-sSf", "--limit-rate", "35M", "-o", str(dest), proc.url("podcast/long.mp3")]
    )
    deadline = time.monotonic() + 10
    while (not dest.exists() or dest.stat().st_size < 5_000_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert client.wait(60) == 0
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest
    assert proc.proc.wait(30) == 0
    assert proc.stop() == 0  # already gone: closes its pipes


def test_sighup_replaces_workers_without_refusing_a_connection(
    bucket: Bucket, tmp_path: Path, migrate_requests: None
) -> None:
    bucket.put("podcast/h.mp3", b"h" * 50_000)
    proc = CastedgeProcess("origin", config(bucket, tmp_path, workers=2), tmp_path).start()
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal done
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and done < 5000:
            try:
                with urllib.request.urlopen(proc.url("podcast/h.mp3"), timeout=5) as resp:
                    if resp.status != 200 or len(resp.read()) != 50_000:
                        failures.append(f"status {resp.status}")
            except OSError as exc:
                failures.append(repr(exc))
            done += 1

    try:
        assert proc.proc is not None
        before = set(_children(proc.proc.pid))
        thread = threading.Thread(target=hammer)
        thread.start()
        time.sleep(0.3)
        proc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            after = set(_children(proc.proc.pid))
            if len(after) == 2 and not after & before:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        stop.set()
        thread.join(30)
        assert not after & before, "every worker should have been replaced"
        # Anything else on the machine turning migration off resets queued connections.
        assert failures == [], f"{failures}; tcp_migrate_req: {MIGRATE_REQ.read_text().strip()}"
        assert done > 20
    finally:
        stop.set()
        assert proc.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_readiness_is_reported_to_systemd_once(
    bucket: Bucket, tmp_path: Path, workers: int
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    proc = CastedgeProcess(
        "origin",
        config(bucket, tmp_path, workers=workers),
        tmp_path,
        env={"NOTIFY_SOCKET": str(tmp_path / "notify")},
    )
    try:
        proc.start()
        assert notify.recv(4096) == b"READY=1"
        notify.settimeout(1.0)
        with pytest.raises(TimeoutError):
            extra = notify.recv(4096)
            raise AssertionError(f"unexpected second notification {extra!r}")
    finally:
        assert proc.stop() == 0
        notify.settimeout(5)
        assert notify.recv(4096) == b"STOPPING=1"
        notify.close()


def test_the_supervisor_pets_systemds_watchdog(bucket: Bucket, tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    # WatchdogSec=1: a WATCHDOG=1 at least every half second.
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    proc = CastedgeProcess("origin", config(bucket, tmp_path), tmp_path, env=env)
    try:
        proc.start()
        notify.settimeout(2)  # a pet is due every 0.5 s, while workers start too
        messages = [notify.recv(4096)]
        while messages.count(b"WATCHDOG=1") < 3 or b"READY=1" not in messages:
            assert len(messages) < 200, messages
            messages.append(notify.recv(4096))
        assert set(messages) == {b"READY=1", b"WATCHDOG=1"}
        assert messages.count(b"READY=1") == 1
        after = messages[messages.index(b"READY=1") + 1 :]
        for _ in range(3 - len(after)):
            after.append(notify.recv(4096))
        assert after[:3] == [b"WATCHDOG=1"] * 3
    finally:
        assert proc.stop() == 0
        notify.close()


def test_workers_keep_the_shared_cache_under_its_cap(bucket: Bucket, tmp_path: Path) -> None:
    names = [f"podcast/cap-{n}.mp3" for n in range(6)]
    for name in names:
        bucket.put(name, payload(3_000_000, name))
    cfg = config(bucket, tmp_path, workers=2)
    cfg["cache"]["max_size"] = "10MB"
    proc = CastedgeProcess("origin", cfg, tmp_path).start()
    try:
        for name in names:
            # New connections each time, so both workers fill and evict.
            results = asyncio.run(get_many(proc.url(name), 3))
            assert {status for status, _ in results} == {200}
            time.sleep(0.2)
        objects = [p for p in (tmp_path / "cache" / "origin" / "objects").rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in objects)
        assert total <= 10_000_000, f"{len(objects)} objects, {total} bytes on disk"
        assert len(objects) >= 2, "eviction should keep the most recent objects"
    finally:
        assert proc.stop() == 0
