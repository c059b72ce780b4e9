"""The hit path against nginx: CPU per request for probes, HLS segments, large files; idle RSS.

One worker each, side by side in the same run, both writing a combined access log to a
file, as an operator runs them:

* nginx, 1 worker, ``sendfile on``, ``tcp_nopush on``, ``open_file_cache``,
  ``access_log … combined``;
* ``castedge origin`` and ``castedge edge`` with ``http.fast_path: true`` (the default)
  and the same with ``fast_path: false`` (every request through aiohttp), caches
  warmed first so every measured request is a hit.

Scenarios (wrk, one thread, servers on one core and wrk on the other):

* **probes**: ``Range: bytes=0-1`` over 64 kept-alive connections on a 50 MB episode
  (origin); ranked by probes per server CPU-second;
* **HLS**: 1 MB segments over 32 connections, wrk rotating over 64 of them, through
  signed URLs on the edge (a token checked per request) and as plain files on nginx;
  ranked by server CPU per request;
* **large**: four 50 MB episodes over 16 connections (origin); ranked by server
  CPU-seconds per GB, with wrk's and the whole machine's beside it (on loopback the
  TCP work moves between server and client with how the server sends);
* **idle**: 2,000 connections to one worker, each having had one probe answered and
  left open; the worker's RSS growth per 1,000 (from ``/proc/<pid>/status``).

Server CPU is ``utime + stime`` from ``/proc`` of every process of the server; the
user-mode part (``utime``) is given beside it for segments and large files, since that
is the server's own code, while the kernel's part on loopback also holds some of wrk's
TCP work, more the faster the server sends (``benchmarks/README.md``). Each
scenario runs ``--repeat`` times, servers alternating, and the median is reported,
with the machine's load (``/proc/loadavg``) at each round.

    .venv/bin/python benchmarks/hitpath.py [--duration 8] [--repeat 3] [--json FILE]

Exits 1 when a target is missed. Needs ``ulimit -n`` above ``--idle`` plus a hundred.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from harness import HOST, MB, Server, http_get, log

ADMIN_TOKEN = "bench-hitpath-admin-0123456789"  # noqa: S105 - a throwaway token on loopback
SIGNING_KEY = "bench-hitpath-signing-key-0123456789abcdef"
EPISODES = [f"podcast/episode-{i}.mp3" for i in range(4)]
SEGMENTS = [f"courses/bench/hls/segment-{i:03d}.ts" for i in range(64)]
TYPES = "audio/mpeg mp3; video/mp2t ts"

#: The issue's targets, castedge against nginx in the same run.
TARGET_PROBES = 0.30  # probes per server CPU-second, × nginx's
TARGET_HLS = 0.8  # nginx's CPU per segment / castedge's
TARGET_LARGE = 0.95  # nginx's CPU per GB / castedge's
TARGET_IDLE_MIB = 9.8  # RSS per 1,000 idle keep-alive connections, at most

SCENARIOS = ("probes", "hls", "large", "idle")

PROBE_SCRIPT = 'wrk.headers["Range"] = "bytes=0-1"\n' + harness.WRK_DONE


def rotate_script(paths: Sequence[str]) -> str:
    return harness.ROTATE_SCRIPT.replace("{PATHS}", "{" + ", ".join(f'"{p}"' for p in paths) + "}")


def make_media(media: Path) -> None:
    for name, size in [*((e, 50 * MB) for e in EPISODES), *((s, MB) for s in SEGMENTS)]:
        path = media / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def castedge_config(role: str, workdir: Path, media: Path, name: str, fast: bool) -> dict[str, Any]:
    section: dict[str, Any] = {
        "listen": f"{HOST}:0",
        "access_log": str(workdir / f"{name}.access.log"),
        "http": {"fast_path": fast},
    }
    config: dict[str, Any] = {
        "storage": {"dir": str(media)},
        "cache": {"dir": str(workdir / f"{name}-cache"), "max_size": "10GB"},
        role: section,
        "admin": {"listen": f"{HOST}:0", "token": ADMIN_TOKEN},
    }
    if role == "edge":
        section["region"] = "bench"
        config["signing"] = {"keys": {"bench": SIGNING_KEY}, "active": "bench"}
    return config


def sign(config: Path, base: str) -> str:
    """A token for the whole course, as a player gets one: ``/s/<token>/`` prefix."""
    out = subprocess.run(
        [harness.castedge_command(), "sign", SEGMENTS[0], "--config", str(config), "--base", base]
        + ["--scope", "courses/bench/", "--ttl", "6h", "--subject", "bench"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    url = out.stdout.strip()
    return url[: url.index("/" + SEGMENTS[0])]


def warm(server: Server, base: str, paths: Sequence[str]) -> None:
    """Fetch every file once (a miss fills the cache), then once more as a hit."""
    for path in paths:
        for _ in range(2):
            status, body = http_get(f"{base}/{path}")
            if status != 200:
                raise RuntimeError(f"{server.name}: GET {path} gave {status}")
    time.sleep(0.5)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def serving_pid(server: Server) -> int:
    pids = server.pids()
    return pids[-1] if len(pids) > 1 else pids[0]


def idle_rss(server: Server, path: str, count: int) -> dict[str, float]:
    """Open ``count`` connections, answer one probe on each, keep them; RSS before and after."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    request = f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nRange: bytes=0-1\r\n\r\n".encode()
    pid = serving_pid(server)
    before = rss(pid)
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(request)
            got = b""
            while not got.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in got:
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError(f"{server.name} closed a connection")
                got += chunk
            if not got.startswith(b"HTTP/1.1 206"):
                raise RuntimeError(f"{server.name}: probe gave {got[:40]!r}")
            socks.append(sock)
        time.sleep(2)
        after = rss(pid)
    finally:
        for sock in socks:
            sock.close()
    return {
        "before_mib": before / 2**20,
        "after_mib": after / 2**20,
        "per_1000_mib": (after - before) / 2**20 / count * 1000,
    }


