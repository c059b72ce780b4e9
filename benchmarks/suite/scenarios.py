"""The suite's scenarios, each run on castedge and on nginx in turn, in the same run.

:class:`Bench` holds what they share: the options, the media folder both servers
serve, the servers (``castedge edge`` on the media folder, ``castedge origin`` on the
shaped S3, ``castedge locator``; one nginx for all three jobs), the cores, and the
signed-URL token. Here are seeking, HLS and the redirect storm; the release storm is in
:mod:`.storm`, the soak and ``--total`` in :mod:`.soak`. Each scenario returns
:class:`~.measure.Figures` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import HOST, MB, Server, log

from benchmarks import locator as locator_bench
from benchmarks.suite import nginx as nginx_conf
from benchmarks.suite.measure import (
    Figures,
    fetch_all,
    hit_ratio,
    lookups,
    metered,
    wait_filled,
)
from benchmarks.suite.upstream import Upstream
from signer import Purpose, Signer

ADMIN_TOKEN = "bench-suite-admin-0123456789"  # noqa: S105 - a throwaway token on loopback
SIGNING = ("bench", "bench-suite-signing-key-0123456789abcdef")
LESSON = "courses/bench/ch01/lesson.mp4"
HLS_DIR = "courses/bench/hls/"
SCOPE = "courses/bench/"
BULK_DIR = "marketing/"

# One thread, so one random sequence per run; the seed makes every server see the same.
SEEK_SCRIPT = """\
local path = PATH
local size = SIZE
math.randomseed(SEED)
request = function()
  local length = math.random(1000000, 2000000)
  local first = math.random(0, size - length)
  return wrk.format("GET", path, {["Range"] = "bytes=" .. first .. "-" .. (first + length - 1)})
end
"""

# Appended to every wrk script: no run sends more than CAP requests, whatever its -d.
CAP_SCRIPT = """\
local bench_sent, bench_request = 0, request
request = function()
  bench_sent = bench_sent + 1
  if bench_sent > CAP then wrk.thread:stop() end
  return bench_request()
end
"""


@dataclass
class Remote:
    """A server on another machine: only its URL is known, not its CPU."""

    name: str
    url: str
    admin_url: str | None = None

    def pids(self) -> list[int]:
        return []


@dataclass
class Bench:
    """What the scenarios share."""

    args: argparse.Namespace
    workdir: Path
    servers: list[Server]
    server_cpu: int | None
    client_cpu: int | None
    media: Path
    edge: Server | Remote | None = None
    origin: Server | None = None
    locator: Server | None = None
    nginx: Server | Remote | None = None
    upstream: Upstream | None = None
    token: str = ""
    hls_paths: list[str] = field(default_factory=list)
    bulk_paths: list[str] = field(default_factory=list)
    episodes: int = 0

    @property
    def remote(self) -> bool:
        return isinstance(self.edge, Remote) or isinstance(self.nginx, Remote)

    def pids(self, server: Server | Remote) -> list[int] | None:
        return None if isinstance(server, Remote) else server.pids()

    def load_cpu(self) -> float:
        """The load side's CPU so far: this process, finished wrk runs, the upstream."""
        upstream = [self.upstream.proc.pid] if self.upstream is not None else []
        return harness.own_cpu_seconds() + harness.cpu_seconds(upstream)

    def script(self, name: str, body: str) -> Path:
        path = self.workdir / f"{name}.lua"
        cap = CAP_SCRIPT.replace("CAP", str(self.args.max_requests))
        path.write_text(body + cap + harness.WRK_DONE)
        return path


# -- media -----------------------------------------------------------------------------------


