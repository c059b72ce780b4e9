"""The origin as an operator runs it (the ``castedge`` command), fetched with curl and aria2c."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from castedge.locals3 import LocalS3
from tests.conftest import Bucket, payload
from tests.support.faults import pausing
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "e2e-admin-token-abcdefghijkl"


def origin_config(bucket: Bucket, cache: Path, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(cache), "max_size": "2GB"},
        "origin": {"listen": "127.0.0.1:0", "access_log": str(cache.parent / "access.log")},
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "upstream": {"retries": 2, "backoff": "50ms"},
    }
    config.update(extra)
    return config


@pytest.fixture
def origin(bucket: Bucket, tmp_path: Path) -> Iterator[CastedgeProcess]:
    proc = CastedgeProcess("origin", origin_config(bucket, tmp_path / "cache"), tmp_path)
    proc.start()
    yield proc
    proc.stop()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def curl_to(url: str, dest: Path, *args: str) -> None:
    subprocess.run(["curl", "-sSf", "-o", str(dest), *args, url], check=True, timeout=120)


def aria2c_to(url: str, dest: Path) -> None:
    subprocess.run(
        [
            "aria2c", "-q", "-x8", "-s8", "-k1M", "--allow-overwrite=true",
            "--auto-file-renaming=false", "-d", str(dest.parent), "-o", dest.name, url,
        ],
        check=True,
        timeout=120,
    )  # fmt: skip


def test_curl_gets_the_episode_on_a_miss_and_a_hit(origin, bucket, tmp_path) -> None:
    digest = bucket.put("podcast/ep1.mp3", payload(30_000_000, "ep1"))
    for attempt in ("miss", "hit"):
        dest = tmp_path / f"{attempt}.mp3"
        curl_to(origin.url("podcast/ep1.mp3"), dest)
        assert sha256_file(dest) == digest, attempt
    assert bucket.gets("podcast/ep1.mp3") == 1


def test_aria2c_segmented_download_on_a_miss_and_a_hit(origin, bucket, tmp_path) -> None:
    digest = bucket.put("podcast/ep2.mp3", payload(40_000_000, "ep2"))
    for attempt in ("miss", "hit"):
        dest = tmp_path / f"aria-{attempt}.mp3"
        aria2c_to(origin.url("podcast/ep2.mp3"), dest)
        assert sha256_file(dest) == digest, attempt
    # Eight connections asked for ranges of a missing object: one whole-object GET, and
    # ranged GETs only for ranges far ahead of the fill.
    whole = [r for r in bucket.server.gets(f"/{bucket.name}/podcast/ep2.mp3") if r.range is None]
    assert len(whole) == 1


def test_access_log_is_in_combined_format(origin, bucket, tmp_path) -> None:
    bucket.put("podcast/logged.mp3", b"x" * 1000)
    subprocess.run(
        ["curl", "-sSf", "-o", "/dev/null", "-r", "0-9", "-A", "AntennaPod/3.4",
         "-e", "https://example.com/feed", origin.url("podcast/logged.mp3")],
        check=True, timeout=30,
    )  # fmt: skip
    log_path = tmp_path / "access.log"
    deadline = time.monotonic() + 5
    while (not log_path.exists() or not log_path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    line = log_path.read_text().splitlines()[-1]
    combined = re.compile(
        r"^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
        r'"GET /podcast/logged\.mp3 HTTP/1\.1" 206 10 '
        r'"https://example\.com/feed" "AntennaPod/3\.4"$'
    )
    assert combined.match(line), line


def test_kill_9_during_a_fill_then_restart_serves_a_correct_file(
    bucket: Bucket, s3: LocalS3, tmp_path: Path
) -> None:
    body = payload(20_000_000, "crash")
    digest = bucket.put("podcast/crash.mp3", body)
    release = threading.Event()
    s3.intercept = pausing(f"/{bucket.name}/podcast/crash.mp3", body, at=5_000_000, release=release)
    proc = CastedgeProcess("origin", origin_config(bucket, tmp_path / "cache"), tmp_path).start()
    # The origin's own part of cache.dir.
    cache = tmp_path / "cache" / "origin"
    try:
        client = subprocess.Popen(
            ["curl", "-s", "-o", str(tmp_path / "partial.mp3"), proc.url("podcast/crash.mp3")]
        )
        deadline = time.monotonic() + 10
        while not any((cache / "tmp").glob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any((cache / "tmp").glob("*.part")), "the fill never started"
        proc.kill()
        client.wait(10)
    finally:
        release.set()
        s3.intercept = None

    proc.start()
    try:
        assert list((cache / "tmp").glob("*.part")) == [], "crash leftovers must be removed"
        dest = tmp_path / "after.mp3"
        curl_to(proc.url("podcast/crash.mp3"), dest)
        assert sha256_file(dest) == digest
    finally:
        assert proc.stop() == 0


def test_sigterm_stops_cleanly(origin) -> None:
    assert origin.stop() == 0


def test_bad_config_names_file_and_key_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "castedge.yaml"
    path.write_text("storage: {dir: /srv}\ncache: {dir: /tmp/c, max_size: lots}\n")
    done = subprocess.run(
        [CASTEDGE, "origin", "--config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "castedge.yaml: cache.max_size: expected a size such as '200GB', got 'lots'" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr

    done = subprocess.run(
        [CASTEDGE, "check-config", str(tmp_path / "missing.yaml")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "missing.yaml" in done.stderr and "Traceback" not in done.stderr


def test_an_owner_that_is_not_the_parent_stops_it_before_it_starts(
    bucket: Bucket, tmp_path: Path
) -> None:
    """``CASTEDGE_OWNER_PID`` (set by ``castedge demo``) names the parent it stops with."""
    import yaml

    path = tmp_path / "castedge.yaml"
    path.write_text(yaml.safe_dump(origin_config(bucket, tmp_path / "cache")))

    def started(owner: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"CASTEDGE_OWNER_PID": owner}
        return subprocess.run(
            [CASTEDGE, "origin", "--config", str(path)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip

    # Its parent here is this test, not pid 1: that owner has gone already.
    done = started("1")
    assert done.returncode == 1
    assert done.stderr.strip() == "castedge: the process that started it (1) is gone"
    assert not (tmp_path / "cache").exists(), "it stopped before touching its cache"
    # Not a pid: said, and ignored; the node starts (here, on an address in use).
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = origin_config(bucket, tmp_path / "cache")
        config["origin"]["listen"] = f"127.0.0.1:{taken.getsockname()[1]}"
        path.write_text(yaml.safe_dump(config))
        done = started("the demo")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "castedge: CASTEDGE_OWNER_PID='the demo' is not a process id; ignored"
    assert "Address already in use" in lines[-1]


def test_an_address_in_use_is_one_line_not_a_traceback(bucket: Bucket, tmp_path: Path) -> None:
    import socket

    import yaml

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = origin_config(bucket, tmp_path / "cache")
        config["origin"]["listen"] = f"127.0.0.1:{port}"
        path = tmp_path / "castedge.yaml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run(
            [CASTEDGE, "origin", "--config", str(path)], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"castedge origin: cannot start: origin.listen 127.0.0.1:{port}: Address already in use"
    )


def test_fallback_and_maintenance_commands(origin, bucket, tmp_path) -> None:
    bucket.put("podcast/switch.mp3", b"s" * 1000)
    admin = origin.urls["admin"]
    env = {**os.environ, "CASTEDGE_ADMIN_TOKEN": TOKEN}

    def castedge(*args: str, token_env: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CASTEDGE, *args], capture_output=True, text=True, timeout=60, env=token_env
        )

    done = castedge("fallback", "on", "--node", admin)
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["NODE", "FALLBACK", "SINCE", "BY", "AUTO"]
    assert row.split()[:2] == [admin, "on"] and "@" in row.split()[3]
    code = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", origin.url("podcast/switch.mp3")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert code == "302"

    # One node refusing and one unreachable: a row each, exit status 1.
    wrong = {**os.environ, "CASTEDGE_ADMIN_TOKEN": "not-the-token"}
    done = castedge(
        "fallback", "status", "--node", admin, "--node", "http://127.0.0.1:9", token_env=wrong
    )
    assert done.returncode == 1
    assert "refused: missing or wrong admin token" in done.stdout
    assert "unreachable" in done.stdout

    done = castedge("fallback", "off", "--node", admin)
    assert done.returncode == 0 and done.stdout.splitlines()[1].split()[1] == "off"

    done = castedge(
        "maintenance", "on", "--node", admin, "--message", "Back at 04:00", "--retry-after", "5s"
    )
    assert done.returncode == 0, done.stderr
    page = subprocess.run(
        ["curl", "-s", "-H", "Accept: text/html", "-D", "-", origin.url("podcast/switch.mp3")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert page.startswith("HTTP/1.1 503") and "Retry-After: 5" in page
    assert "Back at 04:00" in page
    assert castedge("maintenance", "off", "--node", admin).returncode == 0
