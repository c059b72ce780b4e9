"""``castedge sync status`` as an operator runs it, against a stand-in daemon on loopback."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.process import CASTEDGE
from tests.support.syncdaemon import FakeSyncDaemon, Region

pytestmark = pytest.mark.e2e

TOKEN = "sync-admin-token-0123456789"


async def sync_status(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CASTEDGE_ADMIN_TOKEN"}
    command = [CASTEDGE, "sync", "status", *args]
    if config is not None:
        command += ["--config", str(config)]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(command, proc.returncode, out.decode(), err.decode())


def node_file(tmp_path: Path, admin_listen: str = "127.0.0.1:9090") -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump({"admin": {"listen": admin_listen, "token": TOKEN}}))
    return path


def cells(line: str) -> list[str]:
    """A table row's cells: columns are two or more spaces apart, cells have one at most."""
    return re.split(r"\s{2,}", line.strip())


def ago(seconds: float) -> str:
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)).isoformat()


async def test_status_prints_a_row_per_region_in_human_units(aiohttp_server, tmp_path) -> None:
    daemon = FakeSyncDaemon(
        None, TOKEN, {"eu-central": Region(), "ap-south": Region(False, "connect timeout")}
    )
    daemon.listed_at = ago(30)
    daemon.extra = {
        "eu-central": {
            "held": 1199, "objects_pending": 1, "bytes_pending": 1_234_567_890,
            "oldest_pending_seconds": 42.0, "last_success": ago(3600),
        },
        "ap-south": {
            "held": 1100, "objects_pending": 100, "bytes_pending": 12_000_000_000,
            "oldest_pending_seconds": 7380.0,
        },
    }  # fmt: skip
    server = await aiohttp_server(daemon.app())

    done = await sync_status("--sync", str(server.make_url("")), config=node_file(tmp_path))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("listed ") and lines[0].endswith(" ago: 0 objects in the bucket")
    header, eu, ap = (cells(line) for line in lines[2:])
    assert header == [
        "REGION", "HEALTHY", "HELD", "PENDING", "BYTES PENDING", "OLDEST PENDING",
        "LAST ERROR", "LAST SUCCESS",
    ]  # fmt: skip
    assert eu == [
        "eu-central", "yes", "1199", "1", "1.2 GB", "42 s", "-", "1 h ago",
    ]  # fmt: skip
    assert ap == [
        "ap-south", "no", "1100", "100", "12 GB", "2 h 3 min", "connect timeout", "never",
    ]  # fmt: skip
    assert daemon.tokens_seen == [TOKEN]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_daemon_is_exit_1_and_one_line_saying_where_it_looked(tmp_path) -> None:
    port = closed_port()
    done = await sync_status(config=node_file(tmp_path, f"0.0.0.0:{port}"))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"castedge sync status: no sync daemon answered at "
        f"http://127.0.0.1:{port}/admin/sync/status (Connection refused)"
    ]


async def test_a_wrong_token_is_exit_1_and_says_so(aiohttp_server, tmp_path) -> None:
    daemon = FakeSyncDaemon(None, "another-token-0123456789", {"eu-central": Region()})
    server = await aiohttp_server(daemon.app())
    done = await sync_status("--sync", str(server.make_url("")), config=node_file(tmp_path))
    assert done.returncode == 1
    assert "/admin/sync/status: refused: missing or wrong admin token" in done.stderr
    assert TOKEN not in done.stderr
