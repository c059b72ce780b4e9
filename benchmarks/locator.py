"""The locator's redirects: how many per second one core gives, and p99 latency at 1k/s.

Each request is the whole job: find the client behind a trusted proxy, look it up (a
per-network cache in front of the City database), rank the eight regions, verify the
grant, mint and sign the edge token, answer 302. ``castedge locator`` runs as one
process pinned to one core; the load comes from the other core:

* **throughput**: wrk, closed loop, ``-t1 -c32``, every request a ``GET /v/<path>``
  with a grant and an ``X-Forwarded-For`` drawn from 4,100 client addresses in 8
  cities and 4,096 IPv6 /48s (so most requests hit the lookup cache, as repeat
  viewers do, and some miss);
* **latency at a fixed rate**: an open-loop generator written here (wrk2 is not in
  Debian). It sends request *i* at ``start + i / rate`` whether or not earlier ones
  have been answered, over a pool of keep-alive connections that grows when all are
  busy, and measures each latency from the request's *scheduled* time to the end of
  its response. A stalled server therefore shows in every request scheduled during
  the stall, not just the one that hit it (no coordinated omission). It also reports
  its own lateness: how long after its scheduled time each request actually went.

The regions' edges are a stand-in answering /healthz on 127.0.0.1. Everything runs on
127.0.0.1; every load is bounded in time and count. Run from the repository root::

    .venv/bin/python benchmarks/locator.py [--duration 10] [--rate 1000] [--json FILE]

Prints a Markdown table. Exits 1 when a target is missed (≥ 8,000 redirects/s on one
core, p99 < 5 ms at 1,000 req/s), 2 when wrk or taskset is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import http.server
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from signer import Purpose, Signer

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY_ID = "bench"
SECRET = "bench-locator-signing-key-0123456789abcdef"  # noqa: S105 - a throwaway key on loopback
PATH = "courses/python-jumpstart/ch03/index.m3u8"
SCOPE = "courses/python-jumpstart/"

TARGET_PER_CORE = 8000
TARGET_P99_MS = 5.0
BACKGROUND_WARN_CORES = 0.3
RETRY_PAUSE_S = 5.0

# The eight default regions and a city near each (plus the documentation ranges they
# are put in); the addresses are spread over these.
REGIONS = [
    ("us-east", 39.9612, -82.9988),
    ("us-west", 45.8399, -119.7006),
    ("sa-east", -23.5505, -46.6333),
    ("eu-west", 51.5074, -0.1278),
    ("eu-central", 50.1109, 8.6821),
    ("ap-south", 19.0760, 72.8777),
    ("ap-northeast", 35.6762, 139.6503),
    ("ap-southeast", -33.8688, 151.2093),
]
CITIES = [
    ("192.0.2.0/25", "São Paulo", -23.5475, -46.6361, "BR", "SA"),
    ("192.0.2.128/25", "New York", 40.7143, -74.006, "US", "NA"),
    ("198.51.100.0/25", "Mumbai", 19.0728, 72.8826, "IN", "AS"),
    ("198.51.100.128/25", "Seattle", 47.6062, -122.3321, "US", "NA"),
    ("203.0.113.0/25", "Sydney", -33.8678, 151.2073, "AU", "OC"),
    ("203.0.113.128/25", "Paris", 48.8534, 2.3488, "FR", "EU"),
    ("2001:db8::/32", "Tokyo", 35.6895, 139.6917, "JP", "AS"),
    ("2001:db8:1::/48", "Berlin", 52.5244, 13.4105, "DE", "EU"),
]

WRK_SCRIPT = """\
local requests = {}
init = function(args)
  local path = PATH
  for i, ip in ipairs(CLIENTS) do
    requests[i] = wrk.format("GET", path, {["X-Forwarded-For"] = ip})
  end
end
local n = 0
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d"
    .. " timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the world: database, stand-in edges, settings --------------------------------------