def one_run(
    what: str, server: Server, url: str, script: Path, conns: int, args: argparse.Namespace,
    cpu: int | None,
) -> dict[str, Any]:  # fmt: skip
    run = harness.run_wrk(
        what, server, url, script, connections=conns, duration=args.duration, cpu=cpu
    )
    if any(run.errors.values()):
        log(f"  warning: {what} on {server.name}: wrk counted errors {run.errors}")
    doc = {**vars(run), "server": server.name, "load": harness.loadavg()[0]}
    doc["req_per_s"] = run.req_per_s
    doc["us_per_req"] = run.server_cpu_s / run.requests * 1e6 if run.requests else 0.0
    doc["user_us_per_req"] = run.server_user_s / run.requests * 1e6 if run.requests else 0.0
    doc["req_per_cpu_s"] = run.requests / run.server_cpu_s if run.server_cpu_s else 0.0
    gb = run.bytes / 1e9
    doc["cpu_s_per_gb"] = run.server_cpu_s / gb if gb else 0.0
    doc["user_cpu_s_per_gb"] = run.server_user_s / gb if gb else 0.0
    # On loopback part of either side's TCP work (the ACKs, the receiving) runs on the
    # core of whichever process is in the kernel when it comes, so how the work splits
    # between server and client depends on how the server sends: the whole machine's
    # CPU per GB is the figure no such split can move.
    doc["wrk_cpu_s_per_gb"] = run.wrk_cpu_s / gb if gb else 0.0
    machine_s = run.server_cpu_s + run.wrk_cpu_s + run.background_cores * run.duration_s
    doc["machine_cpu_s_per_gb"] = machine_s / gb if gb else 0.0
    log(
        f"  {what} {server.name}: {run.req_per_s:,.0f} req/s, {doc['us_per_req']:.1f} µs CPU/req,"
        f" {doc['cpu_s_per_gb']:.3f} CPU-s/GB, background {run.background_cores:.2f} cores,"
        f" load {doc['load']}"
    )
    return doc


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    server_cpu, client_cpu = harness.choose_cpus(args.no_pin)
    media = workdir / "media"
    log("writing the media: 4 × 50 MB episodes, 64 × 1 MB segments")
    make_media(media)
    doc: dict[str, Any] = {
        "machine": harness.machine(),
        "command": " ".join(["benchmarks/hitpath.py", *sys.argv[1:]]),
        "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "runs": [],
        "scenarios": args.only,
    }
    nginx = harness.start_nginx(
        workdir, media, server_cpu, servers, types=TYPES, access_log=workdir / "nginx.access.log"
    )
    castedge: dict[str, Server] = {}
    for role in ("origin", "edge"):
        for fast in (True, False):
            name = f"{role}, fast path {'on' if fast else 'off'}"
            config = castedge_config(role, workdir, media, name.replace(", ", "-"), fast)
            path = workdir / f"{role}-{'fast' if fast else 'aiohttp'}.yaml"
            castedge[name] = harness.start_castedge(
                role, config, path, server_cpu, servers, name=name
            )
    for name, server in castedge.items():
        log(f"warming {name}")
        if name.startswith("origin"):
            warm(server, server.url, EPISODES)
        else:
            cfg = workdir / f"edge-{'fast' if 'on' in name else 'aiohttp'}.yaml"
            base = sign(cfg, server.url)
            warm(server, base, SEGMENTS)
            server.url = base  # every edge request goes through the signed prefix
    probe = workdir / "probe.lua"
    probe.write_text(PROBE_SCRIPT)
    large = workdir / "large.lua"
    large.write_text(rotate_script(["/" + e for e in EPISODES]))
    hls_plain = workdir / "hls-plain.lua"
    hls_plain.write_text(rotate_script(["/" + s for s in SEGMENTS]))
    origins = [s for n, s in castedge.items() if n.startswith("origin")]
    edges = [s for n, s in castedge.items() if n.startswith("edge")]
    for rnd in range(args.repeat):
        log(f"round {rnd + 1} of {args.repeat}, load {harness.loadavg()}")
        for server in (nginx, *origins) if "probes" in args.only else ():
            url = f"{server.url}/{EPISODES[0]}"
            doc["runs"].append(
                {"scenario": "probes", "round": rnd}
                | one_run("probes", server, url, probe, 64, args, client_cpu)
            )
        for server in (nginx, *edges) if "hls" in args.only else ():
            if server is nginx:
                script = hls_plain
            else:
                # The signed prefix goes into every path wrk asks for.
                script = workdir / f"hls-{server.name.replace(' ', '-')}.lua"
                prefix = server.url.split("/", 3)[3]
                script.write_text(rotate_script([f"/{prefix}/{s}" for s in SEGMENTS]))
            root = "/".join(server.url.split("/", 3)[:3])
            doc["runs"].append(
                {"scenario": "hls", "round": rnd}
                | one_run("hls", server, root, script, 32, args, client_cpu)
            )
        for server in (nginx, *origins) if "large" in args.only else ():
            doc["runs"].append(
                {"scenario": "large", "round": rnd}
                | one_run("large", server, server.url, large, 16, args, client_cpu)
            )
    doc["idle"] = {}
    for server in (nginx, *origins) if "idle" in args.only else ():
        log(f"{args.idle} idle keep-alive connections on {server.name}")
        doc["idle"][server.name] = idle_rss(server, EPISODES[0], args.idle)
        log(f"  {doc['idle'][server.name]}")
    doc["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return doc


def round_ratios(doc: dict[str, Any], origin: str, edge: str) -> list[str]:
    """Each scenario's ratio to nginx round by round, as the table ranks it: the spread."""
    ranked = (
        ("probes", origin, "req_per_cpu_s", False),
        ("hls", edge, "us_per_req", True),
        ("large", origin, "cpu_s_per_gb", True),
    )
    found = []
    for scenario, server, key, inverse in ranked:
        ratios = []
        for rnd in sorted({r["round"] for r in doc["runs"] if r["scenario"] == scenario}):
            got = {
                r["server"]: r[key]
                for r in doc["runs"]
                if r["scenario"] == scenario and r["round"] == rnd
            }
            n, f = got.get("nginx"), got.get(server)
            if n and f:
                ratios.append(f"{n / f if inverse else f / n:.2f}")
        if ratios:
            found.append(f"{scenario} {', '.join(ratios)}")
    return found


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    def median(scenario: str, server: str, key: str) -> float:
        values = [
            r[key] for r in doc["runs"] if r["scenario"] == scenario and r["server"] == server
        ]
        return statistics.median(values) if values else float("nan")

    lines = [harness.machine_line(doc["machine"], load_after=False), ""]
    lines.append(f"Before: {doc['uptime_before']}; after: {doc['uptime_after']}")
    lines.append("")
    fast, slow, edge_fast, edge_slow = (
        "origin, fast path on", "origin, fast path off", "edge, fast path on",
        "edge, fast path off",
    )  # fmt: skip
    heads = ["Scenario (1 worker each, access logs on)", "nginx", "fast path", "aiohttp path",
             "fast/nginx", "aiohttp/nginx", "Target", "Met"]  # fmt: skip
    lines += harness.table_head(heads, "l" + "r" * 5 + "ll")
    met_all = True

    def row(label: str, n: float, f: float, a: float, ratio_f: float | None,
            ratio_a: float | None, target: str, met: bool | None, fmt: str) -> None:  # fmt: skip
        nonlocal met_all
        if met is False:
            met_all = False
        verdict = "" if met is None else ("yes" if met else "**no**")
        lines.append(
            harness.table_row(
                [
                    label,
                    fmt.format(n),
                    fmt.format(f),
                    fmt.format(a),
                    "" if ratio_f is None else f"{ratio_f:.2f}",
                    "" if ratio_a is None else f"{ratio_a:.2f}",
                    target,
                    verdict,
                ]  # fmt: skip
            )
        )

    ran = doc.get("scenarios", list(SCENARIOS))
    if "probes" in ran:
        n = median("probes", "nginx", "req_per_cpu_s")
        f = median("probes", fast, "req_per_cpu_s")
        a = median("probes", slow, "req_per_cpu_s")
        row("`bytes=0-1` probes, 64 conns: probes per server CPU-s", n, f, a, f / n, a / n,
            f"≥ {TARGET_PROBES} × nginx", f / n >= TARGET_PROBES, "{:,.0f}")  # fmt: skip
        n, f, a = (median("probes", s, "req_per_s") for s in ("nginx", fast, slow))
        row("— req/s", n, f, a, f / n, a / n, "", None, "{:,.0f}")
    if "hls" in ran:
        n = median("hls", "nginx", "us_per_req")
        f = median("hls", edge_fast, "us_per_req")
        a = median("hls", edge_slow, "us_per_req")
        row("1 MB HLS segments, signed (edge), 32 conns: server CPU µs per request", n, f, a,
            n / f, n / a, f"nginx/castedge ≥ {TARGET_HLS}", n / f >= TARGET_HLS,
            "{:.1f}")  # fmt: skip
        n, f, a = (median("hls", s, "user_us_per_req") for s in ("nginx", edge_fast, edge_slow))
        row("— of it in user mode (the server's own code)", n, f, a, None, None, "", None,
            "{:.1f}")  # fmt: skip
        n, f, a = (median("hls", s, "req_per_s") for s in ("nginx", edge_fast, edge_slow))
        row("— req/s", n, f, a, f / n, a / n, "", None, "{:,.0f}")
    if "large" in ran:
        n = median("large", "nginx", "cpu_s_per_gb")
        f = median("large", fast, "cpu_s_per_gb")
        a = median("large", slow, "cpu_s_per_gb")
        row("50 MB files, 16 conns: server CPU-s per GB", n, f, a, n / f, n / a,
            f"nginx/castedge ≥ {TARGET_LARGE}", n / f >= TARGET_LARGE, "{:.3f}")  # fmt: skip
        n, f, a = (median("large", s, "user_cpu_s_per_gb") for s in ("nginx", fast, slow))
        row("— of it in user mode (the server's own code)", n, f, a, None, None, "", None,
            "{:.3f}")  # fmt: skip
        n, f, a = (median("large", s, "bytes") / median("large", s, "duration_s") / 1e9
                   for s in ("nginx", fast, slow))  # fmt: skip
        row("— GB/s", n, f, a, f / n, a / n, "", None, "{:.2f}")
        for key, label in (
            ("wrk_cpu_s_per_gb", "— wrk's CPU-s per GB (nginx/castedge)"),
            ("machine_cpu_s_per_gb", "— the whole machine's CPU-s per GB (nginx/castedge)"),
        ):
            n, f, a = (median("large", s, key) for s in ("nginx", fast, slow))
            row(label, n, f, a, n / f, n / a, "", None, "{:.3f}")
    if "idle" in ran:
        idle = doc["idle"]
        n, f, a = (idle[s]["per_1000_mib"] for s in ("nginx", fast, slow))
        # Against a fixed bound, not nginx's figure: no ratio.
        row("RSS per 1,000 idle keep-alive connections (MiB, 2,000 open)", n, f, a,
            None, None, f"≤ {TARGET_IDLE_MIB} MiB", f <= TARGET_IDLE_MIB, "{:.2f}")  # fmt: skip
    lines.append("")
    rounds = round_ratios(doc, fast, edge_fast)
    if rounds:
        lines.append("By round, fast path against nginx: " + "; ".join(rounds) + ".")
        lines.append("")
    lines.append("Medians of the rounds; every run, with the load at its start:")
    for r in doc["runs"]:
        lines.append(
            f"- round {r['round'] + 1}, {r['scenario']}, {r['server']}: "
            f"{r['req_per_s']:,.0f} req/s, {r['us_per_req']:.1f} µs CPU/req"
            f" ({r.get('user_us_per_req', 0.0):.1f} in user mode), "
            f"{r['cpu_s_per_gb']:.3f} CPU-s/GB, "
            f"wrk {r['wrk_cpu_s'] / r['duration_s']:.0%} of a core"
            + (
                f" ({r['wrk_cpu_s_per_gb']:.3f} CPU-s/GB, machine {r['machine_cpu_s_per_gb']:.3f})"
                if r["scenario"] == "large"
                else ""
            )
            + ", "
            f"background {r['background_cores']:.2f} cores, load {r['load']}"
        )
    return "\n".join(lines), met_all


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=8, help="seconds per wrk run (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="rounds of every scenario (default 3)")
    p.add_argument("--idle", type=int, default=2000, help="idle connections (default 2000)")
    p.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk to cores")
    p.add_argument(
        "--only",
        type=lambda v: [s for s in v.split(",") if s],
        default=list(SCENARIOS),
        metavar="LIST",
        help=f"run only these scenarios, comma-separated (default: {','.join(SCENARIOS)})",
    )
    p.add_argument("--json", type=Path, help="write the raw numbers to this file")
    args = p.parse_args(argv)
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown or not args.only:
        p.error(f"--only: {', '.join(unknown) or 'nothing'} is not one of {', '.join(SCENARIOS)}")
    harness.bound(args, duration=(1, 120), repeat=(1, 10), idle=(10, 20000))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = harness.missing_tools(["nginx", "wrk"])
    if missing:
        log(f"missing: {', '.join(missing)} (scripts/install-sysdeps.sh installs them)")
        return 2
    return harness.run_and_report(
        lambda workdir, servers: benchmark(args, workdir, servers),
        report,
        prefix="castedge-hitpath-",
        json_path=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
