"""Single flight and stalled storage, measured at the S3 side against real castedge nodes.

Two measurements, each against ``castedge origin`` or ``castedge edge`` (one worker
unless ``--workers``, started from a settings file like any node) and moto's S3 server
on 127.0.0.1, whose request log counts every GET it receives:

* **stampede**: ``--clients`` aiohttp clients (50) ask for one object at the same time,
  on each path a miss can take: ``cached`` (stored on disk), ``too-big`` (larger than
  the cache), ``disk-full`` (a 16 MB tmpfs, the object 24 MB), ``disk-failed`` (an edge
  whose cache tmpfs was remounted read-only) and ``fallback-stream`` (an origin with
  ``origin.fallback: stream`` and a read-only cache). It reports the S3 GETs for the
  object and checks every client's sha256.
* **stall**: S3 accepts ``--waiters`` (20) requests' GETs and goes silent, either before
  its response headers (``headers``) or after the first 64 KiB of the body (``body``),
  honouring ranged resumes the same way. It reports the time from the requests to the
  last waiter released, and how each was released (status, or a body cut short).

The tmpfs paths need root (``mount``); they are skipped with a note otherwise. Run from
the repository root::

    .venv/bin/python benchmarks/flight.py stampede
    .venv/bin/python benchmarks/flight.py stall --where headers
    .venv/bin/python benchmarks/flight.py stall --where body --fill-deadline 10s

``--read-timeout``, ``--retries`` and ``--fill-deadline`` set the ``upstream`` keys of
the same names (unset: castedge's defaults). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (  # noqa: E402
    Server,
    loadavg,
    log,
    machine,
    machine_line,
    start_castedge,
    table_head,
    table_row,
    workspace,
)
from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3  # noqa: E402
from tests.support.faults import silent  # noqa: E402

TOKEN = "bench-flight-admin-0123456789"  # noqa: S105 - a throwaway token on loopback
HOST = "127.0.0.1"
BUCKET = "media"
KEY = "podcast/ep.mp3"
PUBLIC_KEY = "marketing/ep.mp4"
PATHS = ("cached", "too-big", "disk-full", "disk-failed", "fallback-stream")


def payload(size: int, seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path | None]:
    """A tmpfs of ``size`` on ``mount``, or None where mounting is not allowed."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def read_only(mount: Path) -> None:
    # A fill may still hold a file open there for a moment; the remount waits for it.
    for _ in range(50):
        done = subprocess.run(
            ["mount", "-o", "remount,ro", str(mount)], capture_output=True, check=False
        )
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"cannot remount {mount} read-only: {done.stderr.decode()}")


def node_config(
    role: str, cache_dir: Path, upstream: dict[str, str], **role_keys: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "storage": {"s3": {"bucket": BUCKET, "endpoint_url": ENDPOINT[0]}},
        "cache": {"dir": str(cache_dir), "max_size": role_keys.pop("max_size", "1GB")},
        role: {"listen": f"{HOST}:0", "access_log": None, "cache_dir": str(cache_dir)},
        "admin": {"listen": f"{HOST}:0", "token": TOKEN},
    }
    doc[role].update(role_keys)
    if role == "edge":
        doc[role].update({"region": "bench", "public_prefixes": ["marketing/"]})
        doc["signing"] = {"keys": {"k": "k" * 32}, "active": "k"}
    if upstream:
        doc["upstream"] = upstream
    return doc


#: The local S3 server's URL, set once it runs (node_config reads it).
ENDPOINT: list[str] = [""]


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str, str]:
    """GET ``url``: status, sha256 of the body (or how it ended), Cache-Status."""
    try:
        async with session.get(url) as resp:
            body = await resp.read()
            status = resp.headers.get("Cache-Status", "-")
            return resp.status, hashlib.sha256(body).hexdigest(), status, ""
    except aiohttp.ClientPayloadError as exc:
        return 200, "", "-", f"cut short ({type(exc).__name__})"


async def _stampede(url: str, clients: int) -> list[tuple[int, str, str, str]]:
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await asyncio.gather(*(_get(session, url) for _ in range(clients)))


def metric(admin_url: str, name: str) -> dict[str, float]:
    """Every sample of one metric on a node's /metrics, by its labels."""
    import urllib.request

    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=10) as r:  # noqa: S310
        text = r.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line.rpartition(" ")
            found[labels[len(name) :]] = float(value)
    return found


