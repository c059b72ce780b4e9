"""The video seek pattern on castedge's edge beside nginx: random 1-2 MB ranges of 500 MB.

A player seeking through a lesson asks for ranges scattered over the file. wrk, with a
Lua script drawing each request's range at random (the same seed for every server),
sends them over 32 connections to:

* nginx, 1 worker, ``sendfile on``, serving the file from disk (no token check);
* ``castedge edge`` (one process), through a signed URL (token verified per request);
* the same edge on a public folder (no token), to show what verification costs.

The edge serves the file from its cache (warmed by one GET first); everything lives in
the page cache, so this measures the servers, not the disk. Each server is pinned to
one core and wrk to the other. The token micro-benchmark (``bench_token.py``) gives the
per-request cost of verification. Run from the repository root (``make bench`` installs
nginx-light and wrk)::

    .venv/bin/python benchmarks/edge_seek.py [--duration 10] [--repeat 3] [--json FILE]

Prints a Markdown table. Every process and temporary file is removed on exit, Ctrl-C
included. Exits 1 when castedge misses the target (signed seeks ≥ 0.8 × nginx).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from harness import HOST, MB, Server, http_get, log

ADMIN_TOKEN = "bench-edge-admin-0123456789"  # noqa: S105 - a throwaway token on loopback
SIGNING_KEY = "bench-edge-signing-key-0123456789abcdef"
LESSON = "courses/bench/ch01/lesson.mp4"
PUBLIC = "marketing/lesson.mp4"

#: The issue's target: seek throughput of the signed edge against nginx on one worker each.
TARGET_VS_NGINX = 0.8
TARGET_VERIFY_US = 20.0
#: More than this many cores of other work during a run marks it disturbed (re-run).
#: Undisturbed runs at 7-10 GB/s over loopback measured at most 0.1 (softirq work that
#: no process is charged for); another job on the machine shows as 0.2 or more.
BACKGROUND_WARN_CORES = 0.15

# One thread, so one random sequence per run; the seed makes every server see the same.
WRK_SCRIPT = (
    """\
local path = PATH
local size = SIZE
math.randomseed(SEED)
request = function()
  local length = math.random(1000000, 2000000)
  local first = math.random(0, size - length)
  return wrk.format("GET", path, {["Range"] = "bytes=" .. first .. "-" .. (first + length - 1)})
end
"""
    + harness.WRK_DONE
)


# -- processes -------------------------------------------------------------------------


def start_edge(workdir: Path, media: Path, cpu: int | None, servers: list[Server]) -> Server:
    """``castedge edge`` on the media directory, ``marketing/`` public."""
    config = {
        "storage": {"dir": str(media)},
        "cache": {"dir": str(workdir / "cache"), "max_size": "10GB"},
        "edge": {
            "listen": f"{HOST}:0",
            "region": "bench",
            "public_prefixes": ["marketing/"],
            "access_log": None,
        },
        "admin": {"listen": f"{HOST}:0", "token": ADMIN_TOKEN},
        "signing": {"keys": {"bench": SIGNING_KEY}, "active": "bench"},
    }
    return harness.start_castedge(
        "edge", config, workdir / "edge.yaml", cpu, servers, name="castedge edge"
    )


# -- HTTP ------------------------------------------------------------------------------


def check_range(name: str, url: str, expected: bytes, start: int) -> None:
    """Refuse to measure a server that answers wrongly: a fast 403 is no result."""
    end = start + len(expected) - 1
    status, body = http_get(url, {"Range": f"bytes={start}-{end}"})
    if status != 206 or body != expected:
        raise RuntimeError(f"{name}: Range {start}-{end} gave {status}, {len(body)} bytes, wrong")


def wait_cached(admin: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body = http_get(admin + "/healthz")
        node = json.loads(body) if status == 200 else {}
        doc = node.get("roles", {}).get("edge", {})
        if doc.get("store", {}).get("objects", 0) >= 2 and doc.get("fills_in_progress") == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the edge never cached the lesson: {doc}")
        time.sleep(0.2)


# -- wrk -------------------------------------------------------------------------------


@dataclass
class Run(harness.WrkRun):
    """One wrk run against one target, with the CPU both sides used."""

    target: str
    round: int = 0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.duration_s / MB

    def as_dict(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        doc.update(mb_per_s=self.mb_per_s, req_per_s=self.req_per_s)
        return doc


def token_figures() -> dict[str, float]:
    """Microseconds per verify and mint, from benchmarks/bench_token.py."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_token", "--number", "20000", "--repeat", "5"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        check=False,
    )
    figures = {}
    for m in re.finditer(r"^\s+(verify[^\n]*?|mint[^\n]*?)\s+([\d.]+) us$", out.stdout, re.M):
        figures[m[1].strip()] = float(m[2])
    if not figures:
        raise RuntimeError(f"bench_token printed no figures:\n{out.stdout}\n{out.stderr}")
    return figures


