"""``python -m benchmarks``: the options, the order the scenarios run in, the outputs.

Run from the repository root. The default run takes about a minute and a half;
``--quick`` takes seconds with tiny sizes (the suite's own test runs it), ``--total
1TB`` adds a terabyte through one node. Every load is bounded in time (each option is
clamped) and in count (``--max-requests`` per wrk run), and goes only to 127.0.0.1 or
to the ``--target`` addresses given.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from harness import log

from benchmarks.suite import report, scenarios, soak, storm
from benchmarks.suite.scenarios import Bench, Remote

SCENARIOS = ("seek", "hls", "locator", "storm", "soak")
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
#: Small enough for seconds; the Spotify app still makes two ranges of an episode.
QUICK = {
    "concurrency": [2, 8],
    "run_seconds": 1.0,
    "duration": 1.0,
    "seek_mb": 20,
    "hls_segments": 6,
    "episode_mb": 12,
    "storm_apps": [3],
    "soak_apps": 2,
    "upstream_latency": 0.005,
    "upstream_rate": 200e6,
    "locator_connections": 4,
    "storm_spread": 0.1,
}


def size(text: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?B?)\s*", text.upper())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1TB, 500GB)")
    return int(float(m[1]) * UNITS[m[2] if m[2].endswith("B") or not m[2] else m[2] + "B"])


def numbers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from exc


def target(text: str) -> tuple[str, str]:
    name, _, url = text.partition("=")
    if name not in ("castedge", "nginx") or not re.fullmatch(r"http://[\w.\-\[\]:]+:\d+", url):
        raise argparse.ArgumentTypeError(
            f"--target {text!r}: expected castedge=http://HOST:PORT or nginx=http://HOST:PORT"
        )
    return name, url


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds-long run, tiny sizes")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="which to run (all)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each side (1)")
    p.add_argument(
        "--concurrency",
        type=numbers,
        default=[4, 32, 128],
        help="connections for seek and HLS (4,32,128)",
    )
    p.add_argument("--run-seconds", type=float, default=3.0, help="seconds per wrk run (3)")
    p.add_argument("--duration", type=float, default=10.0, help="mixed soak seconds (10)")
    p.add_argument("--seek-mb", type=int, default=500, help="the lesson's size in MB (500)")
    p.add_argument("--hls-segments", type=int, default=60, help="1 MB HLS segments (60)")
    p.add_argument("--hls-segment-bytes", type=int, default=1_000_000, help=argparse.SUPPRESS)
    p.add_argument("--episode-mb", type=int, default=30, help="podcast episode MB (30)")
    p.add_argument(
        "--storm-apps",
        type=numbers,
        default=[10, 50, 100],
        help="apps per release storm (10,50,100)",
    )
    p.add_argument("--storm-spread", type=float, default=0.5, help="apps start within (s)")
    p.add_argument("--soak-apps", type=int, default=10, help="apps per soak release (10)")
    p.add_argument("--upstream-latency", type=float, default=0.02, help="S3 latency (s)")
    p.add_argument(
        "--upstream-rate", type=float, default=40e6, help="S3 bytes/s per connection (40e6)"
    )
    p.add_argument("--locator-connections", type=int, default=32, help="redirect storm (32)")
    p.add_argument("--total", type=size, default=0, help="also push this much through a node")
    p.add_argument("--time-cap", type=float, default=3600.0, help="seconds --total may take")
    p.add_argument("--max-requests", type=int, default=50_000_000, help="cap per wrk run")
    p.add_argument(
        "--target",
        type=target,
        action="append",
        default=[],
        help="a remote server: castedge=http://HOST:PORT or nginx=http://HOST:PORT",
    )
    p.add_argument("--signing-key", help="KEY_ID:SECRET of a remote edge (with --target)")
    p.add_argument(
        "--write-media",
        type=Path,
        metavar="DIR",
        help="write the media files for remote servers to DIR and exit",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results"),
        help="where results.md, results.json and the plots go",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--seed", type=int, default=20250101)
    p.add_argument("--tmpdir", type=Path, help="parent of the temporary directory")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    # Bounded runs: a typo must not load a machine, or someone else's, for a day.
    harness.bound(
        args,
        workers=(1, 64),
        run_seconds=(1, 120),
        duration=(1, 3600),
        seek_mb=(4, 4000),
        hls_segments=(1, 1000),
        episode_mb=(2, 500),
        soak_apps=(1, 500),
        upstream_latency=(0, 5),
        upstream_rate=(1e5, 1e10),
        locator_connections=(1, 1000),
        time_cap=(10, 6 * 3600),
        max_requests=(1000, 10**9),
        total=(0, 10**13),
    )
    args.concurrency = [min(max(c, 1), 1000) for c in args.concurrency]
    args.storm_apps = [min(max(n, 1), 2000) for n in args.storm_apps]
    targets = dict(args.target)
    if targets and set(targets) != {"castedge", "nginx"}:
        p.error("--target: give both castedge=… and nginx=…")
    if targets and not args.signing_key:
        p.error("--target needs --signing-key KEY_ID:SECRET (the remote edge's)")
    return args


def run(args: argparse.Namespace, workdir: Path, servers: list[harness.Server]) -> dict[str, Any]:
    server_cpu, client_cpu = harness.choose_cpus(args.no_pin, server=0, client=1)
    if client_cpu is not None:
        # This process is the load generator too (the podcast apps, the checks).
        os.sched_setaffinity(0, {client_cpu})
    targets = dict(args.target)
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python -m benchmarks", shlex.join(sys.argv[1:])]).strip(),
        "machine": harness.machine(nginx=not targets),
        "settings": {
            **{k: v for k, v in vars(args).items() if isinstance(v, int | float | str | list)},
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
        },
        "rows": [],
    }
    media = workdir / "media"
    log(f"writing the media under {media}")
    hls_paths, bulk = scenarios.write_media(media, args)
    bench = Bench(args, workdir, servers, server_cpu, client_cpu, media)
    bench.hls_paths, bench.bulk_paths = hls_paths, bulk
    bench.token = scenarios.mint_token(time.time())
    wanted = set(args.scenarios)
    if targets:
        # Remote nodes: only the scenarios that need nothing but their URL.
        key_id, _, secret = args.signing_key.partition(":")
        bench.token = scenarios.mint_token(time.time(), (key_id, secret))
        bench.edge = Remote("castedge", targets["castedge"])
        bench.nginx = Remote("nginx", targets["nginx"])
        skipped = wanted - {"seek", "hls"}
        if skipped:
            log(f"remote targets: skipping {', '.join(sorted(skipped))} (they need local servers)")
        wanted &= {"seek", "hls"}
    else:
        scenarios.start_servers(bench)
    rows = doc["rows"]
    scenarios.warm_edge(bench)
    world = None
    try:
        if "seek" in wanted:
            rows += [r.as_dict() for r in scenarios.seek(bench)]
        if "hls" in wanted:
            rows += [r.as_dict() for r in scenarios.hls(bench)]
        if wanted & {"locator", "soak"}:
            world = scenarios.start_locator(bench)
        if "locator" in wanted and world is not None:
            rows += [r.as_dict() for r in scenarios.redirects(bench, world)]
        if "storm" in wanted:
            rows += [r.as_dict() for r in storm.storms(bench)]
        if "soak" in wanted and world is not None:
            rows += [r.as_dict() for r in soak.soak(bench, world)]
        if args.total:
            rows += [r.as_dict() for r in soak.terabyte(bench)]
    finally:
        if world is not None:
            world.stop()
        if bench.upstream is not None:
            bench.upstream.stop()
        # Each castedge drains before it exits: stop them all at once, not in turn
        # (the workspace stops whatever is left).
        with concurrent.futures.ThreadPoolExecutor(max(1, len(servers))) as pool:
            list(pool.map(lambda server: server.stop(), servers))
    doc["machine"]["loadavg_after"] = harness.loadavg()
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_media is not None:
        hls, bulk = scenarios.write_media(args.write_media, args)
        log(
            f"wrote the lesson, {len(set(hls))} HLS files and {len(bulk)} bulk files under "
            f"{args.write_media}; serve it as the edge's storage.dir and as nginx's root"
        )
        return 0
    tools = ["wrk"] if args.target else ["wrk", "nginx"]
    missing = harness.missing_tools(tools)
    if missing:
        log(f"missing: {', '.join(missing)} (scripts/install-sysdeps.sh bench installs them)")
        return 2
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            log("matplotlib is missing: pip install -e '.[bench]' (or pass --no-plots)")
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {}

    def measure(workdir: Path, servers: list[harness.Server]) -> dict[str, Any]:
        doc.update(run(args, workdir, servers))
        return doc

    def write(result: dict[str, Any]) -> tuple[str, bool]:
        table = report.markdown(result)
        (args.out / "results.md").write_text(table)
        if not args.no_plots:
            result["plots"] = [p.name for p in report.plots(result, args.out)]
        errors = sum(row["errors"] for row in result["rows"])
        return table, errors == 0

    status = harness.run_and_report(
        measure,
        write,
        prefix="castedge-bench-suite-",
        tmpdir=args.tmpdir,
        json_path=args.out / "results.json",
    )
    if doc:
        log(
            f"results in {args.out}/: results.md, results.json"
            + ("" if args.no_plots else ", throughput.png, p99.png")
        )
    return status
