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
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

ADMIN_TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token on loopback
HOST = "127.0.0.1"
MB = 1_000_000
GB = 1_000_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

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
#: Pause before re-running a disturbed measurement.
RETRY_PAUSE_S = 5.0

# wrk runs request() for every request: rotate over the files so each is read, and
# print wrk's own totals on one line this script can parse.
WRK_SCRIPT = """\
local paths = {PATHS}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d"
    .. " p50_us=%d p99_us=%d\\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

NGINX_CONF = """\
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    # aiohttp never closes a keep-alive connection after N requests; nginx's default
    # of 1000 would make wrk reconnect and charge nginx for handshakes castedge skips.
    keepalive_requests 1000000;
    types {{ audio/mpeg mp3; }}
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {host}:{port}{reuseport};
        root {root};
    }}
}}
"""


# -- processes -------------------------------------------------------------------------


@dataclass
class Server:
    """A server under test: its process, base URL and the processes whose CPU counts."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    count_children: bool = False  # the master's (supervisor's) workers do the serving
    admin_url: str | None = None
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        if self.count_children:
            pids += children_of(self.proc.pid)
        return pids

    def stop(self) -> None:
        workers = children_of(self.proc.pid) if self.count_children else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in workers:  # orphaned only if the master had to be killed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if _stat_fields(int(entry))[1] == str(pid):
                    found.append(int(entry))
    return found


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat from field 3 (state) on; the name may hold spaces."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU seconds of the processes (all their threads) so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and iowait, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def wait_listening(server: Server, timeout: float = 20.0) -> None:
    """Poll until the port accepts connections, failing early if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), 1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} not listening after {timeout:g} s")
        time.sleep(0.05)


def start_nginx(
    workdir: Path, root: Path, cpu: int | None, servers: list[Server], workers: int = 1
) -> Server:
    conf_dir = workdir / f"nginx-{workers}"
    conf_dir.mkdir()
    port = free_port()
    # A master started as root switches its workers to "nobody", who could not read
    # a root-owned temporary directory; keep them root (loopback only, for a benchmark).
    user = "user root;\n" if os.geteuid() == 0 else ""
    # Several workers get a listening socket each (SO_REUSEPORT), as castedge's do, so
    # the kernel spreads wrk's connections over both servers' workers the same way.
    reuseport = " reuseport" if workers > 1 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user=user,
            workers=workers,
            dir=conf_dir,
            host=HOST,
            port=port,
            reuseport=reuseport,
            root=root,
        )
    )
    log = conf_dir / "stderr.log"
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*pinned(cpu), nginx, "-p", str(conf_dir), "-c", str(conf), "-e", str(log)]
            + ["-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server("nginx", proc, port, log, count_children=True, workers=workers)
    servers.append(server)
    wait_listening(server)
    return server


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
    config_path = home / "castedge.yaml"
    config_path.write_text(yaml.safe_dump(config))
    exe = Path(sys.executable).with_name("castedge")
    command = str(exe) if exe.exists() else (shutil.which("castedge") or "castedge")
    log = home / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*pinned(cpu), command, "origin", "--config", str(config_path)],
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
                if {"origin", "admin"} <= urls.keys():
                    ready.set()

    threading.Thread(target=watch, daemon=True).start()
    server = Server("castedge", proc, 0, log, count_children=workers > 1, workers=workers)
    servers.append(server)
    deadline = time.monotonic() + 30
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"castedge did not report its listeners:\n{server.log_tail()}")
    server.port = int(urls["origin"].rsplit(":", 1)[1])
    server.admin_url = urls["admin"]
    return server


def start_fileresponse(root: Path, workdir: Path, cpu: int | None, servers: list[Server]) -> Server:
    port = free_port()
    log = workdir / "fileresponse.stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*pinned(cpu), sys.executable, __file__, "--serve-fileresponse", str(root)]
            + ["--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server("FileResponse", proc, port, log)
    servers.append(server)
    wait_listening(server)
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


def http_get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check_serves(server: Server, path: str, digest: str, head: bytes) -> None:
    """Refuse to measure a server that answers wrongly: a fast 404 is no result."""
    status, body = http_get(server.url, path, {"Range": "bytes=0-1"})
    if status != 206 or body != head:
        raise RuntimeError(f"{server.name}: Range 0-1 of {path} gave {status} {body[:20]!r}")
    status, body = http_get(server.url, path)
    if status != 200 or hashlib.sha256(body).hexdigest() != digest:
        raise RuntimeError(f"{server.name}: GET {path} gave {status}, {len(body)} bytes, wrong")


def metrics_text(server: Server) -> str:
    """castedge's /metrics; with several workers, any one answers for all of them."""
    assert server.admin_url is not None
    status, body = http_get(server.admin_url, "/metrics")
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
    cmd = [*pinned(cpu), "curl", "-s", "-o", os.devnull, "--noproxy", "*", "-w", fmt]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=120, check=True)
    code, ttfb, total, size = out.stdout.split()
    return {"status": int(code), "ttfb_s": float(ttfb), "total_s": float(total), "bytes": int(size)}