def write_media(root: Path, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The lesson, the HLS rendition and the bulk files; their paths (HLS, bulk)."""
    lesson = root / LESSON
    lesson.parent.mkdir(parents=True, exist_ok=True)
    with open(lesson, "wb") as f:
        left = args.seek_mb * MB
        while left:
            chunk = os.urandom(min(left, 8 * MB))
            f.write(chunk)
            left -= len(chunk)
    hls = root / HLS_DIR
    hls.mkdir(parents=True, exist_ok=True)
    segments = [f"seg-{i:05d}.ts" for i in range(1, args.hls_segments + 1)]
    for name in segments:
        (hls / name).write_bytes(os.urandom(args.hls_segment_bytes))
    playlist = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4"]
    playlist += ["#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MEDIA-SEQUENCE:1"]
    for name in segments:
        playlist += ["#EXTINF:4.000,", name]
    (hls / "index.m3u8").write_text("\n".join([*playlist, "#EXT-X-ENDLIST", ""]))
    # A player fetches the playlist, then the segments in order: the playlist again
    # every six segments stands for players joining and for renditions switching.
    hls_paths: list[str] = []
    for i, name in enumerate(segments):
        if i % 6 == 0:
            hls_paths.append(HLS_DIR + "index.m3u8")
        hls_paths.append(HLS_DIR + name)
    bulk: list[str] = []
    if args.total:
        (root / BULK_DIR).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            path = f"{BULK_DIR}bulk-{i}.mp4"
            (root / path).write_bytes(os.urandom(50 * MB))
            bulk.append(path)
    return hls_paths, bulk


# -- servers ---------------------------------------------------------------------------------


def node_config(bench: Bench, role: str, **role_keys: Any) -> dict[str, Any]:
    home = bench.workdir / role
    home.mkdir(exist_ok=True)
    doc: dict[str, Any] = {
        "storage": {"dir": str(bench.media)},
        "cache": {"dir": str(home / "cache"), "max_size": "20GB"},
        role: {
            "listen": f"{HOST}:0",
            "access_log": str(home / "access.log"),
            "workers": bench.args.workers,
            **role_keys,
        },
        "admin": {"listen": f"{HOST}:0", "token": ADMIN_TOKEN},
        "signing": {"keys": {SIGNING[0]: SIGNING[1]}, "active": SIGNING[0]},
        "log_level": "warning",
    }
    return doc


def start_servers(bench: Bench) -> None:
    """Every server of the run, on the server core; the upstream on the load core."""
    args, w = bench.args, bench.workdir
    bench.upstream = Upstream(
        bench.client_cpu,
        latency=args.upstream_latency,
        rate=args.upstream_rate,
        log=w / "upstream.log",
    )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "castedge-local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "castedge-local-secret")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    log(f"starting castedge edge, origin and locator and nginx, {args.workers} worker(s) each")
    edge = node_config(bench, "edge", region="bench", public_prefixes=[BULK_DIR])
    bench.edge = harness.start_castedge(
        "edge",
        edge,
        w / "edge.yaml",
        bench.server_cpu,
        bench.servers,
        name="castedge edge",
        workers=args.workers,
    )
    origin = node_config(bench, "origin")
    origin["storage"] = {
        "s3": {"bucket": bench.upstream.bucket, "endpoint_url": bench.upstream.proxy_url}
    }
    bench.origin = harness.start_castedge(
        "origin",
        origin,
        w / "origin.yaml",
        bench.server_cpu,
        bench.servers,
        name="castedge origin",
        workers=args.workers,
    )
    bench.nginx = nginx_conf.start(
        w,
        bench.media,
        bench.server_cpu,
        bench.servers,
        workers=args.workers,
        upstream=bench.upstream.proxy_url,
        bucket=bench.upstream.bucket,
        lock_s=int(args.time_cap),
    )


def mint_token(now: float, signing: tuple[str, str] = SIGNING) -> str:
    """A directory token for the course, as the locator mints for an HLS player.

    ``signing`` is the edge's key id and secret (a remote edge's come from the options).
    """
    key_id, secret = signing
    return Signer({key_id: secret}, key_id).mint(SCOPE, now=now, ttl=6 * 3600, subject="bench")


def signed(bench: Bench, path: str) -> str:
    return f"/s/{bench.token}/{path}"


def warm_edge(bench: Bench) -> None:
    """One whole GET of each file through the edge, then wait for its fills to end."""
    assert bench.edge is not None and bench.nginx is not None
    paths = [LESSON, *dict.fromkeys(bench.hls_paths), *bench.bulk_paths]
    log(f"warming the edge's cache with {len(paths)} files and checking both servers")
    for path in paths:
        url = bench.edge.url + (f"/{path}" if path.startswith(BULK_DIR) else signed(bench, path))
        status, length = fetch_all(url)
        if status != 200:
            raise RuntimeError(f"castedge edge: GET {path} gave {status}")
        nginx_status, nginx_length = fetch_all(f"{bench.nginx.url}/{path}")
        if nginx_status != 200 or nginx_length != length:
            raise RuntimeError(f"nginx: GET {path} gave {nginx_status}, {nginx_length} bytes")
    if isinstance(bench.edge, Server) and bench.edge.admin_url is not None:
        wait_filled(bench.edge.admin_url, "edge", len(paths))
    check_range(bench, LESSON, bench.args.seek_mb * MB // 2)


def check_range(bench: Bench, path: str, start: int) -> None:
    """Refuse to measure a server that answers wrongly: a fast 403 is no result."""
    assert bench.edge is not None and bench.nginx is not None
    headers = {"Range": f"bytes={start}-{start + 999_999}"}
    bodies = []
    for url in (bench.edge.url + signed(bench, path), f"{bench.nginx.url}/{path}"):
        status, body = harness.http_get(url, headers)
        if status != 206 or len(body) != 1_000_000:
            raise RuntimeError(f"{url}: {headers['Range']} gave {status}, {len(body)} bytes")
        bodies.append(body)
    if not bench.remote and bodies[0] != (bench.media / path).read_bytes()[start : start + MB]:
        raise RuntimeError(f"castedge edge: {headers['Range']} of {path}: wrong bytes")
    if bodies[0] != bodies[1]:
        raise RuntimeError(f"castedge and nginx disagree on {headers['Range']} of {path}")


# -- wrk scenarios ---------------------------------------------------------------------------


def wrk_figures(
    bench: Bench,
    scenario: str,
    name: str,
    server: Server | Remote,
    url: str,
    script: Path,
    connections: int,
    duration: float,
) -> Figures:
    """One wrk run as a :class:`Figures` row, the castedge cache's hit ratio included."""
    counted = name == "castedge" and not bench.remote
    before = lookups(server.admin_url) if counted else {}
    with metered(bench.pids(server), bench.load_cpu) as use:
        run = harness.run_wrk(
            f"{name} ({scenario})",
            server,
            url,
            script,
            connections=connections,
            duration=max(1, round(duration)),
            cpu=bench.client_cpu,
            request_timeout_s=30,
            client=bench.load_cpu,
        )
    after = lookups(server.admin_url) if counted else {}
    figures = Figures(
        scenario=scenario,
        server=name,
        concurrency=connections,
        requests=run.requests,
        bytes=run.bytes,
        duration_s=run.duration_s,
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        errors=sum(run.errors.values()),
        server_cpu_s=run.server_cpu_s if not isinstance(server, Remote) else None,
        client_cpu_s=run.wrk_cpu_s,
        other_cores=use.other_cores,
        busiest_others=use.busiest,
        hit_ratio=hit_ratio(before, after) if after else None,
    )
    log(
        f"  {scenario} {name} c={connections}: {figures.req_per_s:,.0f} req/s, "
        f"{figures.gb_per_s:.2f} GB/s, p99 {figures.p99_ms:.1f} ms, errors {figures.errors}, "
        f"other work {figures.other_cores:.2f} cores"
    )
    return figures


