"""How far apart two identical nginx servers measure, beside castedge, on 50 MB files.

The hit-path benchmark ranks large files by server CPU per GB, and its 0.95 target is
close to what one run can tell apart. This runs the same scenario against two nginx
servers with the same configuration (A and B) and one castedge origin (C), all one
worker pinned to CPU 0, `wrk -t1 -c16` on CPU 1, round after round in alternating
order, and prints each round's server CPU per GB (``utime`` + ``stime`` from
``/proc``), wrk's own CPU per GB, the rate and the background load, as
``harness.run_wrk`` measures them: A/B is what the measurement alone makes of two
equal servers. Loopback only; every loop is bounded
by ``--rounds`` and ``--duration``. Needs ``ulimit -n`` of 8192.

    .venv/bin/python benchmarks/large_aa.py [--rounds 6] [--duration 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 - after the path above
import hitpath  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, choices=range(1, 21), metavar="1-20")
    parser.add_argument("--duration", type=int, default=10, choices=range(1, 61), metavar="1-60")
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": [], "C": []}
    with harness.workspace("large-aa-") as (workdir, servers):
        media = workdir / "media"
        for episode in hitpath.EPISODES:
            path = media / episode
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(50 * harness.MB))
        started = {}
        for tag in "AB":
            (workdir / tag).mkdir()
            started[tag] = harness.start_nginx(
                workdir / tag, media, 0, servers, types=hitpath.TYPES,
                access_log=workdir / f"{tag}.log",
            )  # fmt: skip
        config = hitpath.castedge_config("origin", workdir, media, "o", True)
        started["C"] = harness.start_castedge(
            "origin", config, workdir / "o.yaml", 0, servers, name="origin"
        )
        hitpath.warm(started["C"], started["C"].url, hitpath.EPISODES)
        script = workdir / "large.lua"
        script.write_text(hitpath.rotate_script(["/" + e for e in hitpath.EPISODES]))
        for n in range(args.rounds):
            for tag in "ABC" if n % 2 == 0 else "CBA":
                server = started[tag]
                run = harness.run_wrk(
                    tag, server, server.url, script, connections=16, duration=args.duration,
                    cpu=1,
                )  # fmt: skip
                gb = run.bytes / 1e9
                row = (run.server_cpu_s / gb, run.wrk_cpu_s / gb, gb / run.duration_s)
                rows[tag].append(row)
                print(
                    f"round {n + 1} {tag}: server {row[0]:.3f} CPU-s/GB, wrk {row[1]:.3f} "
                    f"CPU-s/GB, {row[2]:.2f} GB/s, background {run.background_cores:.2f} cores",
                    flush=True,
                )
    names = {"A": "nginx A", "B": "nginx B", "C": "castedge"}
    print("\n| | server CPU-s per GB | wrk CPU-s per GB | GB/s |\n|---|---:|---:|---:|")
    for tag, runs in rows.items():
        med = [statistics.median(r[i] for r in runs) for i in range(3)]
        print(f"| {names[tag]} (medians) | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.2f} |")
    for top, bottom in (("A", "B"), ("A", "C"), ("B", "C")):
        ratios = [t[0] / b[0] for t, b in zip(rows[top], rows[bottom], strict=True)]
        print(
            f"{names[top]} / {names[bottom]}, server CPU per GB by round: "
            + " ".join(f"{r:.2f}" for r in ratios)
            + f" (median {statistics.median(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
