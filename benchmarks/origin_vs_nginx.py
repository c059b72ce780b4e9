"""Castedge's origin beside nginx on the same files: large-file hits, range probes, misses.

Both serve a temporary directory of incompressible media files from 127.0.0.1, first
with one worker process each, then with several (``--workers 1,2``: nginx
``worker_processes N``, castedge ``origin.workers: N``). With one worker each server
is pinned to one core while wrk runs on another (on 2 cores the load generator would
otherwise take cycles from the server); with several nothing is pinned, as a server
meant to use every core cannot leave one to wrk, so the servers' workers and wrk share
all cores and the server's CPU time per request is the figure to compare. A tiny
aiohttp ``web.FileResponse`` app on the stock asyncio loop runs beside the one-worker
servers as the issue's point of comparison. Run from the repository root (``make
bench`` installs nginx-light and wrk first)::

    .venv/bin/python benchmarks/origin_vs_nginx.py [--duration 10] [--workers 1,2]

Prints Markdown tables with the targets beside the figures; ``--json FILE`` keeps the
raw numbers. Every process started and every temporary file is removed on exit,
Ctrl-C included. Exits 1 when castedge misses a target.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import HOST, MB, Server, http_get, log

ADMIN_TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token on loopback
GB = 1_000_000_000

#: The issue's acceptance targets for castedge.
TARGET_THROUGHPUT_VS_NGINX = 0.9
TARGET_PROBES_PER_CORE = 15_000
TARGET_PROBES_VS_FILERESPONSE = 5.0
#: Server CPU per probe with N workers over that with one, at most ("All cores": no
#: cross-worker overhead on the hot path).
TARGET_CPU_PER_PROBE_VS_ONE_WORKER = 1.10
#: The issue's own measurements (one core, loopback, 50 MB files, 16 connections).
ISSUE_FIGURES: dict[str, dict[str, float]] = {
    "throughput_gb_s": {"nginx": 2.05, "fileresponse_asyncio": 1.86, "fileresponse_uvloop": 1.27},
    "probes_req_s": {"nginx": 104_000, "bare_aiohttp_handler": 24_000, "fileresponse": 3_100},
}

#: Above this many cores of CPU time used by neither server nor wrk during a run, the
#: figure is flagged as possibly disturbed (loopback softirq work lands here too).
BACKGROUND_WARN_CORES = 0.3
#: wrk busier than this share of its one core means the figure is wrk's ceiling, not the
#: server's: the row then says so, and CPU per request is the figure to compare.
CLIENT_BOUND_SHARE = 0.9


# -- processes -------------------------------------------------------------------------


def start_castedge(
    workdir: Path, cpu: int | None, servers: list[Server], workers: int = 1
) -> Server:
    """Start ``castedge origin``; above one worker it is a supervisor of that many."""
    home = workdir / f"castedge-{workers}"
    home.mkdir()
    config = {
        "storage": {"dir": str(workdir)},  # the directory itself is the upstream
        "cache": {"dir": str(home / "cache"), "max_size": "10GB"},
        "origin": {"listen": f"{HOST}:0", "access_log": None, "workers": workers},
        "admin": {"listen": f"{HOST}:0", "token": ADMIN_TOKEN},
    }
    return harness.start_castedge(
        "origin", config, home / "castedge.yaml", cpu, servers, name="castedge", workers=workers
    )


def start_fileresponse(root: Path, workdir: Path, cpu: int | None, servers: list[Server]) -> Server:
    port = harness.free_port()
    log_path = workdir / "fileresponse.stderr.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [*harness.pinned(cpu), sys.executable, __file__, "--serve-fileresponse", str(root)]
            + ["--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server("FileResponse", proc, f"http://{HOST}:{port}", log_path)
    servers.append(server)
    harness.wait_listening(server, port)
    return server


def serve_fileresponse(root: Path, port: int) -> None:
    """The baseline: one process, stock asyncio loop, ``web.FileResponse`` per request."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if ".." in tail.split("/"):
            raise web.HTTPNotFound()
        return web.FileResponse(root / tail)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


# -- HTTP checks -------------------------------------------------------------------------


