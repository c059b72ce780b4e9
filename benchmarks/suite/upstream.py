"""The podcast's upstream for a cold-cache storm: moto's S3 behind a shaping proxy.

It runs as a process of its own (``python -m benchmarks.suite.upstream``), pinned with
the load generator, so the S3 server's and the proxy's Python work neither shares the
suite's interpreter lock nor lands on the server's core. The proxy is the fault
proxy of the test suite with two of its faults on: a latency added before each answer
and a bandwidth limit per connection, as a real bucket's round trip and throughput
would be. The parent speaks to it in JSON lines on stdin/stdout:

* first, the child prints ``{"s3": URL, "proxy": URL}``;
* ``{"put": KEY, "size": N}`` stores an object of N incompressible bytes (public-read,
  so nginx's ``proxy_pass`` needs no signature): ``{"ok": true}``;
* ``{"count": KEY}`` answers the bytes the proxy has forwarded towards the servers so
  far (every answer, headers included) and the S3 requests for KEY:
  ``{"forwarded": N, "requests": [[method, range], …]}``;
* end of input stops it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3  # noqa: E402
from tests.support.faultproxy import FaultProxy  # noqa: E402

BUCKET = "media"


def payload(key: str, size: int) -> bytes:
    """Incompressible bytes that depend on the key only (every run stores the same)."""
    return hashlib.shake_256(key.encode()).digest(size)


def answer(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per answer")
    parser.add_argument("--rate", type=float, default=40e6, help="bytes/s per connection")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    s3 = LocalS3().start()
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    proxy = FaultProxy(("127.0.0.1", s3.port), latency=args.latency, rate=args.rate).start()
    try:
        answer({"s3": s3.url, "proxy": proxy.url, "bucket": BUCKET})
        for line in sys.stdin:
            command = json.loads(line)
            if "put" in command:
                key = command["put"]
                client.put_object(
                    Bucket=BUCKET, Key=key, Body=payload(key, command["size"]), ACL="public-read"
                )
                answer({"ok": True})
            elif "count" in command:
                seen = [
                    [r.method, r.range]
                    for r in list(s3.requests)
                    if r.path == f"/{BUCKET}/{command['count']}"
                ]
                answer({"forwarded": proxy.forwarded, "requests": seen})
    finally:
        proxy.stop()
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


class Upstream:
    """The parent's handle on the upstream process (see the module's docstring)."""

    def __init__(self, cpu: int | None, *, latency: float, rate: float, log: Path) -> None:
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self._err = open(log, "wb")  # noqa: SIM115 - open for the process's life, closed in stop
        self.proc = subprocess.Popen(
            [*pin, sys.executable, "-m", "benchmarks.suite.upstream"]
            + ["--latency", str(latency), "--rate", str(rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            cwd=ROOT,
        )
        self.log = log
        ready = self._read()
        self.s3_url: str = ready["s3"]
        self.proxy_url: str = ready["proxy"]
        self.bucket: str = ready["bucket"]

    def _read(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"the upstream process exited:\n{self.log.read_text()[-3000:]}")
        doc: dict[str, object] = json.loads(line)
        return doc

    def _ask(self, command: dict[str, object]) -> dict[str, object]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def put(self, key: str, size: int) -> None:
        self._ask({"put": key, "size": size})

    def count(self, key: str) -> tuple[int, list[tuple[str, str | None]]]:
        """Bytes forwarded by the proxy so far, and the S3 requests for ``key``."""
        doc = self._ask({"count": key})
        forwarded = doc["forwarded"]
        requests = doc["requests"]
        assert isinstance(forwarded, int) and isinstance(requests, list)
        return forwarded, [(method, rng) for method, rng in requests]

    def stop(self) -> None:

        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


def body_bytes(size: int, requests: list[tuple[str, str | None]]) -> int:
    """The body bytes S3 was asked for: a whole object per plain GET, a range's length."""
    total = 0
    for method, rng in requests:
        if method != "GET":
            continue
        if not rng or not rng.startswith("bytes="):
            total += size
            continue
        first, _, last = rng.removeprefix("bytes=").partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        total += max(0, end - start + 1)
    return total
