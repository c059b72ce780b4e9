"""The suite's outputs: a Markdown report, the raw numbers as JSON, and PNG plots.

Every comparison is castedge over nginx measured in the same run: a ratio above 1 is
castedge doing more (req/s, GB/s) or costing more (CPU per GB, per 10k requests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness

#: The scenarios plotted against concurrency, and the throughput figure of each.
PLOTTED = {"video seeking": ("gb_per_s", "GB/s"), "HLS": ("req_per_s", "requests/s")}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _pair(c: float | None, n: float | None, digits: int = 2, ratio: bool = True) -> str:
    text = f"{_num(c, digits)} / {_num(n, digits)}"
    if ratio and c is not None and n:
        text += f" ({c / n:.2f}×)"
    return text


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


def paired(rows: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """castedge's row and nginx's for each (scenario, concurrency), in run order."""
    found: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        found.setdefault((row["scenario"], row["concurrency"]), {})[row["server"]] = row
    return [(p["castedge"], p["nginx"]) for p in found.values() if len(p) == 2]


def markdown(doc: dict[str, Any]) -> str:
    rows: list[dict[str, Any]] = doc["rows"]
    s = doc["settings"]
    m = doc["machine"]
    pin = (
        f"servers pinned to CPU {s['server_cpu']}, load generator (wrk, the podcast apps, "
        f"S3 and its shaping proxy) to CPU {s['client_cpu']}"
        if s["server_cpu"] is not None
        else "not pinned (the load generator shares the servers' cores)"
    )
    lines = [
        harness.machine_line(m, load_after=True),
        f"Run {doc['date']}: `{doc['command']}`; {s['workers']} worker(s) on each side; "
        f"{pin}; access logs to a file on both sides; 1 GB = 10^9 bytes.",
        "",
        "Each cell is castedge / nginx (castedge ÷ nginx). CPU is the servers' own, "
        "from /proc; latency is the client's.",
        "",
        *harness.table_head(
            [
                "Scenario",
                "Load",
                "req/s",
                "GB/s",
                "p50 ms",
                "p99 ms",
                "CPU-s per GB",
                "CPU-s per 10k req",
                "Cache hits",
                "Errors",
            ],
            "llrrrrrrrr",
        ),
    ]
    for c, n in paired(rows):
        load = "apps" if c["scenario"] == "release storm" else "connections"
        # Redirects carry no body to speak of: bytes would only count headers.
        bodies = c["bytes"] >= 10_000 * c["requests"]
        lines.append(
            harness.table_row(
                [
                    c["scenario"],
                    f"{c['concurrency']} {load}",
                    _pair(c["req_per_s"], n["req_per_s"]),
                    _pair(c["gb_per_s"], n["gb_per_s"]) if bodies else "—",
                    _pair(c["p50_ms"], n["p50_ms"], 1, ratio=False),
                    _pair(c["p99_ms"], n["p99_ms"], 1, ratio=False),
                    _pair(c["cpu_s_per_gb"], n["cpu_s_per_gb"]) if bodies else "—",
                    _pair(c["cpu_s_per_10k"], n["cpu_s_per_10k"], 3),
                    f"{_pct(c['hit_ratio'])} / {_pct(n['hit_ratio'])}",
                    f"{c['errors']} / {n['errors']}",
                ]
            )
        )
    storm = [(c, n) for c, n in paired(rows) if c["scenario"] == "release storm"]
    if storm:
        lines += [
            "",
            "Release storm, cold cache: upstream bytes per episode (the goal: 1.000, one "
            "object's bytes whatever the number of apps), S3 requests, when the last app "
            "had the whole episode.",
            "",
            *harness.table_head(
                [
                    "Apps (Apple / Spotify)",
                    "Upstream × episode",
                    "S3 requests",
                    "First byte p99 (ms)",
                    "Last app done (s)",
                ],
                "lrrrr",
            ),
        ]
        for c, n in storm:
            apps = c["extra"]["apps"]
            lines.append(
                harness.table_row(
                    [
                        f"{c['concurrency']} ({apps['apple']} / {apps['spotify']})",
                        _pair(
                            c["extra"]["upstream_per_episode"],
                            n["extra"]["upstream_per_episode"],
                            3,
                            ratio=False,
                        ),
                        f"{c['extra']['s3_requests']} / {n['extra']['s3_requests']}",
                        _pair(
                            c["extra"]["first_byte_p99_ms"],
                            n["extra"]["first_byte_p99_ms"],
                            0,
                            ratio=False,
                        ),
                        _pair(
                            c["extra"]["last_app_done_s"],
                            n["extra"]["last_app_done_s"],
                            2,
                            ratio=False,
                        ),
                    ]
                )
            )
    bulk = [(c, n) for c, n in paired(rows) if c["scenario"].endswith("through one node")]
    for c, n in bulk:
        short = [r for r in (c, n) if not r["extra"]["reached_total"]]
        stopped = (
            f" ({' and '.join(r['server'] for r in short)} stopped by --time-cap "
            f"{doc['settings']['time_cap']:g} s short of the total)"
            if short
            else ""
        )
        lines += [
            "",
            f"{c['scenario']}{stopped} (four 50 MB files in the page cache, 16 connections): "
            f"castedge {c['bytes'] / 1e12:.3f} TB in {c['duration_s']:,.0f} s, "
            f"{c['gb_per_s']:.2f} GB/s sustained, {_num(c['extra']['tb_per_month'])} TB/month, "
            f"{_num(c['extra']['tb_per_month_per_core'])} TB/month per server core; "
            f"nginx {n['bytes'] / 1e12:.3f} TB, {n['gb_per_s']:.2f} GB/s, "
            f"{_num(n['extra']['tb_per_month_per_core'])} TB/month per server core.",
        ]
    lines += ["", "What else used the CPU during each measurement (cores, average):", ""]
    lines += harness.table_head(
        [
            "Scenario",
            "Server",
            "Load",
            "Server CPU-s",
            "Load side CPU-s",
            "Other work",
            "Busiest other processes (CPU-s)",
        ],
        "lllrrrl",
    )
    for row in rows:
        others = ", ".join(f"{name} {secs:.1f}" for name, secs in row["busiest_others"][:3])
        lines.append(
            harness.table_row(
                [
                    row["scenario"],
                    row["server"],
                    str(row["concurrency"]),
                    _num(row["server_cpu_s"]),
                    _num(row["client_cpu_s"]),
                    f"{row['other_cores']:.2f}",
                    others or "—",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def plots(doc: dict[str, Any], out: Path) -> list[Path]:
    """throughput.png and p99.png: each plotted scenario against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: list[dict[str, Any]] = doc["rows"]
    scenarios = [name for name in PLOTTED if any(r["scenario"] == name for r in rows)]
    written: list[Path] = []
    charts: list[tuple[str, Callable[[str], tuple[str, str]]]] = [
        ("throughput", lambda name: PLOTTED[name]),
        ("p99", lambda name: ("p99_ms", "p99 latency (ms)")),
    ]
    for chart, pick in charts:
        if not scenarios:
            break
        fig, axes = plt.subplots(1, len(scenarios), figsize=(5.5 * len(scenarios), 4))
        for ax, name in zip(axes if len(scenarios) > 1 else [axes], scenarios, strict=True):
            key, label = pick(name)
            for server, style in (("castedge", "o-"), ("nginx", "s--")):
                mine = sorted(
                    (r for r in rows if r["scenario"] == name and r["server"] == server),
                    key=lambda r: r["concurrency"],
                )
                ax.plot(
                    [r["concurrency"] for r in mine], [r[key] for r in mine], style, label=server
                )
            ax.set_xscale("log", base=2)
            ticks = sorted({r["concurrency"] for r in rows if r["scenario"] == name})
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("concurrent connections")
            ax.set_ylabel(label)
            ax.set_title(name)
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.suptitle(f"castedge vs nginx, {doc['settings']['workers']} worker(s), {doc['date']}")
        fig.tight_layout()
        path = out / f"{chart}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