# -- wrk ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One wrk run against one server, with the CPU both sides used."""

    server: str
    workers: int
    scenario: str
    requests: int
    bytes: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    wrk_cpu_s: float
    background_cores: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gb_per_s(self) -> float:
        return self.bytes / self.duration_s / GB

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s

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
    cmd = [*pinned(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s"]
    for header in headers:
        cmd += ["-H", header]
    cmd += ["-s", str(script), server.url + "/"]
    before_hits = lookups(server) if server.admin_url else {}
    pids = server.pids()
    cpu0, busy0, wrk0 = cpu_seconds(pids), machine_busy_seconds(), children_cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120, check=False)
    cpu1, busy1, wrk1 = cpu_seconds(pids), machine_busy_seconds(), children_cpu_seconds()
    m = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk against {server.name} failed:\n{out.stdout}\n{out.stderr}")
    v = {key: int(val) for key, val in (pair.split("=") for pair in m[1].split())}
    duration_s = v["duration_us"] / 1e6
    server_cpu, wrk_cpu = cpu1 - cpu0, wrk1 - wrk0
    run = Run(
        server=server.name,
        workers=server.workers,
        scenario=scenario,
        requests=v["requests"],
        bytes=v["bytes"],
        duration_s=duration_s,
        errors={k: v[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=v["p50_us"] / 1000,
        p99_ms=v["p99_us"] / 1000,
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        background_cores=max(0.0, (busy1 - busy0 - server_cpu - wrk_cpu) / duration_s),
    )
    if server.admin_url:
        after = lookups(server)
        run.extra = {k: after.get(k, 0) - before_hits.get(k, 0) for k in ("hit", "miss", "stream")}
        if run.extra["miss"] or run.extra["stream"]:
            log(f"  warning: castedge served {run.extra} during a hit run")
    if any(run.errors.values()):
        log(f"  warning: {server.name} {scenario}: wrk counted errors {run.errors}")
    return run


# -- the benchmark -----------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nginx = subprocess.run(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True
    )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": metadata.version("uvloop"),
        "nginx": nginx.stderr.strip().removeprefix("nginx version: "),
        "wrk": (wrk.stdout + wrk.stderr).split("[")[0].strip().removeprefix("wrk "),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


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
        "machine": machine(),
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
    script.write_text(WRK_SCRIPT.replace("PATHS", ", ".join(json.dumps(p) for p, _, _ in files)))
    for workers in args.workers:
        first = len(servers)
        try:
            measure_workers(args, doc, workdir, servers, files, script, workers)
        finally:
            # The next worker count gets the cores to itself.
            for server in reversed(servers[first:]):
                server.stop()
            del servers[first:]
    doc["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
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
    nginx = start_nginx(workdir, workdir, server_cpu, servers, workers)
    castedge = start_castedge(workdir, server_cpu, servers, workers)
    measured = [nginx, castedge]
    if baseline:
        measured.append(start_fileresponse(workdir, workdir, server_cpu, servers))

    log("warming castedge's cache (one miss per file) and checking every server's answers")
    for path, digest, _head in files:
        status, body = http_get(castedge.url, path)
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
                for retry in range(args.retries + 1):
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
                        cpu=client_cpu,
                        headers=headers,
                    )
                    run.extra.update(attempt=attempt, retry=retry)
                    doc["runs"].append(run.as_dict())
                    log(
                        f"  {run.gb_per_s:.2f} GB/s, {run.req_per_s:,.0f} req/s, server CPU "
                        f"{run.server_cpu_s:.2f} s, background {run.background_cores:.2f} cores"
                    )
                    if run.background_cores <= BACKGROUND_WARN_CORES or retry == args.retries:
                        break
                    # Someone else's job is using the machine; give it a moment to pass.
                    log(f"  disturbed; running it again in {RETRY_PAUSE_S:g} s")
                    time.sleep(RETRY_PAUSE_S)

    if workers == 1:
        log("timing first bytes of hits and misses with curl")
        doc["hit_ttfb_s"] = {
            server.name: hit_ttfb(server, files[0][0], args.ttfb_samples, client_cpu)
            for server in measured
        }
        doc["miss"] = miss_timings(castedge, workdir, files[0][0], args.miss_samples, client_cpu)


def choose_cpus(args: argparse.Namespace, workers: int) -> tuple[int | None, int | None]:
    """The servers' core and wrk's: apart with one worker, not pinned with several."""
    allowed = sorted(os.sched_getaffinity(0))
    if workers > 1 or args.no_pin or len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    server_cpu = args.server_cpu if args.server_cpu in allowed else allowed[0]
    client_cpu = args.client_cpu if args.client_cpu in allowed else allowed[-1]
    if client_cpu == server_cpu:
        client_cpu = next(c for c in allowed if c != server_cpu)
    return server_cpu, client_cpu


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
        "| Scenario | nginx | castedge | FileResponse | castedge/nginx | Target | Met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, values, spec, target, met in rows:
        runs_of = bound.get(id(values), {})
        cells = [fmt(values.get(n), spec, client_bound(runs_of.get(n))) for n in names]
        ratio = quotient(values.get("castedge"), values.get("nginx"))
        lines.append(f"| {label} | {' | '.join(cells)} | {fmt(ratio, '.2f')} | {target} | {met} |")
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
        f"| Scenario | {' | '.join(heads)} | Target | Met |",
        "|---|" + "---:|" * len(heads) + "---|---|",
    ]
    for label, table, figure, spec, target, met, mark in rows:
        values = per(table, figure)
        cells = [fmt(values[col], spec, mark and client_bound(table[col])) for col in cols]
        cells += [fmt(quotient(values[(name, n)], values[(name, 1)]), ".2f") for name, n in ratios]
        lines.append(f"| {label} | {' | '.join(cells)} | {target} | {met} |")
    return lines, checks


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    """The Markdown tables and whether castedge met every target it was measured against."""
    runs, m, s = doc["runs"], doc["machine"], doc["settings"]
    lines = [
        f"Machine: {m['nproc']} × {m['cpu']}, Linux {m['kernel']}, Python {m['python']}, "
        f"aiohttp {m['aiohttp']}, uvloop {m['uvloop']}, {m['nginx']}, wrk {m['wrk']}; "
        f"load average before {' '.join(m['loadavg'])}.",
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
    # Bounded runs: a typo must not load the machine for an hour.
    args.files = min(max(args.files, 1), 64)
    args.size_mb = min(max(args.size_mb, 1), 2000)
    args.duration = min(max(args.duration, 1), 120)
    args.repeat = min(max(args.repeat, 1), 10)
    args.retries = min(max(args.retries, 0), 5)
    args.connections = min(max(args.connections, 1), 1000)
    args.probe_connections = min(max(args.probe_connections, 1), 1000)
    args.miss_samples = min(max(args.miss_samples, 1), 50)
    args.ttfb_samples = min(max(args.ttfb_samples, 1), 1000)
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


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace(parent: Path | None) -> Iterator[tuple[Path, list[Server]]]:
    """A temporary directory and the servers started in it, both gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="castedge-bench-", dir=parent))
    servers: list[Server] = []
    try:
        yield workdir, servers
    except Exception:
        for server in servers:
            tail = server.log_tail()
            if tail.strip():
                log(f"--- {server.name} log ---\n{tail}")
        raise
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # one stuck server must not leave the others running
                log(f"could not stop {server.name} (pid {server.proc.pid}): {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_fileresponse is not None:
        serve_fileresponse(args.serve_fileresponse.resolve(), args.port)
        return 0
    missing = [
        tool
        for tool in ("wrk", "curl")
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}")
    ]
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        missing.append("nginx")
    if missing:
        log(f"missing: {', '.join(missing)} (scripts/install-sysdeps.sh bench installs them)")
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with workspace(args.tmpdir) as (workdir, servers):
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
