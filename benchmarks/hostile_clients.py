"""Hostile clients against one origin worker: 1,000 slow request heads, then 1,000 stalled readers.

The figures of docs/reliability.md's "Clients" table. A real ``castedge origin`` on
127.0.0.1 (``http.header_timeout: 10s``) serving one 20 MB hit; first ``--count``
connections each send a partial request head and then a byte every 2 s (a
slowloris), and the open connections are counted from the node's metrics for 14 s,
while a well-behaved client (curl, in a process of its own) asks for two bytes of the
hit every 50 ms and its latencies are reported; then ``--count`` connections ask for
the hit and read nothing after its first bytes, and the worker's RSS is compared with
its idle RSS. Every loop is bounded in count
and time. Needs ``ulimit -n`` above twice ``--count`` plus a hundred.

    .venv/bin/python benchmarks/hostile_clients.py [--count 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import payload  # noqa: E402 - after the path above
from tests.faults.node import Node, probe, start_origin  # noqa: E402

HEAD = b"GET /podcast/x.mp3 HTTP/1.1\r\n"
REQUEST = b"GET /podcast/x.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def open_connections(node: Node) -> float:
    return node.metric("castedge_open_connections", listener="origin")


def normal_client(url: str, stop: threading.Event, seconds: list[float]) -> None:
    """Two bytes of the hit on a new connection every 50 ms until ``stop`` (at most 400)."""
    while not stop.is_set() and len(seconds) < 400:
        took, status = probe(url)
        seconds.append(took if status == "206" else float("inf"))
        stop.wait(0.05)


def slowloris(node: Node, count: int) -> tuple[list[tuple[float, float]], list[float]]:
    host, port = node.address()
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(HEAD)
        socks.append(sock)
    started = time.monotonic()
    seen = []
    latencies: list[float] = []
    stop = threading.Event()
    url = f"http://{host}:{port}/podcast/x.mp3"
    prober = threading.Thread(target=normal_client, args=(url, stop, latencies))
    prober.start()
    try:
        while time.monotonic() - started < 14:
            for sock in socks:
                with contextlib.suppress(OSError):  # cut already: that is the point
                    sock.send(b"X")
            seen.append((round(time.monotonic() - started, 1), open_connections(node)))
            time.sleep(2)
    finally:
        stop.set()
        prober.join()
        for sock in socks:
            sock.close()
    return seen, sorted(latencies)


def stalled_readers(node: Node, count: int) -> tuple[int, int]:
    host, port = node.address()
    idle = node.rss()
    readers = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(REQUEST)
            sock.recv(512)
            readers.append(sock)
        time.sleep(3)
        return idle, node.rss()
    finally:
        for sock in readers:
            sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="castedge-hostile-"))
    http = {"header_timeout": "10s", "send_timeout": "60s"}
    node = start_origin(root, {"podcast/x.mp3": payload(20_000_000, "hostile")}, http=http)
    try:
        seen, latencies = slowloris(node, args.count)
        print(f"slowloris, {args.count} heads, header_timeout 10s: open connections by second")
        print("  " + ", ".join(f"{at:g} s: {int(n)}" for at, n in seen))
        n = len(latencies)
        print(
            f"  a normal client meanwhile, {n} requests: p50 {latencies[n // 2] * 1000:.1f} ms, "
            f"p90 {latencies[n * 9 // 10] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms, "
            f"{sum(1 for t in latencies if t >= 0.05)} at 50 ms or more"
        )
        time.sleep(1)
        idle, held = stalled_readers(node, args.count)
        each = (held - idle) / args.count / 1024
        print(
            f"{args.count} stalled readers: worker RSS {idle / 2**20:.1f} MiB idle, "
            f"{held / 2**20:.1f} MiB holding them, {each:.0f} KiB each"
        )
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
