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
import functools
import http.client
import http.server
import json
import os
import random
import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from harness import HOST, Server, log
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from signer import Purpose, Signer

KEY_ID = "bench"
SECRET = "bench-locator-signing-key-0123456789abcdef"  # noqa: S105 - a throwaway key on loopback
PATH = "courses/python-jumpstart/ch03/index.m3u8"
SCOPE = "courses/python-jumpstart/"

TARGET_PER_CORE = 8000
TARGET_P99_MS = 5.0
BACKGROUND_WARN_CORES = 0.3

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

WRK_SCRIPT = (
    """\
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
"""
    + harness.WRK_DONE
)


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


# -- load ---------------------------------------------------------------------------------


def redirects(
    args: argparse.Namespace,
    name: str,
    server: Server,
    target: str,
    script: Path,
    *,
    cpu: int | None,
    attempt: int,
) -> harness.WrkRun:
    """One wrk run of the redirect requests against the locator."""
    log(f"wrk -c{args.connections} -d{args.duration}s, {name} ({attempt + 1})")
    run = harness.run_wrk(
        "castedge locator",
        server,
        server.url + target,
        script,
        connections=args.connections,
        duration=args.duration,
        cpu=cpu,
        request_timeout_s=10,
        # The stand-in edges answer health checks from this process: not other work.
        client=harness.own_cpu_seconds,
    )
    per_cpu_s = run.requests / run.server_cpu_s if run.server_cpu_s else 0.0
    log(
        f"  {run.req_per_s:,.0f} redirects/s, {per_cpu_s:,.0f} per server "
        f"CPU-second, p99 {run.p99_ms:.2f} ms, background "
        f"{run.background_cores:.2f} cores, errors {run.errors}"
    )
    return run


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


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    server_cpu, client_cpu = harness.choose_cpus(args.no_pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": harness.machine(nginx=False),
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
        runs: dict[str, list[harness.WrkRun]] = {}
        for name, access_log in (("no access log", None), ("access log to a file", "access.log")):
            log_path = str(workdir / access_log) if access_log else None
            server = harness.start_castedge(
                "locator",
                locator_config(workdir, edges, log_path),
                workdir / f"{name.replace(' ', '-')}.yaml",
                server_cpu,
                servers,
                name="locator",
            )
            check_answers(server, target)
            repeat = args.repeat if access_log is None else 1
            runs[name] = []
            for attempt in range(repeat):
                measure = functools.partial(
                    redirects, args, name, server, target, script, cpu=client_cpu, attempt=attempt
                )
                runs[name] += harness.until_undisturbed(
                    measure, retries=args.retries, warn_cores=BACKGROUND_WARN_CORES
                )
            if access_log is None:
                log(f"open loop: {args.rate:g} req/s for {args.duration} s")
                # The generator runs in this process: its CPU is the client's.
                meter = harness.CpuMeter([server.proc.pid], client=harness.own_cpu_seconds)
                meter.start()
                fixed = asyncio.run(
                    open_loop(
                        int(server.url.rsplit(":", 1)[1]),
                        raw_requests(target, addresses),
                        args.rate,
                        args.duration,
                        max_connections=256,
                    )
                )
                use = meter.stop(args.duration)
                fixed["server_cpu_share"] = use.server_s / args.duration
                fixed["background_cores"] = use.background_cores
                doc["open_loop"] = fixed
                log(
                    f"  p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms, "
                    f"max {fixed['max_ms']:.2f} ms, statuses {fixed['statuses']}"
                )
            server.stop()
    finally:
        stand_in.shutdown()
    doc["wrk"] = {name: [vars(run) for run in rs] for name, rs in runs.items()}
    doc["machine"]["loadavg_after"] = harness.loadavg()
    return doc


# -- the report ----------------------------------------------------------------------------


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    m, s, fixed = doc["machine"], doc["settings"], doc["open_loop"]
    main = harness.undisturbed(doc["wrk"]["no access log"], BACKGROUND_WARN_CORES)
    logged = harness.undisturbed(doc["wrk"]["access log to a file"], BACKGROUND_WARN_CORES)
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
    rows = [
        ("Redirects/s, one core (wrk, best)", f"{per_core:,.0f}", f"≥ {TARGET_PER_CORE:,}",
         "yes" if met_rate else "**no**"),
        ("— range over runs", f"{min(rates):,.0f}–{max(rates):,.0f}", "", ""),
        ("— per server CPU-second", f"{best['requests'] / best['server_cpu_s']:,.0f}", "", ""),
        ("— wrk p50 / p99 at 32 connections (ms)",
         f"{best['p50_ms']:.2f} / {best['p99_ms']:.2f}", "", ""),
        ("Redirects/s with the access log on (to a file)",
         f"{log_run['requests'] / log_run['duration_s']:,.0f}", "", ""),
        (f"p99 at {s['rate']:g} req/s, open loop (ms)", f"{fixed['p99_ms']:.2f}",
         f"< {TARGET_P99_MS:g}", "yes" if met_p99 else "**no**"),
        ("— p50 / p90 / p99.9 / max (ms)",
         f"{fixed['p50_ms']:.2f} / {fixed['p90_ms']:.2f} / {fixed['p999_ms']:.2f} / "
         f"{fixed['max_ms']:.2f}", "", ""),
        ("— achieved rate, connections used",
         f"{fixed['rate_achieved']:,.0f}/s, {fixed['connections']}", "", ""),
        ("— server CPU at that rate (% of a core)", f"{100 * fixed['server_cpu_share']:.0f}",
         "", ""),
        ("— generator lateness p99 / max (ms)",
         f"{fixed['send_late_p99_ms']:.2f} / {fixed['send_late_max_ms']:.2f}", "", ""),
    ]  # fmt: skip
    lines = [
        harness.machine_line(m, load_after=True),
        f"Run {doc['date']}: `castedge locator`, one process; {pin}; {s['clients']:,} client "
        f"addresses; wrk -t1 -c{s['connections']} -d{s['duration_s']}s, best of "
        f"{len(main)}; open loop {s['rate']:g} req/s for {s['duration_s']} s.",
        "",
        *harness.table_head(["Measure", "Result", "Target", "Met"], "lrll"),
        *(harness.table_row(row) for row in rows),
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
    harness.bound(
        args,
        duration=(1, 60),
        connections=(1, 512),
        repeat=(1, 10),
        retries=(0, 5),
        rate=(1.0, 20_000.0),
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("missing: wrk (scripts/install-sysdeps.sh bench installs it)")
        return 2
    return harness.run_and_report(
        lambda workdir, servers: benchmark(args, workdir, servers),
        report,
        prefix="castedge-locator-bench-",
        json_path=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
