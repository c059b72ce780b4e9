"""``castedge demo`` (what ``make demo`` runs): it serves what it prints, counts, and cleans up."""

from __future__ import annotations

import hashlib
import re
import signal
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.support.process import CASTEDGE

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_serves_the_episodes_it_lists_and_cleans_up() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [CASTEDGE, "demo", "--episodes", "2", "--size-mb", "2", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("admin listening on"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # It makes its sample episodes with ffmpeg first: slow on a busy two-core machine.
        assert ready.wait(180), "".join(lines)
        text = "".join(lines)
        episodes = re.findall(r"(http://127\.0\.0\.1:\d+/\S+\.mp3)\s+([0-9a-f]{64})", text)
        assert len(episodes) == 2, text
        cache = re.search(r"cache in (\S+)", text)
        assert cache is not None
        workdir = Path(cache[1])
        assert workdir.is_dir()
        for url, digest in episodes:
            with urllib.request.urlopen(url, timeout=30) as resp:
                assert hashlib.sha256(resp.read()).hexdigest() == digest
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0
    assert not workdir.exists(), "Ctrl-C must remove the demo's temporary files"
    # Each episode was fetched whole once, by one listener: one download each, by the
    # one-minute rule (2 MB at 128 kbit/s is two minutes), read from the cached copy.
    table = "".join(lines)
    for url, _ in episodes:
        key = url.split("/", 3)[3]
        row = next((line.split() for line in lines if line.startswith(key)), None)
        assert row is not None and row[1:3] == ["1", "1"], table
    assert "128 kbps (cache)" in table
