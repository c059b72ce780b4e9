"""The podcast release storm: N apps on a new episode, on a cold cache, upstream counted.

Each storm stores a new episode in S3 (so it is in neither server's cache), lets
``apps`` podcast apps (:mod:`.podcast`) fetch it from one server at once, and counts
what the shaping proxy forwarded meanwhile: the goal is exactly one episode's bytes,
whatever the number of apps.
"""

from __future__ import annotations

import asyncio

from harness import MB, log

from benchmarks.suite import nginx as nginx_conf
from benchmarks.suite import podcast
from benchmarks.suite.measure import Figures, hit_ratio, lookups, metered, percentile
from benchmarks.suite.scenarios import Bench
from benchmarks.suite.upstream import body_bytes, payload


def new_episode(bench: Bench) -> tuple[str, bytes]:
    """A new episode in S3, in neither server's cache yet: its key and bytes."""
    assert bench.upstream is not None
    bench.episodes += 1
    key = f"podcast/release-{bench.episodes:04d}.mp3"
    size = bench.args.episode_mb * MB
    bench.upstream.put(key, size)
    return key, payload(key, size)


def release(bench: Bench, name: str, key: str, body: bytes, apps: int) -> Figures:
    """``apps`` podcast apps fetch a new episode from one server at once (cold cache)."""
    assert bench.upstream is not None and bench.origin is not None and bench.nginx is not None
    server = bench.origin if name == "castedge" else bench.nginx
    url = f"{server.url}/{key}"
    forwarded0, _ = bench.upstream.count(key)
    before = lookups(server.admin_url) if name == "castedge" else {}
    since = nginx_conf.access_log(bench.nginx).stat().st_size if name == "nginx" else 0
    with metered(server.pids(), bench.load_cpu) as use:
        results = asyncio.run(
            podcast.storm(
                url,
                len(body),
                apps,
                expected=body,
                seed=bench.args.seed + apps,
                spread=bench.args.storm_spread,
            )
        )
    forwarded1, s3_requests = bench.upstream.count(key)
    # Each server's storm has an episode of its own; the suite's own PUT is not a fetch.
    mine = [(method, rng) for method, rng in s3_requests if method in ("GET", "HEAD")]
    if name == "castedge":
        ratio = hit_ratio(before, lookups(server.admin_url))
    else:
        statuses, _ = nginx_conf.cache_statuses(bench.nginx, since)
        total = sum(statuses.values())
        ratio = statuses.get("HIT", 0) / total if total else None
    latencies = [s for r in results for s in r.latencies_s]
    errors = [e for r in results for e in r.errors]
    got = sum(r.bytes for r in results)
    upstream = forwarded1 - forwarded0
    figures = Figures(
        scenario="release storm",
        server=name,
        concurrency=apps,
        requests=len(latencies),
        bytes=got,
        duration_s=max(r.done_s for r in results),
        p50_ms=1000 * percentile(latencies, 50),
        p99_ms=1000 * percentile(latencies, 99),
        errors=len(errors),
        server_cpu_s=use.server_s,
        client_cpu_s=use.client_s,
        other_cores=use.other_cores,
        busiest_others=use.busiest,
        hit_ratio=ratio,
        upstream_bytes=upstream,
        extra={
            "episode_bytes": len(body),
            "upstream_per_episode": upstream / len(body),
            "s3_requests": len(mine),
            "s3_requests_seen": [f"{method} {rng or 'whole'}" for method, rng in mine],
            "s3_body_bytes_asked": body_bytes(len(body), mine),
            "apps": {k: sum(1 for r in results if r.kind == k) for k in ("apple", "spotify")},
            "first_byte_p99_ms": 1000 * percentile([r.first_byte_s for r in results], 99),
            "last_app_done_s": max(r.done_s for r in results),
            "error_samples": errors[:5],
        },
    )
    log(
        f"  release storm {name}, {apps} apps: upstream {upstream / len(body):.3f} × the "
        f"episode ({len(mine)} S3 requests), last app done {figures.duration_s:.2f} s, "
        f"p99 {figures.p99_ms:.0f} ms, errors {len(errors)}"
    )
    if errors:
        log(f"    e.g. {errors[:3]}")
    return figures


def storms(bench: Bench) -> list[Figures]:
    rows = []
    for apps in bench.args.storm_apps:
        for name in ("castedge", "nginx"):
            key, body = new_episode(bench)
            rows.append(release(bench, name, key, body, apps))
    return rows
