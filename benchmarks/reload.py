"""Reloads under load: SIGHUP a two-worker origin again and again while clients hammer it.

A real ``castedge origin`` (``workers: 2``) on 127.0.0.1, its object a hit; ``--clients``
threads (4) each GET it on a new connection, one after another, while the supervisor
is sent ``--reloads`` SIGHUPs (20), each awaited until both workers are new ones. It
reports the requests made and every failure by kind. A failure would be a connection
reset at a retiring worker: queued there when it closed its listener without
``net.ipv4.tcp_migrate_req`` (which this sets to 1, as systemd/castedge-sysctl.conf
does, and leaves so; it needs root), or accepted and silent for longer than the
worker's ``ACCEPT_GRACE``. Run from the repository root::

    .venv/bin/python benchmarks/reload.py [--reloads 20] [--clients 4]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from castedge.locals3 import LocalS3  # noqa: E402
from tests.conftest import MIGRATE_REQ, Bucket  # noqa: E402
from tests.support.process import CastedgeProcess  # noqa: E402

KEY = "podcast/h.mp3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    MIGRATE_REQ.write_text("1\n")
    s3 = LocalS3().start()
    bucket = Bucket(s3)
    bucket.put(KEY, b"h" * 50_000)
    work = Path(tempfile.mkdtemp(prefix="castedge-reload-"))
    config = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(work / "cache"), "max_size": "1GB"},
        "origin": {"listen": "127.0.0.1:0", "access_log": None, "workers": 2},
        "admin": {"listen": "127.0.0.1:0", "token": "reload-bench-token-0123456789"},
    }
    proc = CastedgeProcess("origin", config, work).start()
    failures: collections.Counter[str] = collections.Counter()
    done = [0] * args.clients
    stop = threading.Event()

    def hammer(n: int) -> None:
        # Bounded: at most 100,000 requests a client, and until the reloads are over.
        while not stop.is_set() and done[n] < 100_000:
            try:
                # An http URL of our own node on loopback.
                with urllib.request.urlopen(proc.url(KEY), timeout=5) as resp:  # noqa: S310
                    if resp.status != 200 or len(resp.read()) != 50_000:
                        failures[f"status {resp.status}"] += 1
            except OSError as exc:
                failures[type(exc).__name__] += 1
            done[n] += 1

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(args.clients)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for _ in range(args.reloads):
            before = set(proc.workers())
            proc.reload()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                after = set(proc.workers())
                if len(after) == 2 and not after & before:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the workers were not replaced within 60 s")
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        proc.stop()
        s3.stop()
    elapsed = time.monotonic() - started
    print(
        f"{args.reloads} reloads in {elapsed:.1f} s, {args.clients} clients, "
        f"{sum(done)} requests, failures: {dict(failures) or 'none'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