# -- the benchmark ---------------------------------------------------------------------


def make_lesson(media: Path, size: int) -> bytes:
    """Write the lesson (random bytes: nothing compresses) and its public copy."""
    lesson = media / LESSON
    lesson.parent.mkdir(parents=True)
    with open(lesson, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * 1024 * 1024))
            f.write(chunk)
            left -= len(chunk)
    (media / PUBLIC).parent.mkdir(parents=True)
    os.link(lesson, media / PUBLIC)
    with open(lesson, "rb") as f:
        f.seek(size // 2)
        return f.read(1_500_000)


def signed_url(config: Path, base: str) -> str:
    out = subprocess.run(
        [harness.castedge_command(), "sign", LESSON, "--config", str(config), "--base", base]
        + ["--scope", "courses/bench/", "--ttl", "6h", "--subject", "bench"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def seek(
    args: argparse.Namespace,
    name: str,
    server: Server,
    url: str,
    script: Path,
    *,
    cpu: int | None,
    attempt: int,
) -> Run:
    """One wrk run of ``script`` against one target."""
    log(f"wrk -c{args.connections} -d{args.duration}s on {name} ({attempt + 1})")
    wrk = harness.run_wrk(
        name, server, url, script, connections=args.connections, duration=args.duration, cpu=cpu
    )
    if any(wrk.errors.values()):
        log(f"  warning: {name}: wrk counted errors {wrk.errors}")
    run = Run(**vars(wrk), target=name, round=attempt)
    log(
        f"  {run.mb_per_s:,.0f} MB/s, {run.req_per_s:,.0f} req/s, server CPU "
        f"{run.server_cpu_s:.2f} s, background {run.background_cores:.2f} cores"
    )
    return run


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    server_cpu, client_cpu = harness.choose_cpus(args.no_pin)
    size = args.size_mb * MB
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": harness.machine(),
        "settings": {
            "size_bytes": size,
            "connections": args.connections,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "retries": args.retries,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "seed": args.seed,
        },
    }
    media = workdir / "media"
    media.mkdir()
    log(f"writing a {args.size_mb} MB lesson under {media}")
    middle = make_lesson(media, size)

    log("starting nginx and castedge edge, one worker each")
    nginx = harness.start_nginx(workdir, media, server_cpu, servers, types="video/mp4 mp4")
    edge = start_edge(workdir, media, server_cpu, servers)
    assert edge.admin_url is not None
    signed = signed_url(workdir / "edge.yaml", edge.url)
    targets = {
        "nginx": (nginx, f"{nginx.url}/{LESSON}"),
        "castedge, signed URL": (edge, signed),
        "castedge, public folder": (edge, f"{edge.url}/{PUBLIC}"),
    }

    log("warming the edge's cache (one whole GET of each path) and checking every answer")
    for name in ("castedge, signed URL", "castedge, public folder"):
        status, body = http_get(targets[name][1])
        if status != 200 or len(body) != size:
            raise RuntimeError(f"{name}: warming GET gave {status}, {len(body)} bytes")
        del body
    wait_cached(edge.admin_url)
    for name, (_, url) in targets.items():
        check_range(name, url, middle, size // 2)

    runs: list[Run] = []
    for attempt in range(args.repeat):
        for name, (server, url) in targets.items():
            script = workdir / "seek.lua"
            path = "/" + url.split("/", 3)[3]
            script.write_text(
                WRK_SCRIPT.replace("PATH", json.dumps(path))
                .replace("SIZE", str(size))
                .replace("SEED", str(args.seed + attempt))
            )
            measure = functools.partial(
                seek, args, name, server, url, script, cpu=client_cpu, attempt=attempt
            )
            runs += harness.until_undisturbed(
                measure, retries=args.retries, warn_cores=BACKGROUND_WARN_CORES
            )
    doc["runs"] = [run.as_dict() for run in runs]
    log("timing token verification (benchmarks/bench_token.py)")
    doc["token_us"] = token_figures()
    doc["machine"]["loadavg_after"] = harness.loadavg()
    return doc


# -- the report ------------------------------------------------------------------------


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    """The Markdown table, and whether both targets were met.

    Figures are medians of the undisturbed runs: on a shared machine throughput noise
    goes both ways (a lucky run is as far off as an unlucky one), so neither the best
    nor the worst run stands for the server. Each round runs the three targets back to
    back, so the per-round ratio compares them under the same conditions.
    """
    runs = doc["runs"]
    names = ["nginx", "castedge, signed URL", "castedge, public folder"]

    by_target = {
        n: harness.undisturbed([r for r in runs if r["target"] == n], BACKGROUND_WARN_CORES)
        for n in names
    }

    def median(n: str, key: str) -> float:
        return float(statistics.median(float(r[key]) for r in by_target[n]))

    nginx_mb = median("nginx", "mb_per_s")
    rounds: dict[int, dict[str, float]] = {}
    for r in runs:
        if r["background_cores"] <= BACKGROUND_WARN_CORES:
            # The last undisturbed run of each target in each round.
            rounds.setdefault(r["round"], {})[r["target"]] = r["mb_per_s"]
    paired = {
        n: [v[n] / v["nginx"] for v in rounds.values() if n in v and v.get("nginx")]
        for n in names[1:]
    }
    ratio = median("castedge, signed URL", "mb_per_s") / nginx_mb if nginx_mb else 0.0
    verify = max(v for k, v in doc["token_us"].items() if k.startswith("verify"))
    met = ratio >= TARGET_VS_NGINX
    m, s = doc["machine"], doc["settings"]
    pin = (
        f"server pinned to CPU {s['server_cpu']}, wrk to CPU {s['client_cpu']}"
        if s["server_cpu"] is not None
        else "not pinned"
    )
    lines = [
        harness.machine_line(m, load_after=True),
        f"Run {doc['date']}: one {s['size_bytes'] // MB} MB file, random ranges of 1-2 MB, "
        f"wrk -t1 -c{s['connections']} -d{s['duration_s']}s, {s['repeat']} rounds "
        f"(seeds {s['seed']}…{s['seed'] + s['repeat'] - 1}); {pin}; 1 MB = 10^6 bytes; "
        "medians of the undisturbed runs.",
        "",
        *harness.table_head(
            ["Server (1 worker)", "MB/s", "MB/s, all runs", "req/s", "p50 ms", "p99 ms"]
            + ["server CPU %", "wrk CPU %", "× nginx", "× nginx, per round"],
            "l" + "r" * 9,
        ),
    ]
    for n in names:
        mine = by_target[n]
        low = min(r["mb_per_s"] for r in mine)
        high = max(r["mb_per_s"] for r in mine)
        per_round = paired.get(n, [])
        rounds_text = f"{min(per_round):.2f}–{max(per_round):.2f}" if per_round else "—"
        cpu = 100 * median(n, "server_cpu_s") / median(n, "duration_s")
        wrk_cpu = 100 * median(n, "wrk_cpu_s") / median(n, "duration_s")
        lines.append(
            harness.table_row(
                [
                    n,
                    f"{median(n, 'mb_per_s'):,.0f}",
                    f"{low:,.0f}–{high:,.0f}",
                    f"{median(n, 'req_per_s'):,.0f}",
                    f"{median(n, 'p50_ms'):.1f}",
                    f"{median(n, 'p99_ms'):.1f}",
                    f"{cpu:.0f}",
                    f"{wrk_cpu:.0f}",
                    f"{median(n, 'mb_per_s') / nginx_mb:.2f}",
                    rounds_text if n != "nginx" else "—",
                ]
            )
        )
    lines += [
        "",
        f"Target: signed seeks ≥ {TARGET_VS_NGINX} × nginx — "
        + (f"met ({ratio:.2f})." if met else f"**not met** ({ratio:.2f})."),
        "Token verification per request (bench_token.py, best of 5 × 20 000): "
        + ", ".join(f"{k} {v:.1f} µs" for k, v in doc["token_us"].items() if k.startswith("verify"))
        + f" — target ≤ {TARGET_VERIFY_US:g} µs: "
        + ("met." if verify <= TARGET_VERIFY_US else "**not met**."),
    ]
    noisy = [r for r in runs if r["background_cores"] > BACKGROUND_WARN_CORES]
    if noisy:
        lines.append(
            f"Disturbance: {len(noisy)} of {len(runs)} runs saw more than "
            f"{BACKGROUND_WARN_CORES} cores of other work "
            f"(re-run up to {doc['settings']['retries']} times); they are left out."
        )
    return "\n".join(lines), met and verify <= TARGET_VERIFY_US


# -- entry point -----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="file size in MB (default 500)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server; best kept (3)")
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a disturbed run")
    parser.add_argument("--seed", type=int, default=20250101, help="first wrk random seed")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--json", metavar="FILE", type=Path, help="save the raw numbers here")
    parser.add_argument("--tmpdir", type=Path, help="parent of the temporary directory")
    args = parser.parse_args(argv)
    harness.bound(
        args,
        size_mb=(10, 4000),
        connections=(1, 1000),
        duration=(1, 120),
        repeat=(1, 10),
        retries=(0, 5),
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = harness.missing_tools(("wrk", "taskset", "nginx"))
    if "wrk" in missing or "nginx" in missing:
        log(f"missing: {', '.join(missing)} (scripts/install-sysdeps.sh bench installs them)")
        return 2
    return harness.run_and_report(
        lambda workdir, servers: benchmark(args, workdir, servers),
        report,
        prefix="castedge-edge-seek-",
        tmpdir=args.tmpdir,
        json_path=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
