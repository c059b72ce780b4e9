"""Words and tables that explain a choice to an operator: "why did this user go to Tokyo?".

Pure: a `Location` and a ranking in, lines of text out. `castedge locate` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from geo.choice import Ranked
from geo.locate import Kind, Location
from geo.region import Region

__all__ = ["describe_location", "ranking_table"]

_HEADINGS = ("", "#", "region", "distance km", "effective km", "weight", "health")
# Text columns are left-aligned, numbers right-aligned.
_LEFT = {0, 2, 6}


def describe_location(location: Location, default: Region, *, city: str | None = None) -> str:
    """One line saying where the client was placed, how precisely, and from what."""
    where = ", ".join(part for part in (city, location.country, location.continent) if part)
    point = location.point
    at = f"{point[0]:.4f}, {point[1]:.4f}" if point is not None else ""
    if location.kind is Kind.CITY:
        return f"city: {where} at {at}"
    if location.kind is Kind.COUNTRY:
        return f"country only: {where}; ranked from the country's point {at}"
    if location.kind is Kind.CONTINENT:
        return f"continent only: {where}; ranked from the continent's point {at}"
    reason = location.reason.value.replace("_", " ") if location.reason is not None else "?"
    return f"not placed ({reason}); ranked from the default region {default.name}"


def ranking_table(
    ranking: Sequence[Ranked],
    notes: Mapping[str, str] | None = None,
    *,
    chosen: str | None = "",
) -> list[str]:
    """The ranking as aligned columns, the chosen region marked with "→".

    `notes` adds words after a region's health, such as "2 failed checks". `chosen`
    names the region players go to when something besides health decided it (which
    regions hold the file); by default it is the first, if healthy.
    """
    notes = notes or {}
    if chosen == "":
        chosen = ranking[0].region.name if ranking and ranking[0].healthy else None
    rows = [_HEADINGS]
    for place, entry in enumerate(ranking, start=1):
        health = "up" if entry.healthy else "DOWN"
        note = notes.get(entry.region.name)
        rows.append(
            (
                "→" if entry.region.name == chosen else "",
                str(place),
                entry.region.name,
                f"{entry.distance_km:,.0f}",
                f"{entry.effective_km:,.0f}",
                f"{entry.region.weight:g}",
                f"{health} ({note})" if note else health,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADINGS))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if column in _LEFT else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
