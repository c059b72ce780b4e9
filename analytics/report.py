"""What a count finds, and how it is shown: a table, JSON for dashboards, CSV for spreadsheets.

The JSON form::

    {"since": "2026-11-01", "until": "2026-11-30", "window": "utc-day",
     "episodes": {"podcast/ep215.mp3": {"downloads": 412, "listeners": 398, "bytes": 1234}},
     "filtered": {"probe": 96, "bot": 12},
     "flagged": [{"episode": "podcast/ep215.mp3", "day": "2026-11-03",
                  "address": "h:5c0f…", "downloads": 80, "requests": 161}],
     "thresholds": {"podcast/ep215.mp3": {"rule": "one minute", "kbps": 128.0,
                    "audio_start": 1389768, "needed_bytes": 960000, "source": "cache"}}}

With ``--by app`` (``country``, ``day``) each episode also holds ``"by_app": {"Overcast":
{"downloads": …, "listeners": …, "bytes": …}, …}``.

Pure: a Report in, text out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config.units import format_size

from .filters import WHY
from .period import Period

__all__ = ["Flag", "Report", "Threshold", "Totals", "to_csv", "to_json", "to_table"]


@dataclass(frozen=True)
class Totals:
    """One episode's (or one group's) downloads, unique listeners and the bytes they took."""

    downloads: int = 0
    listeners: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"downloads": self.downloads, "listeners": self.listeners, "bytes": self.bytes}


@dataclass(frozen=True)
class Flag:
    """An address whose downloads of an episode on a day were too many to be a listener's."""

    episode: str
    day: str
    address: str
    downloads: int
    requests: int


@dataclass(frozen=True)
class Threshold:
    """How much of an episode a listener had to receive for a download, and how that was known."""

    #: "one minute" (of audio, after the ID3 tag) or "complete file".
    rule: str
    #: Bits per second, when known.
    bitrate: int | None
    audio_start: int
    #: Bytes that had to be received: a minute of audio, or the whole file.
    needed: int
    #: Where the bitrate came from: "cache", "storage", "given" or "unknown".
    source: str


@dataclass(frozen=True)
class Report:
    """The counts of a period."""

    period: Period
    episodes: Mapping[str, Totals]
    filtered: Mapping[str, int]
    flagged: tuple[Flag, ...] = ()
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    #: "app", "country", "day" or None.
    group: str | None = None
    groups: Mapping[str, Mapping[str, Totals]] = field(default_factory=dict)


def to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready mapping (see the module docstring)."""
    episodes: dict[str, Any] = {}
    for key, totals in sorted(report.episodes.items()):
        entry: dict[str, Any] = totals.as_dict()
        if report.group is not None:
            entry[f"by_{report.group}"] = {
                name: group.as_dict() for name, group in sorted(report.groups.get(key, {}).items())
            }
        episodes[key] = entry
    return {
        "since": report.period.first,
        "until": report.period.last,
        "window": "utc-day",
        "episodes": episodes,
        "filtered": dict(sorted(report.filtered.items())),
        "flagged": [
            {
                "episode": f.episode,
                "day": f.day,
                "address": f.address,
                "downloads": f.downloads,
                "requests": f.requests,
            }
            for f in report.flagged
        ],
        "thresholds": {
            key: {
                "rule": t.rule,
                "kbps": None if t.bitrate is None else t.bitrate / 1000,
                "audio_start": t.audio_start,
                "needed_bytes": t.needed,
                "source": t.source,
            }
            for key, t in sorted(report.thresholds.items())
        },
    }


def to_csv(report: Report) -> str:
    """One line per episode (and group): episode,[group,]downloads,listeners,bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    grouped = report.group is not None
    writer.writerow(["episode", *([report.group] if grouped else []), *_COLUMNS])
    for key, totals in sorted(report.episodes.items()):
        if grouped:
            for name, group in sorted(report.groups.get(key, {}).items()):
                writer.writerow([key, name, group.downloads, group.listeners, group.bytes])
        else:
            writer.writerow([key, totals.downloads, totals.listeners, totals.bytes])
    return out.getvalue()


_COLUMNS = ("downloads", "listeners", "bytes")


def to_table(report: Report) -> str:
    """The report for a terminal: a table per episode, then what was filtered and flagged."""
    lines = [
        f"Downloads {report.period.first} to {report.period.last} (IAB v2.2; UTC days; "
        "a listener is an address and a User-Agent)",
        "",
    ]
    grouped = report.group is not None
    head = ["EPISODE", *([report.group.upper()] if report.group else []), "DOWNLOADS"]
    rows: list[list[str]] = [[*head, "LISTENERS", "BYTES", "THRESHOLD"]]
    for key, totals in sorted(report.episodes.items()):
        threshold = _describe(report.thresholds.get(key))
        rows.append(
            [
                key,
                *(["(all)"] if grouped else []),
                str(totals.downloads),
                str(totals.listeners),
                format_size(totals.bytes),
                threshold,
            ]
        )
        if grouped:
            for name, group in sorted(report.groups.get(key, {}).items()):
                rows.append(
                    [
                        "",
                        name,
                        str(group.downloads),
                        str(group.listeners),
                        format_size(group.bytes),
                        "",
                    ]
                )
    if len(rows) == 1:
        lines.append("No requests for any episode in this period.")
    else:
        lines.extend(_aligned(rows, numeric=range(len(head) - 1, len(head) + 2)))
    if report.filtered:
        lines += ["", "Filtered requests (not counted):"]
        for reason, number in sorted(report.filtered.items(), key=lambda item: -item[1]):
            why = WHY.get(reason, reason)
            lines.append(f"  {number:>8}  {reason}: {why}")
    if report.flagged:
        lines += ["", "Flagged addresses (their downloads are not counted):"]
        for f in report.flagged:
            lines.append(
                f"  {f.episode} on {f.day}: {f.address} made {f.downloads} downloads "
                f"in {f.requests} requests"
            )
    return "\n".join(lines) + "\n"


def _describe(threshold: Threshold | None) -> str:
    if threshold is None:
        return ""
    if threshold.rule == "one minute" and threshold.bitrate is not None:
        return (
            f"{threshold.bitrate / 1000:g} kbps ({threshold.source}): "
            f"{threshold.needed} bytes after the {threshold.audio_start}-byte tag"
        )
    return f"complete file ({threshold.needed} bytes; bitrate {threshold.source})"


def _aligned(rows: list[list[str]], numeric: range) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append("  ".join(cells).rstrip())
    return out
