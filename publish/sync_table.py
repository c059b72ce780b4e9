"""``castedge sync status`` as text: a line about the last listing, then a row per region; pure."""

from __future__ import annotations

from . import human
from .answers import SyncStatus

__all__ = ["HEADER", "status_lines"]

HEADER = (
    "REGION", "HEALTHY", "HELD", "PENDING", "BYTES PENDING", "OLDEST PENDING", "LAST ERROR",
    "LAST SUCCESS",
)  # fmt: skip

#: A last error longer than this is cut: the journal has the rest.
MAX_ERROR = 48


def status_lines(status: SyncStatus, now: float) -> list[str]:
    """The lines to print for ``status`` read at ``now`` (seconds since the epoch)."""
    if status.listed_at is None:
        listed = "the bucket has not been listed yet"
    else:
        listed = f"listed {human.age(now - status.listed_at)}: {_objects(status.objects)}"
    if not status.regions:
        return [listed, "no region to sync to"]
    rows = [list(HEADER)]
    for region in status.regions:
        oldest = region.oldest_pending_seconds
        rows.append(
            [
                region.name,
                "yes" if region.healthy else "no",
                str(region.held),
                str(region.objects_pending),
                human.size(region.bytes_pending),
                "-" if oldest is None else human.duration(oldest),
                _cut(region.last_error) if region.last_error else "-",
                "never" if region.last_success is None else human.age(now - region.last_success),
            ]
        )
    return [listed, "", *_table(rows)]


def _objects(count: int) -> str:
    return f"{count} object" + ("" if count == 1 else "s") + " in the bucket"


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
