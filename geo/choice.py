"""Which region should serve a client at a given point: nearest healthy first.

Pure: the caller supplies the catalogue, the client's point and the names of the
regions currently healthy; nothing here looks anything up or reads the clock.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from geo.distance import great_circle_km
from geo.region import Region


@dataclass(frozen=True, slots=True)
class Ranked:
    """One region's place in a ranking, with what decided it (for logs and status)."""

    region: Region
    distance_km: float
    healthy: bool

    @property
    def effective_km(self) -> float:
        """The distance the ranking compares: `distance_km / region.weight`."""
        return self.distance_km / self.region.weight


def rank(
    regions: Sequence[Region],
    point: tuple[float, float],
    healthy: Container[str],
) -> list[Ranked]:
    """Order every region for a client at `point`, the best choice first.

    Healthy regions come before unhealthy ones, so the list doubles as a fallback
    order. Within each group regions go by effective distance (distance divided by
    weight: a weight above 1 attracts, below 1 repels); exact ties go to the region
    listed earlier in the catalogue.
    """
    entries = [
        Ranked(region, great_circle_km(point, region.point), region.name in healthy)
        for region in regions
    ]
    # list.sort is stable, so entries that compare equal keep catalogue order.
    entries.sort(key=lambda entry: (not entry.healthy, entry.effective_km))
    return entries


def choose(
    regions: Sequence[Region],
    point: tuple[float, float],
    healthy: Container[str],
) -> Region | None:
    """The region to send a client at `point` to, or None when no region is healthy."""
    best = rank(regions, point, healthy)
    if best and best[0].healthy:
        return best[0].region
    return None