def stampede_path(
    path: str, s3: LocalS3, workdir: Path, servers: list[Server], args: argparse.Namespace
) -> dict[str, Any]:
    home = workdir / path
    home.mkdir()
    size = 24_000_000 if path == "disk-full" else args.size
    body = payload(size, path)
    key = PUBLIC_KEY if path == "disk-failed" else KEY
    key = key.replace("ep.", f"{path}.")
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=body)
    digest = hashlib.sha256(body).hexdigest()
    with contextlib.ExitStack() as stack:
        cache = home / "cache"
        role_keys: dict[str, Any] = {}
        role = "origin"
        if path == "too-big":
            role_keys["max_size"] = f"{size // 2}B"
        elif path in ("disk-full", "disk-failed", "fallback-stream"):
            mounted = stack.enter_context(tmpfs(cache, "16m" if path == "disk-full" else "64m"))
            if mounted is None:
                return {"path": path, "skipped": "cannot mount a tmpfs (needs root)"}
        if path == "disk-failed":
            role = "edge"
        if path == "fallback-stream":
            role_keys["fallback"] = "stream"
        role_keys["workers"] = args.workers
        config = node_config(role, cache, upstream_keys(args), **role_keys)
        server = start_castedge(
            role, config, home / f"{role}.yaml", None, servers, name=path, workers=args.workers
        )
        if path in ("disk-failed", "fallback-stream"):
            read_only(cache)
        url = f"{server.url}/{key}"
        before = len(s3.gets(f"/{BUCKET}/{key}"))
        started = time.monotonic()
        results = asyncio.run(_stampede(url, args.clients))
        elapsed = time.monotonic() - started
        gets = len(s3.gets(f"/{BUCKET}/{key}")) - before
        assert server.admin_url is not None
        solo = metric(server.admin_url, "castedge_solo_gets_total")
        server.stop()
        servers.remove(server)
        if path in ("disk-failed", "fallback-stream"):
            subprocess.run(["mount", "-o", "remount,rw", str(cache)], check=False)
    good = sum(1 for status, got, _, _ in results if status == 200 and got == digest)
    return {
        "path": path,
        "role": role if args.workers == 1 else f"{role} × {args.workers} workers",
        "size": size,
        "clients": args.clients,
        "correct": good,
        "gets": gets,
        "solo": sum(solo.values()),
        "seconds": round(elapsed, 2),
        "cache_status": sorted({cs for _, _, cs, _ in results}),
        "failures": sorted({f"{s} {how}" for s, got, _, how in results if got != digest}),
    }


def upstream_keys(args: argparse.Namespace) -> dict[str, str]:
    keys = {}
    for name in ("read_timeout", "retries", "fill_deadline", "backoff"):
        value = getattr(args, name, None)
        if value is not None:
            keys[name] = value
    return keys


async def _waiters(url: str, count: int) -> list[tuple[float, str]]:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=900)

    async def one(session: aiohttp.ClientSession) -> tuple[float, str]:
        try:
            async with session.get(url) as resp:
                await resp.read()
                how = f"{resp.status} Retry-After={resp.headers.get('Retry-After')}"
        except aiohttp.ClientPayloadError:
            how = "200 cut short"
        return time.monotonic() - started, how

    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await asyncio.gather(*(one(session) for _ in range(count)))


def stall(
    s3: LocalS3, workdir: Path, servers: list[Server], args: argparse.Namespace
) -> dict[str, Any]:
    body = payload(args.size, "stall")
    key = f"podcast/stall-{args.where}.mp3"
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=body)
    hold = threading.Event()
    s3.intercept = silent(f"/{BUCKET}/{key}", body, where=args.where, hold=hold)
    config = node_config("origin", workdir / "cache", upstream_keys(args))
    server = start_castedge("origin", config, workdir / "origin.yaml", None, servers, name="stall")
    try:
        results = asyncio.run(_waiters(f"{server.url}/{key}", args.waiters))
    finally:
        hold.set()
        s3.intercept = None
    return {
        "where": args.where,
        "waiters": args.waiters,
        "upstream": upstream_keys(args) or "defaults",
        "first_released_s": round(min(t for t, _ in results), 2),
        "last_released_s": round(max(t for t, _ in results), 2),
        "outcomes": sorted({how for _, how in results}),
        "s3_gets": len(s3.gets(f"/{BUCKET}/{key}")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("stampede", "stall"))
    parser.add_argument("--paths", default=",".join(PATHS), help="stampede: the paths to run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="stampede: worker processes")
    parser.add_argument("--size", type=int, default=20_000_000, help="object size in bytes")
    parser.add_argument("--where", choices=("headers", "body"), default="headers")
    parser.add_argument("--waiters", type=int, default=20)
    parser.add_argument("--read-timeout", dest="read_timeout")
    parser.add_argument("--retries")
    parser.add_argument("--backoff")
    parser.add_argument("--fill-deadline", dest="fill_deadline")
    args = parser.parse_args()
    if args.retries is not None:
        args.retries = int(args.retries)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if shutil.which("mount") is None:
        log("no mount command: the tmpfs paths are skipped")
    before = machine(nginx=False)
    s3 = LocalS3().start()
    ENDPOINT[0] = s3.url
    s3.client().create_bucket(Bucket=BUCKET)
    try:
        with workspace("castedge-flight-") as (workdir, servers):
            if args.what == "stampede":
                rows = [
                    stampede_path(path, s3, workdir, servers, args)
                    for path in args.paths.split(",")
                ]
            else:
                rows = [stall(s3, workdir, servers, args)]
    finally:
        s3.stop()
    before["loadavg_after"] = loadavg()
    lines = [machine_line(before, load_after=True), ""]
    if args.what == "stampede":
        lines += table_head(
            ["path", "node", "clients", "sha256 ok", "S3 GETs", "solo GETs", "s", "Cache-Status"],
            "lllrrrrl",
        )
        for row in rows:
            if "skipped" in row:
                lines.append(table_row([row["path"], row["skipped"]]))
                continue
            statuses = "<br>".join(row["cache_status"])
            lines.append(
                table_row(
                    [row["path"], row["role"], str(row["clients"]), str(row["correct"])]
                    + [str(row["gets"]), f"{row['solo']:g}", f"{row['seconds']:.2f}", statuses]
                )
            )
            if row["failures"]:
                log(f"{row['path']}: {row['failures']}")
    else:
        row = rows[0]
        lines += table_head(
            ["S3 stalls", "upstream", "waiters", "first released (s)", "last released (s)"]
            + ["released as", "S3 GETs"],
            "llrrrlr",
        )
        lines.append(
            table_row(
                [row["where"], str(row["upstream"]), str(row["waiters"])]
                + [f"{row['first_released_s']:.2f}", f"{row['last_released_s']:.2f}"]
                + ["; ".join(row["outcomes"]), str(row["s3_gets"])]
            )
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