def seek_script(bench: Bench, path: str, seed: int) -> Path:
    body = (
        SEEK_SCRIPT.replace("PATH", json.dumps(path))
        .replace("SIZE", str(bench.args.seek_mb * MB))
        .replace("SEED", str(seed))
    )
    return bench.script("seek", body)


def hls_script(bench: Bench, paths: list[str]) -> Path:
    body = harness.ROTATE_SCRIPT.split("done = function")[0]
    return bench.script(
        "hls", body.replace("{PATHS}", "{" + ",".join(map(json.dumps, paths)) + "}")
    )


def seek(bench: Bench) -> list[Figures]:
    """Random 1–2 MB ranges of the lesson, per concurrency: signed edge vs nginx."""
    assert bench.edge is not None and bench.nginx is not None
    rows = []
    for connections in bench.args.concurrency:
        for name, server, path in (
            ("castedge", bench.edge, signed(bench, LESSON)),
            ("nginx", bench.nginx, "/" + LESSON),
        ):
            script = seek_script(bench, path, bench.args.seed + connections)
            rows.append(
                wrk_figures(
                    bench,
                    "video seeking",
                    name,
                    server,
                    server.url + path,
                    script,
                    connections,
                    bench.args.run_seconds,
                )
            )
    return rows


def hls(bench: Bench) -> list[Figures]:
    """Playlists and 1 MB segments, per concurrency: signed edge vs nginx (no token)."""
    assert bench.edge is not None and bench.nginx is not None
    rows = []
    for connections in bench.args.concurrency:
        for name, server, prefix in (
            ("castedge", bench.edge, f"/s/{bench.token}/"),
            ("nginx", bench.nginx, "/"),
        ):
            script = hls_script(bench, [prefix + p for p in bench.hls_paths])
            rows.append(
                wrk_figures(
                    bench,
                    "HLS",
                    name,
                    server,
                    server.url + "/",
                    script,
                    connections,
                    bench.args.run_seconds,
                )
            )
    return rows


