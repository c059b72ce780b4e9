"""A real ``castedge`` node for the fault tests: an origin on a local directory, warmed up.

Its media come from ``storage.dir``, so no S3 server is needed; each file is fetched
once before the tests, and hit once, so what they ask for is a hit from an open file,
sent with ``os.sendfile`` (or copied through OpenSSL over TLS). Access lines and logs
go to the process's stderr, which the tests read.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.edge import metric
from tests.support.https import address_of
from tests.support.process import CastedgeProcess

#: What a worker writes at ERROR (logging's format in runtime.launch), or a traceback.
_ALARMING = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback ", re.MULTILINE)


@dataclass
class Node:
    """A running node and what its tests ask of it."""

    proc: CastedgeProcess

    def address(self, listener: str = "origin") -> tuple[str, int]:
        return address_of(self.proc.urls[listener])

    def metrics(self) -> str:
        with urllib.request.urlopen(
            self.proc.urls["admin"] + "/metrics", timeout=5, context=self.proc.context
        ) as resp:
            text: str = resp.read().decode()
            return text

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.metrics(), name, **labels)

    def stderr(self) -> str:
        return self.proc.stderr()

    def alarms(self) -> list[str]:
        """The stderr lines at ERROR or worse, and the tracebacks."""
        return [m.group(0) for m in _ALARMING.finditer(self.stderr())]

    def access_lines(self, pattern: str) -> list[str]:
        """The access-log lines whose request and status match ``pattern`` (a regex)."""
        found = re.compile(rf'^\S+ - - \[[^]]+\] "{pattern}')
        return [line for line in self.stderr().splitlines() if found.match(line)]

    def rss(self) -> int:
        """Bytes of memory the (one) worker process holds."""
        (worker,) = self.proc.workers()
        status = Path(f"/proc/{worker}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None
        return int(match[1]) * 1024

    def stop(self) -> None:
        assert self.proc.stop() == 0, self.proc.stderr()


def start_origin(
    root: Path,
    files: dict[str, bytes],
    *,
    http: dict[str, Any],
    tls: dict[str, str] | None = None,
    ca: Path | None = None,
) -> Node:
    """An origin (one worker) serving ``files`` under ``http``, each already a hit."""
    media = root / "media"
    for key, body in files.items():
        path = media / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    origin: dict[str, Any] = {"listen": "127.0.0.1:0", "access_log": "-"}
    if tls is not None:
        origin["tls"] = tls
    config = {
        "storage": {"dir": str(media)},
        "cache": {"dir": str(root / "cache"), "max_size": "2GB"},
        "http": http,
        "origin": origin,
        "admin": {"listen": "127.0.0.1:0"},
    }
    proc = CastedgeProcess("origin", config, root, ca=ca).start()
    node = Node(proc)
    try:
        for key in files:
            with urllib.request.urlopen(
                f"{proc.urls['origin']}/{key}", timeout=30, context=proc.context
            ) as resp:
                assert resp.read() == files[key]
        _wait_published(node, len(files))
        for key in files:
            # A first hit: the cache file is open (and kept so) before anyone counts.
            request = urllib.request.Request(
                f"{proc.urls['origin']}/{key}", headers={"Range": "bytes=0-0"}
            )
            with urllib.request.urlopen(request, timeout=30, context=proc.context) as resp:
                assert resp.status == 206
    except BaseException:
        proc.stop()
        raise
    return node


def _wait_published(node: Node, objects: int, timeout: float = 10.0) -> None:
    # No event says "the fill is now a cache file": poll /healthz, bounded in time.
    deadline = time.monotonic() + timeout
    while True:
        origin = node.proc.admin_json("/healthz")["roles"]["origin"]
        if origin["fills_in_progress"] == 0 and origin["store"]["objects"] >= objects:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"fills never published: {origin}")
        time.sleep(0.05)


def open_files(pid: int) -> int:
    """How many descriptors process ``pid`` holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def descriptors(needed: int) -> Iterator[None]:
    """At least ``needed`` open files for this process and the nodes it starts meanwhile.

    A thousand connections take a thousand descriptors at each end, past the 1,024 a
    login shell or a CI runner often gives; the soft limit is raised as far as the hard
    one allows (a node inherits it), and put back after. Skips where it cannot go that far.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files; the hard limit (ulimit -Hn) is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def probe(url: str) -> tuple[float, str]:
    """A well-behaved client, curl in a process of its own, so the attack's busy loop
    cannot delay it: a two-byte range on a new connection, and how long it took."""
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-r", "0-1", "--max-time", "5",
         "-w", "%{http_code} %{time_total}", url],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    status, _, seconds = done.stdout.partition(" ")
    return float(seconds or "inf"), status