def build_database(path: Path) -> None:
    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type="castedge-City-Bench", languages=["en"]
    )
    for network, name, lat, lon, country, continent in CITIES:
        record = {
            "city": {"geoname_id": 1, "names": {"en": name}},
            "country": {"iso_code": country},
            "continent": {"code": continent},
            "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20},
        }
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))


def client_addresses(seed: int) -> list[str]:
    """4 IPv4 /24-ish groups of ~1,000 viewers each and 4,096 IPv6 /48s, shuffled."""
    rng = random.Random(seed)
    v4 = [
        f"{prefix}.{host}"
        for prefix in ("192.0.2", "198.51.100", "203.0.113")
        for host in range(1, 255)
    ]
    v6 = [f"2001:db8:{net:x}::{rng.randrange(1, 0xFFFF):x}" for net in range(4096)]
    addresses = v4 * 5 + v6
    rng.shuffle(addresses)
    return addresses


class _Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - as the base class
        pass


def start_stand_in() -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer((HOST, 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}"


def locator_config(workdir: Path, edges: str, access_log: str | None) -> dict[str, Any]:
    return {
        "storage": {"dir": str(workdir)},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "geo": {
            "database": str(workdir / "city.mmdb"),
            "default_region": "eu-central",
            "trusted_proxies": [f"{HOST}/32"],
            # Checks as in production; the stand-in answers them in microseconds.
            "health": {"interval": "5s", "timeout": "2s"},
        },
        "regions": [
            {"name": name, "latitude": lat, "longitude": lon, "base_url": f"{edges}/{name}"}
            for name, lat, lon in REGIONS
        ],
        "locator": {"listen": f"{HOST}:0", "access_log": access_log},
        "admin": {"listen": f"{HOST}:0"},
        "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID, "default_ttl": "2h"},
        "log_level": "warning",
    }


# -- processes and CPU accounting --------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def castedge_command() -> str:
    exe = Path(sys.executable).with_name("castedge")
    return str(exe) if exe.exists() else (shutil.which("castedge") or "castedge")


def start_locator(workdir: Path, config: dict[str, Any], cpu: int | None, name: str) -> Server:
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = workdir / f"{name}.stderr.log"
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [*pin, castedge_command(), "locator", "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    urls: dict[str, str] = {}
    ready = threading.Event()

    def watch() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = re.match(r"(\w+) listening on (http://\S+)", raw.decode(errors="replace"))
            if m:
                urls[m[1]] = m[2]
                if {"locator", "admin"} <= urls.keys():
                    ready.set()

    threading.Thread(target=watch, daemon=True).start()
    server = Server(proc, "", log_path)
    if not ready.wait(30):
        server.stop()
        raise RuntimeError(f"castedge locator did not start:\n{server.log_tail()}")
    server.url = urls["locator"]
    return server


# -- load ---------------------------------------------------------------------------------


@dataclass
class WrkRun:
    requests: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    background_cores: float

    @property
    def per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.server_cpu_s if self.server_cpu_s else 0.0


def run_wrk(
    server: Server, target: str, script: Path, connections: int, duration: int, cpu: int | None
) -> WrkRun:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    cmd = [*pin, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(script), server.url + target]
    cpu0, busy0, own0 = cpu_seconds(server.proc.pid), machine_busy_seconds(), own_cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    cpu1, busy1, own1 = cpu_seconds(server.proc.pid), machine_busy_seconds(), own_cpu_seconds()
    m = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    v = {key: int(val) for key, val in (pair.split("=") for pair in m[1].split())}
    elapsed = v["duration_us"] / 1e6
    server_cpu = cpu1 - cpu0
    return WrkRun(
        requests=v["requests"],
        duration_s=elapsed,
        errors={k: v[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=v["p50_us"] / 1000,
        p99_ms=v["p99_us"] / 1000,
        server_cpu_s=server_cpu,
        background_cores=max(0.0, (busy1 - busy0 - server_cpu - (own1 - own0)) / elapsed),
    )


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if match and int(match[1]):
        await reader.readexactly(int(match[1]))
    return status


async def open_loop(
    port: int, requests: Sequence[bytes], rate: float, duration: float, max_connections: int
) -> dict[str, Any]:
    """Send ``rate × duration`` requests on a fixed schedule; latency from the schedule."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    latencies: list[float] = []
    lateness: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    for _ in range(16):
        idle.append(await asyncio.open_connection(HOST, port))
        opened += 1
    freed = asyncio.Condition()

    async def one(request: bytes, scheduled: float) -> None:
        nonlocal opened, failures
        async with freed:
            while not idle and opened >= max_connections:
                await freed.wait()
            if idle:
                conn = idle.pop()
            else:
                opened += 1
                conn = None
        if conn is None:
            conn = await asyncio.open_connection(HOST, port)
        lateness.append(loop.time() - scheduled)
        try:
            status = await _exchange(*conn, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            failures += 1
            conn[1].close()
            async with freed:
                opened -= 1
                freed.notify()
            return
        latencies.append(loop.time() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        async with freed:
            idle.append(conn)
            freed.notify()

    total = int(rate * duration)
    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i % len(requests)], scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    elapsed = loop.time() - start
    for _, writer in idle:
        writer.close()
    latencies.sort()
    lateness.sort()

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000 if values else 0.0

    return {
        "requests": total,
        "answered": len(latencies),
        "failures": failures,
        "statuses": statuses,
        "rate_achieved": len(latencies) / elapsed,
        "connections": opened,
        "p50_ms": pct(latencies, 50),
        "p90_ms": pct(latencies, 90),
        "p99_ms": pct(latencies, 99),
        "p999_ms": pct(latencies, 99.9),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "send_late_p99_ms": pct(lateness, 99),
        "send_late_max_ms": lateness[-1] * 1000 if lateness else 0.0,
    }


def raw_requests(target: str, addresses: Sequence[str]) -> list[bytes]:
    return [
        f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nX-Forwarded-For: {ip}\r\n\r\n".encode()
        for ip in addresses
    ]


def check_answers(server: Server, target: str) -> None:
    """Refuse to measure a locator that answers wrongly: a fast 403 is no result."""
    expected = {
        "203.0.113.9": "ap-southeast",
        "192.0.2.200": "us-east",
        "2001:db8:1::9": "eu-central",
    }
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    for ip, region in expected.items():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", target, headers={"X-Forwarded-For": ip})
            response = conn.getresponse()
            response.read()
            location = response.getheader("Location") or ""
        finally:
            conn.close()
        if response.status != 302 or f"/{region}/s/" not in location:
            raise RuntimeError(f"{ip}: expected 302 to {region}, got {response.status} {location}")


# -- the benchmark -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": metadata.version("uvloop"),
        "wrk": (wrk.stdout + wrk.stderr).split("[")[0].strip().removeprefix("wrk "),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def choose_cpus(no_pin: bool) -> tuple[int | None, int | None]:
    allowed = sorted(os.sched_getaffinity(0))
    if no_pin or len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    return allowed[0], allowed[-1]


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    server_cpu, client_cpu = choose_cpus(args.no_pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": machine(),
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "repeat": args.repeat,
            "rate": args.rate,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
        },
    }
    build_database(workdir / "city.mmdb")
    stand_in, edges = start_stand_in()
    grant = Signer({KEY_ID: SECRET}, KEY_ID, purpose=Purpose.GRANT).mint(
        SCOPE, now=time.time(), ttl=3600, subject="bench-student"
    )
    target = f"/v/{PATH}?grant={grant}"
    addresses = client_addresses(args.seed)
    doc["settings"]["clients"] = len(addresses)
    script = workdir / "locator.lua"
    clients = "{" + ",".join(json.dumps(a) for a in addresses) + "}"
    script.write_text(WRK_SCRIPT.replace("PATH", json.dumps(target)).replace("CLIENTS", clients))
    try:
        runs: dict[str, list[WrkRun]] = {}
        for name, access_log in (("no access log", None), ("access log to a file", "access.log")):
            log_path = str(workdir / access_log) if access_log else None
            server = start_locator(
                workdir,
                locator_config(workdir, edges, log_path),
                server_cpu,
                name.replace(" ", "-"),
            )
            servers.append(server)
            check_answers(server, target)
            repeat = args.repeat if access_log is None else 1
            runs[name] = []
            for attempt in range(repeat):
                for retry in range(args.retries + 1):
                    log(f"wrk -c{args.connections} -d{args.duration}s, {name} ({attempt + 1})")
                    run = run_wrk(
                        server, target, script, args.connections, args.duration, client_cpu
                    )
                    runs[name].append(run)
                    log(
                        f"  {run.per_s:,.0f} redirects/s, {run.per_cpu_s:,.0f} per server "
                        f"CPU-second, p99 {run.p99_ms:.2f} ms, background "
                        f"{run.background_cores:.2f} cores, errors {run.errors}"
                    )
                    if run.background_cores <= BACKGROUND_WARN_CORES or retry == args.retries:
                        break
                    log(f"  disturbed; running it again in {RETRY_PAUSE_S:g} s")
                    time.sleep(RETRY_PAUSE_S)
            if access_log is None:
                log(f"open loop: {args.rate:g} req/s for {args.duration} s")
                busy0, cpu0 = machine_busy_seconds(), cpu_seconds(server.proc.pid)
                own0 = own_cpu_seconds()
                fixed = asyncio.run(
                    open_loop(
                        int(server.url.rsplit(":", 1)[1]),
                        raw_requests(target, addresses),
                        args.rate,
                        args.duration,
                        max_connections=256,
                    )
                )
                busy1, cpu1 = machine_busy_seconds(), cpu_seconds(server.proc.pid)
                own1 = own_cpu_seconds()
                fixed["server_cpu_share"] = (cpu1 - cpu0) / args.duration
                fixed["background_cores"] = max(
                    0.0, (busy1 - busy0 - (cpu1 - cpu0) - (own1 - own0)) / args.duration
                )
                doc["open_loop"] = fixed
                log(
                    f"  p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms, "
                    f"max {fixed['max_ms']:.2f} ms, statuses {fixed['statuses']}"
                )
            server.stop()
    finally:
        stand_in.shutdown()
    doc["wrk"] = {name: [run.__dict__ for run in rs] for name, rs in runs.items()}
    doc["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return doc


# -- the report ----------------------------------------------------------------------------


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    m, s, fixed = doc["machine"], doc["settings"], doc["open_loop"]

    def quiet(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rs if r["background_cores"] <= BACKGROUND_WARN_CORES] or rs

    main = quiet(doc["wrk"]["no access log"])
    logged = quiet(doc["wrk"]["access log to a file"])
    best = max(main, key=lambda r: r["requests"] / r["duration_s"])
    rates = [r["requests"] / r["duration_s"] for r in main]
    per_core = best["requests"] / best["duration_s"]
    errors = sum(sum(r["errors"].values()) for rs in doc["wrk"].values() for r in rs)
    bad = fixed["failures"] + sum(n for code, n in fixed["statuses"].items() if int(code) != 302)
    met_rate = per_core >= TARGET_PER_CORE and errors == 0
    met_p99 = fixed["p99_ms"] < TARGET_P99_MS and bad == 0
    pin = (
        f"locator pinned to CPU {s['server_cpu']}, load generators to CPU {s['client_cpu']}"
        if s["server_cpu"] is not None
        else "not pinned"
    )
    log_run = logged[0]
    lines = [
        f"Machine: {m['nproc']} × {m['cpu']}, Linux {m['kernel']}, Python {m['python']}, "
        f"aiohttp {m['aiohttp']}, uvloop {m['uvloop']}, wrk {m['wrk']}; load average before "
        f"{' '.join(m['loadavg'])}, after {' '.join(m['loadavg_after'])}.",
        f"Run {doc['date']}: `castedge locator`, one process; {pin}; {s['clients']:,} client "
        f"addresses; wrk -t1 -c{s['connections']} -d{s['duration_s']}s, best of "
        f"{len(main)}; open loop {s['rate']:g} req/s for {s['duration_s']} s.",
        "",
        "| Measure | Result | Target | Met |",
        "|---|---:|---|---|",
        f"| Redirects/s, one core (wrk, best) | {per_core:,.0f} | ≥ {TARGET_PER_CORE:,} "
        f"| {'yes' if met_rate else '**no**'} |",
        f"| — range over runs | {min(rates):,.0f}–{max(rates):,.0f} |  |  |",
        f"| — per server CPU-second | {best['requests'] / best['server_cpu_s']:,.0f} |  |  |",
        f"| — wrk p50 / p99 at 32 connections (ms) | {best['p50_ms']:.2f} / "
        f"{best['p99_ms']:.2f} |  |  |",
        f"| Redirects/s with the access log on (to a file) | "
        f"{log_run['requests'] / log_run['duration_s']:,.0f} |  |  |",
        f"| p99 at {s['rate']:g} req/s, open loop (ms) | {fixed['p99_ms']:.2f} "
        f"| < {TARGET_P99_MS:g} | {'yes' if met_p99 else '**no**'} |",
        f"| — p50 / p90 / p99.9 / max (ms) | {fixed['p50_ms']:.2f} / {fixed['p90_ms']:.2f} / "
        f"{fixed['p999_ms']:.2f} / {fixed['max_ms']:.2f} |  |  |",
        f"| — achieved rate, connections used | {fixed['rate_achieved']:,.0f}/s, "
        f"{fixed['connections']} |  |  |",
        f"| — server CPU at that rate (% of a core) | "
        f"{100 * fixed['server_cpu_share']:.0f} |  |  |",
        f"| — generator lateness p99 / max (ms) | {fixed['send_late_p99_ms']:.2f} / "
        f"{fixed['send_late_max_ms']:.2f} |  |  |",
        "",
        f"Every answer was checked: wrk errors (non-3xx included) {errors}; open loop "
        f"{fixed['answered']:,} of {fixed['requests']:,} answered, statuses "
        f"{fixed['statuses']}, failures {fixed['failures']}.",
    ]
    noisy = [
        r for rs in doc["wrk"].values() for r in rs if r["background_cores"] > BACKGROUND_WARN_CORES
    ]
    runs = sum(len(rs) for rs in doc["wrk"].values())
    lines.append(
        f"Other work on the machine: {len(noisy)} of {runs} wrk runs saw more than "
        f"{BACKGROUND_WARN_CORES} cores of it; during the open loop "
        f"{fixed['background_cores']:.2f} cores."
    )
    return "\n".join(lines), met_rate and met_p99


# -- entry point --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs; the best is kept (3)")
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a disturbed run (2)")
    parser.add_argument("--rate", type=float, default=1000, help="open-loop req/s (1000)")
    parser.add_argument("--seed", type=int, default=20250101, help="client address shuffle")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--json", metavar="FILE", type=Path, help="save the raw numbers here")
    args = parser.parse_args(argv)
    # Bounded runs: a typo must not load the machine for an hour.
    args.duration = min(max(args.duration, 1), 60)
    args.connections = min(max(args.connections, 1), 512)
    args.repeat = min(max(args.repeat, 1), 10)
    args.retries = min(max(args.retries, 0), 5)
    args.rate = min(max(args.rate, 1.0), 20_000.0)
    return args


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace() -> Iterator[tuple[Path, list[Server]]]:
    """A temporary directory and the servers started in it, both gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="castedge-locator-bench-"))
    servers: list[Server] = []
    try:
        yield workdir, servers
    except Exception:
        for server in servers:
            tail = server.log_tail()
            if tail.strip():
                log(f"--- locator log ---\n{tail}")
        raise
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("missing: wrk (scripts/install-sysdeps.sh bench installs it)")
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with workspace() as (workdir, servers):
            doc = benchmark(args, workdir, servers)
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temporary files removed")
        return 130
    table, met = report(doc)
    doc["table"] = table
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"raw numbers saved to {args.json}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
