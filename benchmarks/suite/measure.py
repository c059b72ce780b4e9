"""What every scenario records about one load on one server, and how it is measured.

A :class:`Figures` row is one server under one load: what the clients got (requests,
bytes, latency, errors), what it cost (the server's CPU from ``/proc``), what else ran
meanwhile (the load generator's CPU, the rest of the machine's, the busiest other
processes by name), and for caches the hit ratio and the upstream bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import harness

GB = 1_000_000_000


@dataclass
class Figures:
    """One server under one load."""

    scenario: str
    server: str
    concurrency: int
    requests: int
    bytes: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: None for a remote server, whose CPU this machine cannot see.
    server_cpu_s: float | None
    client_cpu_s: float
    other_cores: float
    busiest_others: list[tuple[str, float]] = field(default_factory=list)
    hit_ratio: float | None = None
    upstream_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def gb_per_s(self) -> float:
        return self.bytes / self.duration_s / GB if self.duration_s else 0.0

    @property
    def cpu_s_per_gb(self) -> float | None:
        if self.server_cpu_s is None or not self.bytes:
            return None
        return self.server_cpu_s / (self.bytes / GB)

    @property
    def cpu_s_per_10k(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 10_000

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(
            req_per_s=self.req_per_s,
            gb_per_s=self.gb_per_s,
            cpu_s_per_gb=self.cpu_s_per_gb,
            cpu_s_per_10k=self.cpu_s_per_10k,
        )
        return doc


@dataclass
class Use:
    """CPU used over one measurement (filled in when the ``metered`` block ends)."""

    server_s: float | None = None
    client_s: float = 0.0
    other_cores: float = 0.0
    busiest: list[tuple[str, float]] = field(default_factory=list)
    elapsed_s: float = 0.0


@contextlib.contextmanager
def metered(
    server_pids: Sequence[int] | None, client: Callable[[], float], exclude: Sequence[int] = ()
) -> Iterator[Use]:
    """Measure the CPU of the server's processes, of the load side, and of the rest.

    ``server_pids`` None: a remote server (nothing to read). ``client`` reads the load
    side's CPU seconds so far; ``exclude`` are processes neither side but not "other"
    either (none, usually).
    """
    use = Use()
    pids = list(server_pids or [])
    procs0 = harness.process_ticks()
    server0, client0, busy0 = harness.cpu_seconds(pids), client(), harness.machine_busy_seconds()
    started = time.monotonic()
    try:
        yield use
    finally:
        use.elapsed_s = time.monotonic() - started
        server1, client1 = harness.cpu_seconds(pids), client()
        busy1 = harness.machine_busy_seconds()
        server = server1 - server0
        use.server_s = server if server_pids is not None else None
        use.client_s = client1 - client0
        use.other_cores = max(0.0, (busy1 - busy0 - server - use.client_s) / use.elapsed_s)
        use.busiest = harness.other_processes(
            procs0, harness.process_ticks(), exclude=[*pids, *exclude]
        )[:5]


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# -- castedge's own counters ---------------------------------------------------------------


def lookups(admin_url: str | None) -> dict[str, float]:
    """``castedge_cache_lookups_total`` by result, summed over the node's workers."""
    if admin_url is None:
        return {}
    status, body = harness.http_get(admin_url + "/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"{admin_url}/metrics: HTTP {status}")
    found: dict[str, float] = {}
    pattern = r"^castedge_cache_lookups_total\{([^}]*)\} (\S+)$"
    for m in re.finditer(pattern, body.decode(), re.M):
        result = re.search(r'result="(\w+)"', m[1])
        if result:
            found[result[1]] = found.get(result[1], 0.0) + float(m[2])
    return found


def hit_ratio(before: dict[str, float], after: dict[str, float]) -> float | None:
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    total = sum(delta.values())
    return delta.get("hit", 0.0) / total if total else None


def wait_filled(admin_url: str, role: str, objects: int, timeout: float = 600.0) -> None:
    """Poll /healthz until the role's store holds ``objects`` and no fill is running."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, body = harness.http_get(admin_url + "/healthz", timeout=30)
        if status == 200:
            doc = json.loads(body).get("roles", {}).get(role, {})
            held = doc.get("store", {}).get("objects", 0)
            if held >= objects and doc.get("fills_in_progress") == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the {role} did not cache {objects} objects in {timeout:g} s: {doc}")


def fetch_all(url: str, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """GET ``url`` reading the body in chunks and dropping it: the status and its length."""
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    if scheme != "http":
        raise ValueError(f"not an http URL: {url}")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    try:
        conn.request("GET", "/" + path, headers=headers or {})
        resp = conn.getresponse()
        length = 0
        while chunk := resp.read(1 << 20):
            length += len(chunk)
        return resp.status, length
    finally:
        conn.close()
