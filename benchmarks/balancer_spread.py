"""How evenly docs/scaling.md's HAProxy and nginx configs spread a region's objects.

Each balancer runs the document's own config (through tests/support/balancer.py) in
front of 2 to 4 loopback backends that answer with their own name; one request per
key, each with a token of its own, says which backend owns the key, and a second
and third token for the same key must reach the same backend. Prints one row per
balancer and edge count: the keys each backend got, and the busiest one's share
over an even split (what docs/scaling.md's sizing advice rests on).

    .venv/bin/python benchmarks/balancer_spread.py [--keys 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import socketserver
import sys
import tempfile
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.balancer import HAProxy, Nginx  # noqa: E402


class Named(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the backend's name; health checks included."""

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Quiet(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a health check that hangs up early is no news


@contextlib.contextmanager
def backends(count: int) -> Iterator[list[str]]:
    servers = []
    for n in range(count):
        server = Quiet(("127.0.0.1", 0), Named)
        server.name = f"edge-{chr(ord('a') + n)}"  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield [f"127.0.0.1:{s.server_address[1]}" for s in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def owner(base: str, token: str, key: str) -> str:
    url = f"{base}/s/{token}/{key}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


def spread(kind: str, count: int, keys: int, workdir: Path) -> str:
    with backends(count) as edges:
        balancer = (HAProxy if kind == "haproxy" else Nginx)(edges, workdir)
        balancer.start()
        try:
            names = [f"courses/scale/obj-{n:04d}.mp4" for n in range(keys)]
            owners = {key: owner(balancer.url, f"k1.t{n}.s", key) for n, key in enumerate(names)}
            moved = sum(
                owner(balancer.url, f"k1.other{t}.s", key) != owners[key]
                for key in names[:200]
                for t in range(2)
            )
        finally:
            balancer.stop()
    shares = Counter(owners.values())
    busiest = max(shares.values()) / (keys / count)
    counts = " / ".join(str(shares[name]) for name in sorted(shares))
    return f"| {kind} | {count} | {keys} | {counts} | {busiest:.2f} | {moved} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    print("| balancer | edges | keys | keys per edge | busiest / even | other token, other edge |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("haproxy", "nginx"):
            for count in (2, 3, 4):
                workdir = Path(tmp) / f"{kind}-{count}"
                workdir.mkdir()
                print(spread(kind, count, args.keys, workdir), flush=True)


if __name__ == "__main__":
    main()