def check_serves(server: Server, path: str, digest: str, head: bytes) -> None:
    """Refuse to measure a server that answers wrongly: a fast 404 is no result."""
    status, body = http_get(server.url + path, {"Range": "bytes=0-1"})
    if status != 206 or body != head:
        raise RuntimeError(f"{server.name}: Range 0-1 of {path} gave {status} {body[:20]!r}")
    status, body = http_get(server.url + path)
    if status != 200 or hashlib.sha256(body).hexdigest() != digest:
        raise RuntimeError(f"{server.name}: GET {path} gave {status}, {len(body)} bytes, wrong")


def metrics_text(server: Server) -> str:
    """castedge's /metrics; with several workers, any one answers for all of them."""
    assert server.admin_url is not None
    status, body = http_get(server.admin_url + "/metrics")
    if status != 200:
        raise RuntimeError(f"castedge admin /metrics: HTTP {status}")
    return body.decode()


def metric_sum(text: str, name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` whose labels contain ``labels`` (e.g. 'a="b"')."""
    pattern = rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$"
    return sum(float(m[2]) for m in re.finditer(pattern, text, re.M) if labels in (m[1] or ""))


def cached_fills(server: Server) -> tuple[float, float]:
    """Fills finished into the store, and fills running, over all workers.

    /metrics, not /healthz: with several workers /healthz describes only the worker
    that happens to answer, while /metrics adds up every worker.
    """
    text = metrics_text(server)
    done = metric_sum(text, "castedge_fills_total", 'outcome="cached"')
    return done, metric_sum(text, "castedge_fills_in_progress")


def wait_fills(server: Server, cached: float, timeout: float = 120.0) -> None:
    """Wait until ``cached`` fills have finished and none is running."""
    deadline = time.monotonic() + timeout
    while True:
        done, running = cached_fills(server)
        if done >= cached and running == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"castedge finished {done:g} of {cached:g} fills in {timeout:g} s, "
                f"{running:g} still running"
            )
        time.sleep(0.1)


def lookups(server: Server) -> dict[str, float]:
    text = metrics_text(server)
    found: dict[str, float] = {}
    for m in re.finditer(r"^castedge_cache_lookups_total\{([^}]*)\} (\S+)$", text, re.M):
        result = re.search(r'result="(\w+)"', m[1])
        if result:
            found[result[1]] = float(m[2])
    return found


def curl_timing(url: str, cpu: int | None, headers: Sequence[str] = ()) -> dict[str, float]:
    fmt = "%{http_code} %{time_starttransfer} %{time_total} %{size_download}"
    cmd = [*harness.pinned(cpu), "curl", "-s", "-o", os.devnull, "--noproxy", "*", "-w", fmt]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=120, check=True)
    code, ttfb, total, size = out.stdout.split()
    return {"status": int(code), "ttfb_s": float(ttfb), "total_s": float(total), "bytes": int(size)}


# -- wrk ---------------------------------------------------------------------------------


@dataclass
class Run(harness.WrkRun):
    """One wrk run against one server, with the CPU both sides used."""

    server: str
    workers: int
    scenario: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gb_per_s(self) -> float:
        return self.bytes / self.duration_s / GB

    def as_dict(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        doc.update(gb_per_s=self.gb_per_s, req_per_s=self.req_per_s)
        return doc


def run_wrk(
    server: Server,
    scenario: str,
    script: Path,
    *,
    connections: int,
    duration: int,
    cpu: int | None,
    headers: Sequence[str] = (),
) -> Run:
    before_hits = lookups(server) if server.admin_url else {}
    wrk = harness.run_wrk(
        server.name,
        server,
        server.url + "/",
        script,
        connections=connections,
        duration=duration,
        cpu=cpu,
        headers=headers,
    )
    run = Run(**vars(wrk), server=server.name, workers=server.workers, scenario=scenario)
    if server.admin_url:
        after = lookups(server)
        run.extra = {k: after.get(k, 0) - before_hits.get(k, 0) for k in ("hit", "miss", "stream")}
        if run.extra["miss"] or run.extra["stream"]:
            log(f"  warning: castedge served {run.extra} during a hit run")
    if any(run.errors.values()):
        log(f"  warning: {server.name} {scenario}: wrk counted errors {run.errors}")
    return run


# -- the benchmark -----------------------------------------------------------------------


def make_media(root: Path, count: int, size: int) -> list[tuple[str, str, bytes]]:
    """Write the files; return (URL path, sha256, first two bytes) of each."""
    media = root / "media"
    media.mkdir()
    files = []
    for n in range(count):
        name = f"media/episode-{n:03d}.mp3"
        # SHAKE gives any length from one seed quickly, and random bytes don't compress.
        data = hashlib.shake_256(name.encode()).digest(size)
        (root / name).write_bytes(data)
        files.append((f"/{name}", hashlib.sha256(data).hexdigest(), data[:2]))
    return files


def miss_timings(
    castedge: Server, root: Path, source: str, samples: int, cpu: int | None
) -> dict[str, list[dict[str, float]]]:
    """Time first bytes of misses: fresh names (hard links, no copying) the store lacks."""
    found: dict[str, list[dict[str, float]]] = {"range": [], "full": []}
    cached, _running = cached_fills(castedge)
    for n in range(samples):
        for kind, headers, status in (("range", ["Range: bytes=0-1"], 206), ("full", [], 200)):
            path = f"media/miss-{kind}-{n:03d}-w{castedge.workers}.mp3"
            os.link(root / source.lstrip("/"), root / path)
            # One fill at a time: the previous one's fsync must not slow this one.
            wait_fills(castedge, cached)
            timing = curl_timing(f"{castedge.url}/{path}", cpu, headers)
            if timing["status"] != status:
                raise RuntimeError(f"castedge miss {path}: HTTP {timing['status']}")
            found[kind].append(timing)
            cached += 1
    wait_fills(castedge, cached)
    return found


def hit_ttfb(server: Server, path: str, samples: int, cpu: int | None) -> list[float]:
    return [
        curl_timing(server.url + path, cpu, ["Range: bytes=0-1"])["ttfb_s"] for _ in range(samples)
    ]


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": harness.machine(),
        "settings": {
            "files": args.files,
            "size_bytes": args.size_mb * MB,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "retries": args.retries,
            "connections": args.connections,
            "probe_connections": args.probe_connections,
            "workers": args.workers,
            "pinning": {},
        },
        "targets": {
            "throughput_vs_nginx": TARGET_THROUGHPUT_VS_NGINX,
            "probes_per_core": TARGET_PROBES_PER_CORE,
            "probes_vs_fileresponse": TARGET_PROBES_VS_FILERESPONSE,
            "cpu_per_probe_vs_one_worker": TARGET_CPU_PER_PROBE_VS_ONE_WORKER,
        },
        "issue_figures": ISSUE_FIGURES,
        "runs": [],
    }
    log(f"writing {args.files} x {args.size_mb} MB under {workdir}/media")
    files = make_media(workdir, args.files, args.size_mb * MB)
    script = workdir / "rotate.lua"
    paths = ", ".join(json.dumps(p) for p, _, _ in files)
    script.write_text(harness.ROTATE_SCRIPT.replace("PATHS", paths))
    for workers in args.workers:
        first = len(servers)
        try:
            measure_workers(args, doc, workdir, servers, files, script, workers)
        finally:
            # The next worker count gets the cores to itself.
            for server in reversed(servers[first:]):
                server.stop()
            del servers[first:]
    doc["machine"]["loadavg_after"] = harness.loadavg()
    return doc


def measure_workers(
    args: argparse.Namespace,
    doc: dict[str, Any],
    workdir: Path,
    servers: list[Server],
    files: list[tuple[str, str, bytes]],
    script: Path,
    workers: int,
) -> None:
    """Start nginx and castedge with ``workers`` workers each, measure them, add to doc."""
    server_cpu, client_cpu = choose_cpus(args, workers)
    doc["settings"]["pinning"][str(workers)] = {"server_cpu": server_cpu, "client_cpu": client_cpu}
    baseline = workers == 1 and not args.no_baseline
    log(
        f"{workers} worker(s): starting nginx, castedge"
        + (" and the FileResponse app" if baseline else "")
        + (f"; servers on CPU {server_cpu}, wrk on CPU {client_cpu}" if server_cpu is not None
           else "; nothing pinned")
    )  # fmt: skip
    nginx = harness.start_nginx(
        workdir, workdir, server_cpu, servers, types="audio/mpeg mp3", workers=workers
    )
    castedge = start_castedge(workdir, server_cpu, servers, workers)
    measured = [nginx, castedge]
    if baseline:
        measured.append(start_fileresponse(workdir, workdir, server_cpu, servers))

    log("warming castedge's cache (one miss per file) and checking every server's answers")
    for path, digest, _head in files:
        status, body = http_get(castedge.url + path)
        if status != 200 or hashlib.sha256(body).hexdigest() != digest:
            raise RuntimeError(f"castedge: warming GET {path} gave {status}, wrong body")
    wait_fills(castedge, len(files))
    for server in measured:
        check_serves(server, files[0][0], files[0][1], files[0][2])

    scenarios = (
        ("large", args.connections, ()),
        ("probes", args.probe_connections, ("Range: bytes=0-1",)),
    )
    for scenario, connections, headers in scenarios:
        for attempt in range(args.repeat):
            for server in measured:
                measure = functools.partial(
                    measure_wrk, args, server, scenario, script, connections, headers, client_cpu
                )
                runs = harness.until_undisturbed(
                    measure, retries=args.retries, warn_cores=BACKGROUND_WARN_CORES
                )
                for retry, run in enumerate(runs):
                    run.extra.update(attempt=attempt, retry=retry)
                    doc["runs"].append(run.as_dict())

    if workers == 1:
        log("timing first bytes of hits and misses with curl")
        doc["hit_ttfb_s"] = {
            server.name: hit_ttfb(server, files[0][0], args.ttfb_samples, client_cpu)
            for server in measured
        }
        doc["miss"] = miss_timings(castedge, workdir, files[0][0], args.miss_samples, client_cpu)


def measure_wrk(
    args: argparse.Namespace,
    server: Server,
    scenario: str,
    script: Path,
    connections: int,
    headers: Sequence[str],
    cpu: int | None,
) -> Run:
    """One wrk run of a scenario against one server."""
    workers = server.workers
    log(
        f"wrk {scenario} -c{connections} -d{args.duration}s on {server.name} "
        f"({workers} worker{'s' if workers > 1 else ''})"
    )
    run = run_wrk(
        server,
        scenario,
        script,
        connections=connections,
        duration=args.duration,
        cpu=cpu,
        headers=headers,
    )
    log(
        f"  {run.gb_per_s:.2f} GB/s, {run.req_per_s:,.0f} req/s, server CPU "
        f"{run.server_cpu_s:.2f} s, background {run.background_cores:.2f} cores"
    )
    return run


def choose_cpus(args: argparse.Namespace, workers: int) -> tuple[int | None, int | None]:
    """The servers' core and wrk's: apart with one worker, not pinned with several."""
    return harness.choose_cpus(args.no_pin or workers > 1, args.server_cpu, args.client_cpu)


# -- the report --------------------------------------------------------------------------


def best(
    runs: list[dict[str, Any]], server: str, scenario: str, workers: int = 1
) -> dict[str, Any] | None:
    """The fastest undisturbed attempt (the fastest of all when every one was disturbed).

    The fastest is the one least slowed by the rest of the machine (timeit's argument).
    """
    mine = [
        r
        for r in runs
        if r["server"] == server and r["scenario"] == scenario and r["workers"] == workers
    ]
    quiet = [r for r in mine if r["background_cores"] <= BACKGROUND_WARN_CORES]
    mine = quiet or mine
    key = "gb_per_s" if scenario == "large" else "req_per_s"
    return max(mine, key=lambda r: float(r[key])) if mine else None


def gb_s(r: dict[str, Any]) -> float:
    return float(r["gb_per_s"])


def cpu_percent(r: dict[str, Any]) -> float:
    return 100 * float(r["server_cpu_s"]) / float(r["duration_s"])


def req_s(r: dict[str, Any]) -> float:
    return float(r["req_per_s"])


def cpu_per_10k(r: dict[str, Any]) -> float:
    return float(r["server_cpu_s"]) / max(1, int(r["requests"])) * 10_000


def per_cpu_second(r: dict[str, Any]) -> float:
    return int(r["requests"]) / float(r["server_cpu_s"]) if r["server_cpu_s"] else 0.0


def client_bound(r: dict[str, Any] | None) -> bool:
    """wrk, not the server, set the pace of this run."""
    return r is not None and r["wrk_cpu_s"] >= CLIENT_BOUND_SHARE * r["duration_s"]


def fmt(value: float | None, spec: str, mark: bool = False) -> str:
    return "—" if value is None else format(value, spec) + (" ‡" if mark else "")


def quotient(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def one_worker_table(doc: dict[str, Any]) -> tuple[list[str], list[bool]]:
    """Every server with one worker, FileResponse included, against the first targets."""
    runs, s = doc["runs"], doc["settings"]
    names = ["nginx", "castedge", "FileResponse"]
    large = {n: best(runs, n, "large") for n in names}
    probes = {n: best(runs, n, "probes") for n in names}

    def per(
        table: dict[str, dict[str, Any] | None], fn: Callable[[dict[str, Any]], float]
    ) -> dict[str, float | None]:
        return {n: (fn(r) if r is not None else None) for n, r in table.items()}

    gbps, rps = per(large, gb_s), per(probes, req_s)
    ttfb = {n: statistics.median(v) * 1000 for n, v in doc["hit_ttfb_s"].items()}
    miss = doc["miss"]
    miss_range = statistics.median(t["ttfb_s"] for t in miss["range"]) * 1000
    miss_full = statistics.median(t["ttfb_s"] for t in miss["full"]) * 1000
    miss_total = statistics.median(t["total_s"] for t in miss["full"])

    checks: list[bool] = []
    c, ng = gbps["castedge"], gbps["nginx"]
    ok = c is not None and ng is not None and c >= TARGET_THROUGHPUT_VS_NGINX * ng
    checks.append(ok)
    large_met = "yes" if ok else "**no**"
    c, fr = rps["castedge"], rps["FileResponse"]
    ok_core = c is not None and c >= TARGET_PROBES_PER_CORE
    checks.append(ok_core)
    probe_met = "yes" if ok_core else "**no**"
    if fr is not None and c is not None:
        ok_fr = c >= TARGET_PROBES_VS_FILERESPONSE * fr
        checks.append(ok_fr)
        probe_met += f"; {c / fr:.1f} × FileResponse: " + ("yes" if ok_fr else "**no**")

    bound = {id(gbps): large, id(rps): probes}
    rows: list[tuple[str, dict[str, float | None], str, str, str]] = [
        (f"Large-file GET, {s['connections']} conns (GB/s)", gbps, ".2f",
         f"≥ {TARGET_THROUGHPUT_VS_NGINX} × nginx", large_met),
        ("— server CPU during it (% of one core)", per(large, cpu_percent), ".0f", "", ""),
        (f"`Range: bytes=0-1` probes, {s['probe_connections']} conns (req/s)", rps, ",.0f",
         f"≥ {TARGET_PROBES_PER_CORE:,}/core, ≥ {TARGET_PROBES_VS_FILERESPONSE:g} × FileResponse",
         probe_met),
        ("— server CPU s per 10k probes", per(probes, cpu_per_10k), ".3f", "", ""),
        ("— probes per server CPU-second", per(probes, per_cpu_second), ",.0f", "", ""),
        ("Hit TTFB, `Range: bytes=0-1` (ms, median)", dict(ttfb), ".2f", "", ""),
        ("Miss TTFB, `Range: bytes=0-1` (ms, median)", {"castedge": miss_range}, ".2f", "", ""),
        ("Miss TTFB, full GET (ms, median)", {"castedge": miss_full}, ".2f", "", ""),
        ("Miss, full GET to last byte (s, median)", {"castedge": miss_total}, ".3f", "", ""),
    ]  # fmt: skip
    pin = s["pinning"]["1"]
    lines = [
        "One worker each: "
        + (
            f"servers pinned to CPU {pin['server_cpu']}, wrk and curl to CPU {pin['client_cpu']}."
            if pin["server_cpu"] is not None
            else "not pinned (fewer than 2 usable cores or --no-pin)."
        ),
        "",
        *harness.table_head(
            ["Scenario", *names, "castedge/nginx", "Target", "Met"], "l" + "r" * 4 + "ll"
        ),
    ]
    for label, values, spec, target, met in rows:
        runs_of = bound.get(id(values), {})
        cells = [fmt(values.get(n), spec, client_bound(runs_of.get(n))) for n in names]
        ratio = quotient(values.get("castedge"), values.get("nginx"))
        lines.append(harness.table_row([label, *cells, fmt(ratio, ".2f"), target, met]))
    lines += [
        "",
        f"Hit TTFB: median of {len(doc['hit_ttfb_s']['castedge'])} curl runs; miss figures: "
        f"{len(miss['range'])} fresh names each, one fill at a time. "
        "FileResponse: one aiohttp process on the stock asyncio loop.",
    ]
    return lines, checks


def workers_table(doc: dict[str, Any]) -> tuple[list[str], list[bool]]:
    """nginx and castedge at each worker count, and how CPU per probe grows with workers."""
    runs, s = doc["runs"], doc["settings"]
    counts: list[int] = s["workers"]
    cols = [(name, n) for name in ("nginx", "castedge") for n in counts]
    large = {col: best(runs, col[0], "large", col[1]) for col in cols}
    probes = {col: best(runs, col[0], "probes", col[1]) for col in cols}
    # Each count above one against one worker of the same server.
    ratios = [(name, n) for name in ("nginx", "castedge") for n in counts if n > 1 and 1 in counts]

    def per(
        table: dict[tuple[str, int], dict[str, Any] | None], fn: Callable[[dict[str, Any]], float]
    ) -> dict[tuple[str, int], float | None]:
        return {col: (fn(r) if r is not None else None) for col, r in table.items()}

    cpu_10k = per(probes, cpu_per_10k)
    checks: list[bool] = []
    verdicts = []
    for name, n in ratios:
        if name != "castedge":
            continue
        r = quotient(cpu_10k[(name, n)], cpu_10k[(name, 1)])
        ok = r is not None and r <= TARGET_CPU_PER_PROBE_VS_ONE_WORKER
        checks.append(ok)
        verdicts.append(f"{n} workers {fmt(r, '.2f')}: " + ("yes" if ok else "**no**"))

    Runs = dict[tuple[str, int], dict[str, Any] | None]
    # label, runs, figure, format, target, met, whether a wrk-bound rate is marked
    rows: list[tuple[str, Runs, Callable[[dict[str, Any]], float], str, str, str, bool]] = [
        (f"Large-file GET, {s['connections']} conns (GB/s)", large, gb_s, ".2f", "", "", True),
        ("— server CPU during it (% of one core, all processes)", large, cpu_percent, ".0f",
         "", "", False),
        (f"`Range: bytes=0-1` probes, {s['probe_connections']} conns (req/s)", probes, req_s,
         ",.0f", "", "", True),
        ("— server CPU s per 10k probes (all processes)", probes, cpu_per_10k, ".3f",
         f"castedge ≤ {TARGET_CPU_PER_PROBE_VS_ONE_WORKER:.2f} × 1 worker" if verdicts else "",
         "; ".join(verdicts), False),
        ("— probes per server CPU-second", probes, per_cpu_second, ",.0f", "", "", False),
    ]  # fmt: skip
    plural = {n: f"{n} worker{'s' if n > 1 else ''}" for n in counts}
    heads = [f"{name}, {plural[n]}" for name, n in cols] + [f"{name} {n}/1" for name, n in ratios]
    pins = []
    for n in counts:
        pin = s["pinning"][str(n)]
        pins.append(
            f"{plural[n]}: servers on CPU {pin['server_cpu']}, wrk on CPU {pin['client_cpu']}"
            if pin["server_cpu"] is not None
            else f"{plural[n]}: nothing pinned, the servers' workers and wrk share every core"
        )
    lines = [
        "Worker processes: nginx `worker_processes N` (with `listen … reuseport` above one), "
        "castedge `origin.workers: N` (a supervisor and N workers on one SO_REUSEPORT port). "
        "Server CPU is summed over every process of the server (master or supervisor and its "
        f"workers). Pinning: {'; '.join(pins)}.",
        "",
        *harness.table_head(["Scenario", *heads, "Target", "Met"], "l" + "r" * len(heads) + "ll"),
    ]
    for label, table, figure, spec, target, met, mark in rows:
        values = per(table, figure)
        cells = [fmt(values[col], spec, mark and client_bound(table[col])) for col in cols]
        cells += [fmt(quotient(values[(name, n)], values[(name, 1)]), ".2f") for name, n in ratios]
        lines.append(harness.table_row([label, *cells, target, met]))
    return lines, checks


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    """The Markdown tables and whether castedge met every target it was measured against."""
    runs, m, s = doc["runs"], doc["machine"], doc["settings"]
    lines = [
        harness.machine_line(m, load_after=False),
        f"Run {doc['date']}: {s['files']} files × {s['size_bytes'] // MB} MB, wrk -t1 "
        f"-d{s['duration_s']}s, best of {s['repeat']}; 1 GB = 10^9 bytes.",
    ]
    checks: list[bool] = []
    if 1 in s["workers"]:
        table, met = one_worker_table(doc)
        lines += ["", *table]
        checks += met
    if any(n > 1 for n in s["workers"]):
        table, met = workers_table(doc)
        lines += ["", *table]
        checks += met
    lines.append("")
    issue_tp, issue_probes = ISSUE_FIGURES["throughput_gb_s"], ISSUE_FIGURES["probes_req_s"]
    lines.append(
        f"The issue's figures, on its machine: large files nginx {issue_tp['nginx']} GB/s, "
        f"FileResponse {issue_tp['fileresponse_asyncio']} (asyncio) / "
        f"{issue_tp['fileresponse_uvloop']} (uvloop); probes nginx {issue_probes['nginx']:,}, "
        f"bare aiohttp handler {issue_probes['bare_aiohttp_handler']:,}, "
        f"FileResponse {issue_probes['fileresponse']:,} req/s."
    )
    shown = [
        best(runs, r["server"], r["scenario"], r["workers"])
        for r in runs
        if r["extra"].get("attempt") == 0 and r["extra"].get("retry") == 0
    ]
    if any(client_bound(r) for r in shown):
        lines.append(
            f"‡ wrk used ≥ {CLIENT_BOUND_SHARE:.0%} of a core: the load generator's limit, "
            "not the server's; compare the CPU rows instead."
        )
    noisy = [r for r in runs if r["background_cores"] > BACKGROUND_WARN_CORES]
    if noisy:
        still_noisy = [r for r in shown if r is not None and r in noisy]
        worst = max(r["background_cores"] for r in noisy)
        lines.append(
            f"Disturbance: {len(noisy)} of {len(runs)} wrk runs saw more than "
            f"{BACKGROUND_WARN_CORES} cores (up to {worst:.2f}) of other work on the machine "
            f"and were re-run up to {s['retries']} times; "
            + (
                "the tables use undisturbed runs."
                if not still_noisy
                else "still disturbed in the tables: "
                + ", ".join(f"{r['server']} ×{r['workers']} {r['scenario']}" for r in still_noisy)
                + "."
            )
        )
    return "\n".join(lines), all(checks)


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="media files (default 4)")
    parser.add_argument("--size-mb", type=int, default=50, help="file size in MB (default 50)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=1, help="wrk runs per case; best is kept")
    parser.add_argument(
        "--retries", type=int, default=2, help="re-runs of a run disturbed by other load"
    )
    parser.add_argument("--connections", type=int, default=16, help="large-file connections")
    parser.add_argument("--probe-connections", type=int, default=64, help="probe connections")
    parser.add_argument("--miss-samples", type=int, default=5, help="curl timings per miss case")
    parser.add_argument("--ttfb-samples", type=int, default=20, help="curl timings of hits")
    parser.add_argument("--server-cpu", type=int, default=0, help="core for the servers")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for wrk and curl")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        metavar="N,N",
        help="worker processes of nginx and castedge, one round each (default 1,2)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the FileResponse app")
    parser.add_argument("--json", metavar="FILE", type=Path, help="save the raw numbers here")
    parser.add_argument("--tmpdir", type=Path, help="parent of the temporary directory")
    parser.add_argument("--serve-fileresponse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    harness.bound(
        args,
        files=(1, 64),
        size_mb=(1, 2000),
        duration=(1, 120),
        repeat=(1, 10),
        retries=(0, 5),
        connections=(1, 1000),
        probe_connections=(1, 1000),
        miss_samples=(1, 50),
        ttfb_samples=(1, 1000),
    )
    return args


def worker_counts(text: str) -> list[int]:
    """``1,2`` as [1, 2]: each from 1 to 64, the bounds of castedge's ``origin.workers``."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,2, got {text!r}") from None
    if not counts or not all(1 <= n <= 64 for n in counts):
        raise argparse.ArgumentTypeError(f"expected counts from 1 to 64, got {text!r}")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_fileresponse is not None:
        serve_fileresponse(args.serve_fileresponse.resolve(), args.port)
        return 0
    missing = harness.missing_tools(("wrk", "curl", "nginx"))
    if missing:
        log(f"missing: {', '.join(missing)} (scripts/install-sysdeps.sh bench installs them)")
        return 2
    return harness.run_and_report(
        lambda workdir, servers: benchmark(args, workdir, servers),
        report,
        prefix="castedge-bench-",
        tmpdir=args.tmpdir,
        json_path=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
