"""``castedge stats``: podcast downloads by the IAB v2.2 rules, from the origin's download logs."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from castedge.common import load_from_args
from config import DEFAULT_CONFIG_PATH, Settings

__all__ = ["add_stats_commands"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]

OPAWG_SOURCE = "https://github.com/opawg/user-agents/blob/master/src/user-agents.json"


def _bitrate(text: str) -> tuple[str, float]:
    key, sep, kbps = text.rpartition("=")
    try:
        value = float(kbps)
    except ValueError:
        value = 0.0
    if not sep or not key or not value > 0:
        raise argparse.ArgumentTypeError(f"expected KEY=KBPS such as ep1.mp3=128, got {text!r}")
    return key, value


def _settings(args: argparse.Namespace) -> Settings | None:
    """The node's settings when there are any: stats also runs on a machine with only logs."""
    if args.config or os.environ.get("CASTEDGE_CONFIG") or Path(DEFAULT_CONFIG_PATH).exists():
        return load_from_args(args)
    return None


def cmd_stats(args: argparse.Namespace) -> int:
    from analytics import AnalyticsError, Group, Period, to_csv, to_json, to_table
    from analytics.stats import CLICKHOUSE_TABLE, Query, Stats, default_db, default_logs

    settings = _settings(args)
    if args.refresh_agents is not None:
        return _refresh_agents(settings, args.refresh_agents, args.source)
    if args.emit == "clickhouse-table":
        sys.stdout.write(CLICKHOUSE_TABLE.read_text())
        return 0
    if args.since is None:
        print("castedge stats: --since DAY is required (such as 2026-11-01)", file=sys.stderr)
        return 2
    logs = [Path(p) for p in args.logfile] or default_logs(settings)
    if not logs:
        print(
            "castedge stats: no log to read: name the files, or set analytics.log in --config",
            file=sys.stderr,
        )
        return 2
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        print(f"castedge stats: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        period = Period.parse(args.since, args.until, now=time.time())
        query = Query(period, args.episode, Group(args.by) if args.by else None)
        with Stats(settings, args.db or default_db(settings), given=dict(args.bitrate),
                   geoip=args.geoip) as stats:  # fmt: skip
            read = stats.ingest(logs)
            print(
                f"read {read.files} log file(s): {read.rows} new row(s)"
                + (f", {read.bad_lines} line(s) that are not rows" if read.bad_lines else ""),
                file=sys.stderr,
            )
            for path, offset, reason in read.bad:
                print(f"  {path} at byte {offset}: {reason}", file=sys.stderr)
            if args.emit == "jsonl":
                for row in stats.emit(query):
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                return 0
            report = stats.report(query)
            for note in stats.sources.notes:
                print(f"note: {note}", file=sys.stderr)
    except AnalyticsError as exc:
        print(f"castedge stats: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(report), indent=2, ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(to_csv(report))
    else:
        sys.stdout.write(to_table(report))
    return 0


def _refresh_agents(settings: Settings | None, file: str, source: str | None) -> int:
    """Check a downloaded user-agent list and make it the one castedge uses."""
    from analytics import AgentList, BadAgentList
    from analytics.stats import agents_path

    path = Path(file)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        agents = AgentList.from_document(document)
    except OSError as exc:
        print(f"castedge stats: {path}: cannot read it: {exc}", file=sys.stderr)
        return 2
    except BadAgentList as exc:
        print(f"castedge stats: {path}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"castedge stats: {path}: not JSON: {exc}", file=sys.stderr)
        return 2
    entries = document["entries"] if isinstance(document, dict) else document
    today = datetime.datetime.fromtimestamp(time.time(), datetime.UTC).date().isoformat()
    wrapped = {
        "source": source
        or (document.get("source") if isinstance(document, dict) else None)
        or OPAWG_SOURCE,
        "date": today,
        "partial": bool(document.get("partial", False)) if isinstance(document, dict) else False,
        "entries": entries,
    }
    target = agents_path(settings)
    aside = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        aside.write_text(json.dumps(wrapped, indent=1, ensure_ascii=False) + "\n", "utf-8")
        os.replace(aside, target)
    except OSError as exc:
        aside.unlink(missing_ok=True)
        print(
            f"castedge stats: cannot write {target}: {exc.strerror or exc}; "
            "set analytics.agents to a file castedge may write",
            file=sys.stderr,
        )
        return 1
    print(f"{target}: {len(agents)} entries from {wrapped['source']}, {today}")
    return 0


def add_stats_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds ``castedge stats`` to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "stats",
            help="podcast downloads per episode (IAB v2.2) from download logs",
            description=(
                "Read download logs (plain or .gz, rotated copies included) into the SQLite "
                "store, reading only lines added since the last run, and count downloads, "
                "listeners and bytes per episode by the IAB v2.2 rules. See docs/analytics.md."
            ),
        )
    )
    p.add_argument(
        "logfile",
        nargs="*",
        help="download logs (default: the file the settings' analytics.log names, and its "
        "rotated copies)",
    )
    p.add_argument(
        "--since",
        metavar="DAY",
        help="first UTC day counted, such as 2026-11-01 (needed to count or to --emit jsonl)",
    )
    p.add_argument("--until", metavar="DAY", help="last UTC day counted (default: today)")
    p.add_argument("--episode", metavar="KEY", help="only this episode, such as podcast/ep215.mp3")
    p.add_argument("--by", choices=("app", "country", "day"), help="break each episode down")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON, as /admin/stats answers")
    form.add_argument("--csv", action="store_true", help="print CSV")
    form.add_argument(
        "--emit",
        choices=("jsonl", "clickhouse-table"),
        help="print the period's rows for ClickHouse (JSONEachRow), or its table definition",
    )
    p.add_argument(
        "--db",
        metavar="FILE",
        type=Path,
        help="the SQLite store (default: analytics.db, else beside analytics.log, else here)",
    )
    p.add_argument(
        "--bitrate",
        metavar="KEY=KBPS",
        type=_bitrate,
        action="append",
        default=[],
        help="the bitrate of an episode castedge cannot read from the cache or the storage",
    )
    p.add_argument(
        "--geoip",
        metavar="FILE",
        type=Path,
        help="a GeoIP2 City or Country database for --by country (default: geo.database)",
    )
    p.add_argument(
        "--refresh-agents",
        metavar="FILE",
        help="check a downloaded copy of OPAWG's user-agents.json and use it from now on",
    )
    p.add_argument("--source", metavar="URL", help="with --refresh-agents: where FILE came from")
    p.set_defaults(func=cmd_stats)
