"""No request path opens anything outside the store, whatever its encoding (curl --path-as-is)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from config import settings_from_mapping
from tests.support.origin import ADMIN_TOKEN, start_origin

SECRET = b"root:x:0:0:this must never be served\n"

HOSTILE = [
    "/../secret.txt",
    "/../../../../etc/passwd",
    "/media/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/media/%2e%2e/%2e%2e/secret.txt",
    "/.%2e/secret.txt",
    "/media%2f..%2f..%2fsecret.txt",
    "/media/..%5c..%5csecret.txt",
    "/media\\..\\..\\secret.txt",
    "/media/ep.mp3%00.txt",
    "//secret.txt",
    "/media//../secret.txt",
    "/escape/secret.txt",
    "/%252e%252e/secret.txt",
]


def curl(url: str) -> tuple[int, bytes]:
    done = subprocess.run(
        ["curl", "--path-as-is", "-s", "-g", "-o", "-", "-w", "\n%{http_code}", url],
        capture_output=True,
        timeout=30,
        check=True,
    )
    body, _, code = done.stdout.rpartition(b"\n")
    return int(code), body


@pytest.fixture
async def dir_origin(aiohttp_server, tmp_path: Path):
    """An origin whose storage is a local directory, with a secret file right beside it."""
    root = tmp_path / "srv"
    (root / "media").mkdir(parents=True)
    (root / "media" / "ep.mp3").write_bytes(b"episode bytes")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path, root / "escape")  # a symlink that leaves the store
    settings = settings_from_mapping(
        {
            "storage": {"dir": str(root)},
            "cache": {"dir": str(tmp_path / "cache"), "max_size": "100MB"},
            "origin": {"listen": "127.0.0.1:0", "access_log": None},
            "admin": {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN},
        },
        source="test.yaml",
    )
    return await start_origin(aiohttp_server, settings)


async def test_the_plain_file_is_served(dir_origin) -> None:
    code, body = await asyncio.to_thread(curl, dir_origin.url("media/ep.mp3"))
    assert (code, body) == (200, b"episode bytes")


@pytest.mark.parametrize("path", HOSTILE)
async def test_hostile_paths_never_escape(dir_origin, path: str) -> None:
    url = str(dir_origin.media.make_url("/")).rstrip("/") + path
    code, body = await asyncio.to_thread(curl, url)
    assert code in (400, 404), (path, code)
    assert b"root:" not in body
