"""Replication: from the end of an upload to every region holding the object.

Eight edges (``castedge edge``, one per default region, each its own file, port and
cache directory) and a sync daemon (``castedge serve`` with a ``sync`` section) run on
127.0.0.1 against moto's S3 server. For each size:

- **direct**: the same object under a folder the daemon does not watch is prefetched
  by all eight edges at once through their admin APIs: the transfer time, the best
  this fleet's S3 path can do;
- **nudge**: uploaded with boto3's managed multipart transfer, then the daemon is
  nudged (as ``castedge publish`` does); timed from the end of the upload until the
  daemon's holdings show all eight regions holding that ETag;
- **no nudge**: the same without the nudge, so the next listing (``sync.interval``)
  notices it.

The overhead is the end-to-end time minus the direct transfer time (medians over
``--repeat`` runs); the targets are under 1 s with the nudge and under
``sync.interval`` without it.

Then a bucket of ``--keys`` objects (100,000 by default) is generated, and one
listing pass of the daemon's code (``sync.bucket.Bucket.list``) runs in a child
process whose CPU time is measured (target: under 2 s).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from boto3.s3.transfer import TransferConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (  # noqa: E402
    castedge_command,
    log,
    machine,
    machine_line,
    table_head,
    table_row,
    workspace,
)
from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3  # noqa: E402
from geo import DEFAULT_REGIONS  # noqa: E402

TOKEN = "bench-sync-admin-0123456789"  # noqa: S105 - a throwaway token on loopback
SIZES = {"1MB": 10**6, "100MB": 100 * 10**6, "1GB": 10**9}
HOST = "127.0.0.1"


def start(
    config: dict[str, Any], path: Path, subcommand: str, wanted: set[str]
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    path.write_text(yaml.safe_dump(config))
    err = open(path.with_suffix(".log"), "wb")  # noqa: SIM115 - kept for the process's life
    proc = subprocess.Popen(
        [castedge_command(), subcommand, "--config", str(path)], stdout=subprocess.PIPE, stderr=err
    )
    urls: dict[str, str] = {}
    ready = threading.Event()

    def watch() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = re.match(r"(\w+) listening on (http://\S+)", raw.decode())
            if m:
                urls[m[1]] = m[2]
                if wanted <= urls.keys():
                    ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError(f"{path.name} did not start: {path.with_suffix('.log').read_text()}")
    return proc, urls


def call(method: str, url: str, body: Any = None, timeout: float = 3600) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(  # noqa: S310 - loopback URLs this script built
        url,
        method=method,
        data=data if method != "GET" else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def upload(client: Any, bucket: str, key: str, source: Path) -> str:
    config = TransferConfig(multipart_threshold=64 * 2**20, multipart_chunksize=64 * 2**20)
    client.upload_file(str(source), bucket, key, Config=config)
    return str(client.head_object(Bucket=bucket, Key=key)["ETag"])


def held_everywhere(sync_admin: str, key: str, etag: str, regions: int) -> bool:
    doc = call("GET", f"{sync_admin}/admin/sync/holdings")
    entry = doc["objects"].get(key)
    return entry is not None and entry["etag"] == etag and len(entry["held"]) == regions


def wait_held(
    sync_admin: str, key: str, etag: str, regions: int, started: float, limit: float
) -> float:
    while not held_everywhere(sync_admin, key, etag, regions):
        if time.monotonic() - started > limit:
            raise RuntimeError(f"{key} not everywhere within {limit} s")
        time.sleep(0.02)
    return time.monotonic() - started


def list_cpu(endpoint: str, bucket: str) -> dict[str, float]:
    """One listing pass of the daemon's code in a child process: its CPU and wall time."""
    code = (
        "import time, resource\n"
        "from config import S3Settings\n"
        "from sync.bucket import Bucket\n"
        f"b = Bucket(S3Settings({bucket!r}, {endpoint!r}, 'us-east-1', None, 3600))\n"
        "w = time.monotonic(); c = time.process_time()\n"
        "n = len(b.list())\n"
        "print(n, time.process_time() - c, time.monotonic() - w)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    keys, cpu, wall = done.stdout.split()
    return {"keys": int(keys), "cpu_s": float(cpu), "wall_s": float(wall)}


def benchmark(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    s3 = LocalS3().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        client = s3.client()
        client.create_bucket(Bucket="media")
        storage = {"s3": {"bucket": "media", "endpoint_url": s3.url}}
        signing = {"keys": {"k": "k" * 32}, "active": "k"}
        edges = {}
        for region in DEFAULT_REGIONS[: args.regions]:
            home = workdir / region.name
            home.mkdir()
            config = {
                "storage": storage,
                "cache": {"dir": str(home / "cache"), "max_size": "20GB"},
                "edge": {"listen": f"{HOST}:0", "region": region.name, "access_log": None},
                "admin": {"listen": f"{HOST}:0", "token": TOKEN},
                "signing": signing,
            }
            proc, urls = start(config, home / "edge.yaml", "edge", {"edge", "admin"})
            procs.append(proc)
            edges[region.name] = urls
        sync_home = workdir / "sync"
        sync_home.mkdir()
        central = {
            "storage": storage,
            "regions": [
                {
                    "name": r.name,
                    "latitude": r.latitude,
                    "longitude": r.longitude,
                    "base_url": edges[r.name]["edge"],
                    "admin_url": edges[r.name]["admin"],
                }
                for r in DEFAULT_REGIONS[: args.regions]
            ],
            "sync": {
                "prefixes": ["courses/"],
                "interval": f"{args.interval}s",
                "state_file": str(sync_home / "state.json"),
                "concurrency": 16,
                "per_region": 2,
            },
            "admin": {"listen": f"{HOST}:0", "token": TOKEN},
        }
        proc, urls = start(central, sync_home / "sync.yaml", "serve", {"admin"})
        procs.append(proc)
        sync_admin = urls["admin"]
        rows = []
        for label in [size for size in args.sizes for _ in range(args.repeat)]:
            size = SIZES[label]
            source = workdir / f"{label}.bin"
            with open(source, "wb") as f:
                block = os.urandom(2**20)
                for _ in range(size // len(block)):
                    f.write(block)
                f.write(block[: size % len(block)])
            run = sum(1 for row in rows if row["size"] == label)
            direct_key = f"direct/{label}-{run}.mp4"
            upload(client, "media", direct_key, source)
            started = time.monotonic()
            urls = [f"{e['admin']}/admin/prefetch?wait=1" for e in edges.values()]
            with concurrent.futures.ThreadPoolExecutor(len(edges)) as pool:
                answers = list(
                    pool.map(call, ["POST"] * len(urls), urls, [{"keys": [direct_key]}] * len(urls))
                )
            transfer = time.monotonic() - started
            assert all(direct_key in a["held"] for a in answers), answers
            nudged_key = f"courses/nudge/{label}-{run}.mp4"
            etag = upload(client, "media", nudged_key, source)
            started = time.monotonic()
            call("POST", f"{sync_admin}/admin/sync/nudge")
            nudged = wait_held(sync_admin, nudged_key, etag, len(edges), started, 3600)
            quiet_key = f"courses/quiet/{label}-{run}.mp4"
            etag = upload(client, "media", quiet_key, source)
            started = time.monotonic()
            quiet = wait_held(sync_admin, quiet_key, etag, len(edges), started, 3600)
            rows.append(
                {"size": label, "transfer_s": transfer, "nudge_s": nudged, "no_nudge_s": quiet}
            )
            log(f"{label}: transfer {transfer:.2f} s, nudged {nudged:.2f} s, without {quiet:.2f} s")
            source.unlink()
            for e in edges.values():
                for key in (direct_key, nudged_key, quiet_key):
                    call("DELETE", f"{e['admin']}/admin/cache/{key}")
        listing = None
        if args.keys:
            client.create_bucket(Bucket="many")
            started = time.monotonic()

            def put(n: int) -> None:
                client.put_object(Bucket="many", Key=f"courses/k/{n:06d}.ts", Body=b"x")

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                list(pool.map(put, range(args.keys)))
            log(f"{args.keys} keys written in {time.monotonic() - started:.0f} s")
            listing = list_cpu(s3.url, "many")
        return {
            "rows": rows,
            "interval": args.interval,
            "listing": listing,
            "machine": machine(nginx=False),
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        s3.stop()


def report(doc: dict[str, Any]) -> tuple[str, bool]:
    interval = doc["interval"]
    lines = [machine_line(doc["machine"], load_after=False), ""]
    lines += table_head(
        ["size", "transfer (8 at once)", "nudge: end to end", "overhead", "no nudge", "overhead"],
        "lrrrrr",
    )
    met = True
    sizes = list(dict.fromkeys(row["size"] for row in doc["rows"]))
    for size in sizes:
        runs = [row for row in doc["rows"] if row["size"] == size]

        def median(name: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(row[name] for row in runs)

        transfer, nudged, quiet = median("transfer_s"), median("nudge_s"), median("no_nudge_s")
        over_nudge, over_quiet = nudged - transfer, quiet - transfer
        met = met and over_nudge < 1 and over_quiet < interval
        lines.append(
            table_row(
                [
                    f"{size} ({len(runs)} runs)" if len(runs) > 1 else size,
                    f"{transfer:.2f} s",
                    f"{nudged:.2f} s",
                    f"{over_nudge:+.2f} s",
                    f"{quiet:.2f} s",
                    f"{over_quiet:+.2f} s",
                ]
            )
        )
    listing = doc["listing"]
    if listing is not None:
        met = met and listing["cpu_s"] < 2
        lines += [
            "",
            f"listing {listing['keys']:,} keys: {listing['cpu_s']:.2f} s of CPU "
            f"({listing['wall_s']:.2f} s wall) in one pass; target under 2 s of CPU",
        ]
    return "\n".join(lines), met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--regions", type=int, default=8)
    parser.add_argument("--sizes", default="1MB,100MB,1GB", type=lambda s: s.split(","))
    parser.add_argument("--interval", type=float, default=5.0, help="sync.interval, seconds")
    parser.add_argument("--keys", type=int, default=100_000, help="keys to list (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size (medians)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    args.regions = min(max(args.regions, 1), len(DEFAULT_REGIONS))
    args.keys = min(max(args.keys, 0), 200_000)
    args.repeat = min(max(args.repeat, 1), 10)
    with workspace("castedge-sync-bench-") as (workdir, _servers):
        doc = benchmark(workdir, args)
    table, met = report(doc)
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
