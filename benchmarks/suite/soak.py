"""The long runs: everything at once for ``--duration``, and ``--total`` through one node."""

from __future__ import annotations

import concurrent.futures
import time

import harness
from harness import log

from benchmarks.suite.measure import Figures, metered
from benchmarks.suite.scenarios import (
    LESSON,
    Bench,
    LocatorWorld,
    hls_script,
    seek_script,
    wrk_figures,
)
from benchmarks.suite.storm import new_episode, release


def soak(bench: Bench, world: LocatorWorld) -> list[Figures]:
    """Everything at once for ``--duration``: seeks, HLS, redirects and release waves."""
    assert bench.edge is not None and bench.nginx is not None
    assert bench.locator is not None and bench.origin is not None
    args = bench.args
    rows: list[Figures] = []
    for name in ("castedge", "nginx"):
        edge = bench.edge if name == "castedge" else bench.nginx
        locator = bench.locator if name == "castedge" else bench.nginx
        serving = [bench.edge, bench.origin, bench.locator] if name == "castedge" else [edge]
        pids = [pid for server in serving for pid in bench.pids(server) or []]
        prefix = f"/s/{bench.token}/" if name == "castedge" else "/"
        seek_path = prefix + LESSON
        hls_paths = [prefix + p for p in bench.hls_paths]
        loads = [
            ("seek", edge, edge.url + seek_path, seek_script(bench, seek_path, args.seed), 16),
            ("hls", edge, edge.url + "/", hls_script(bench, hls_paths), 32),
            (
                "redirects",
                locator,
                locator.url + world.target,
                bench.script("soak-locator", world.script_body),
                8,
            ),
        ]
        log(f"mixed soak on {name} for {args.duration} s")
        with (
            metered(pids, bench.load_cpu) as use,
            concurrent.futures.ThreadPoolExecutor(len(loads)) as pool,
        ):
            futures = {
                what: pool.submit(
                    harness.run_wrk,
                    f"{name} soak {what}",
                    server,
                    url,
                    script,
                    connections=c,
                    duration=max(1, round(args.duration)),
                    cpu=bench.client_cpu,
                )
                for what, server, url, script, c in loads
            }
            waves = []
            deadline = time.monotonic() + args.duration
            # One release wave after another, the first at once, until the time is up.
            while not waves or time.monotonic() < deadline - 1:
                key, body = new_episode(bench)
                waves.append(release(bench, name, key, body, args.soak_apps))
            runs = {what: f.result() for what, f in futures.items()}
        requests = sum(r.requests for r in runs.values()) + sum(w.requests for w in waves)
        sent = sum(r.bytes for r in runs.values()) + sum(w.bytes for w in waves)
        figures = Figures(
            scenario="mixed soak",
            server=name,
            concurrency=sum(c for *_, c in loads) + args.soak_apps,
            requests=requests,
            bytes=sent,
            duration_s=use.elapsed_s,
            p50_ms=max(r.p50_ms for r in runs.values()),
            p99_ms=max(r.p99_ms for r in runs.values()),
            errors=sum(sum(r.errors.values()) for r in runs.values())
            + sum(w.errors for w in waves),
            server_cpu_s=use.server_s,
            client_cpu_s=use.client_s,
            other_cores=use.other_cores,
            busiest_others=use.busiest,
            upstream_bytes=sum(w.upstream_bytes or 0 for w in waves),
            extra={
                "parts": {
                    what: {
                        "req_per_s": r.req_per_s,
                        "gb_per_s": r.bytes / r.duration_s / 1e9,
                        "p50_ms": r.p50_ms,
                        "p99_ms": r.p99_ms,
                        "errors": r.errors,
                    }
                    for what, r in runs.items()
                },
                "release_waves": len(waves),
                "upstream_per_episode": [w.extra["upstream_per_episode"] for w in waves],
            },
        )
        log(
            f"  soak {name}: {figures.req_per_s:,.0f} req/s, {figures.gb_per_s:.2f} GB/s, "
            f"server CPU {use.server_s or 0:.1f} s, {len(waves)} release waves"
        )
        rows.append(figures)
    return rows


def human_bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n:g} B"


def terabyte(bench: Bench) -> list[Figures]:
    """``--total`` bytes of 50 MB files (page-cache resident) through each server."""
    assert bench.edge is not None and bench.nginx is not None
    args = bench.args
    rows = []
    for name, server in (("castedge", bench.edge), ("nginx", bench.nginx)):
        script = hls_script(bench, ["/" + p for p in bench.bulk_paths])
        runs: list[Figures] = []
        started = time.monotonic()
        sent = 0
        while sent < args.total and time.monotonic() - started < args.time_cap:
            left_s = args.time_cap - (time.monotonic() - started)
            # Runs of at most 30 s, each as long as the rest should take at the rate
            # seen so far (a first run of 5 s finds it), so the total is overshot little.
            rate = sent / sum(r.duration_s for r in runs) if runs else 0.0
            wanted_s = (args.total - sent) / rate if rate else 5.0
            chunk_s = max(1.0, min(30.0, left_s, wanted_s))
            run = wrk_figures(bench, "bulk", name, server, server.url + "/", script, 16, chunk_s)
            runs.append(run)
            sent += run.bytes
        total_s = sum(r.duration_s for r in runs)
        cpu = sum(r.server_cpu_s or 0 for r in runs) if not bench.remote else None
        figures = Figures(
            scenario=f"{human_bytes(args.total)} through one node",
            server=name,
            concurrency=16,
            requests=sum(r.requests for r in runs),
            bytes=sent,
            duration_s=total_s,
            p50_ms=max(r.p50_ms for r in runs),
            p99_ms=max(r.p99_ms for r in runs),
            errors=sum(r.errors for r in runs),
            server_cpu_s=cpu,
            client_cpu_s=sum(r.client_cpu_s for r in runs),
            other_cores=sum(r.other_cores * r.duration_s for r in runs) / total_s,
            busiest_others=runs[-1].busiest_others,
        )
        seconds_per_month = 30 * 86400
        figures.extra = {
            "tb_per_month": figures.gb_per_s * seconds_per_month / 1000,
            "tb_per_month_per_core": (sent / cpu * seconds_per_month / 1e12 if cpu else None),
            "reached_total": sent >= args.total,
            "wrk_runs": len(runs),
        }
        rows.append(figures)
    return rows