@dataclass
class LocatorWorld:
    """What the redirect storm needs besides the locator: stand-in edges and a grant."""

    target: str
    script_body: str
    stop: Callable[[], None]


def start_locator(bench: Bench) -> LocatorWorld:
    """``castedge locator`` with its GeoIP database and health-checked stand-in edges."""
    w = bench.workdir
    locator_bench.build_database(w / "city.mmdb")
    stand_in, edges = locator_bench.start_stand_in()
    config = locator_bench.locator_config(w, edges, str(w / "locator-access.log"))
    config["locator"]["workers"] = bench.args.workers
    bench.locator = harness.start_castedge(
        "locator",
        config,
        w / "locator.yaml",
        bench.server_cpu,
        bench.servers,
        name="castedge locator",
        workers=bench.args.workers,
    )
    keys = {locator_bench.KEY_ID: locator_bench.SECRET}
    grant = Signer(keys, locator_bench.KEY_ID, purpose=Purpose.GRANT).mint(
        locator_bench.SCOPE, now=time.time(), ttl=6 * 3600, subject="bench-student"
    )
    target = f"/v/{locator_bench.PATH}?grant={grant}"
    locator_bench.check_answers(bench.locator, target)
    addresses = locator_bench.client_addresses(bench.args.seed)
    clients = "{" + ",".join(json.dumps(a) for a in addresses) + "}"
    body = locator_bench.WRK_SCRIPT.split("done = function")[0]
    body = body.replace("PATH", json.dumps(target)).replace("CLIENTS", clients)
    return LocatorWorld(target, body, stand_in.shutdown)


def redirects(bench: Bench, world: LocatorWorld) -> list[Figures]:
    """The redirect storm: castedge's whole job vs nginx's fixed ``return 302``."""
    assert bench.locator is not None and bench.nginx is not None
    script = bench.script("locator", world.script_body)
    connections = bench.args.locator_connections
    return [
        wrk_figures(
            bench,
            "locator redirects",
            name,
            server,
            server.url + world.target,
            script,
            connections,
            bench.args.run_seconds,
        )
        for name, server in (("castedge", bench.locator), ("nginx", bench.nginx))
    ]
