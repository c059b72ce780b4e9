"""The regions players can be sent to: where each one is and how strongly it attracts.

A catalogue is an ordered tuple of `Region`s. Its order matters: when two regions are
exactly as near as each other, the one listed first wins, so an operator can express
a preference by ordering the configuration file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from geo.errors import InvalidSetting


@dataclass(frozen=True, slots=True)
class Region:
    """One place edge nodes run, with the point distances are measured from.

    `weight` biases the choice without moving the point: a region's *effective*
    distance from a client is `distance_km / weight`. A weight above 1 attracts
    clients from farther away (a region with spare capacity or cheaper bandwidth);
    below 1 repels them (a small region that should only take its own neighbours).
    A weight of 2 makes a region 4000 km away compete equally with one 2000 km away
    at weight 1.
    """

    name: str
    latitude: float
    longitude: float
    base_url: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidSetting("region name", self.name, "a non-empty name")
        if not -90.0 <= self.latitude <= 90.0:
            raise InvalidSetting(
                f"region {self.name!r} latitude", self.latitude, "degrees in [-90, 90]"
            )
        if not -180.0 <= self.longitude <= 180.0:
            raise InvalidSetting(
                f"region {self.name!r} longitude", self.longitude, "degrees in [-180, 180]"
            )
        if not (math.isfinite(self.weight) and self.weight > 0.0):
            raise InvalidSetting(
                f"region {self.name!r} weight", self.weight, "a finite number above 0"
            )

    @property
    def point(self) -> tuple[float, float]:
        """The region's (latitude, longitude), the form distance functions take."""
        return (self.latitude, self.longitude)


def check_catalogue(regions: Iterable[Region]) -> tuple[Region, ...]:
    """Freeze a catalogue after checking it names at least one region, each only once."""
    catalogue = tuple(regions)
    if not catalogue:
        raise InvalidSetting("regions", [], "at least one region")
    seen: set[str] = set()
    for region in catalogue:
        if region.name in seen:
            raise InvalidSetting("regions", region.name, "each region name once")
        seen.add(region.name)
    return catalogue


# Each region sits where the big clouds' datacentres for that area are, so distances
# approximate the network paths players will actually take. Coordinates are the
# city centres (WGS 84, decimal degrees); the base URLs are placeholders that the
# configuration replaces.
DEFAULT_REGIONS: tuple[Region, ...] = (
    # Columbus, Ohio.
    Region("us-east", 39.9612, -82.9988, "https://us-east.edge.example"),
    # Boardman, Oregon, beside the Columbia River datacentres (The Dalles is 110 km west).
    Region("us-west", 45.8399, -119.7006, "https://us-west.edge.example"),
    # São Paulo.
    Region("sa-east", -23.5505, -46.6333, "https://sa-east.edge.example"),
    # London.
    Region("eu-west", 51.5074, -0.1278, "https://eu-west.edge.example"),
    # Frankfurt am Main.
    Region("eu-central", 50.1109, 8.6821, "https://eu-central.edge.example"),
    # Mumbai.
    Region("ap-south", 19.0760, 72.8777, "https://ap-south.edge.example"),
    # Tokyo.
    Region("ap-northeast", 35.6762, 139.6503, "https://ap-northeast.edge.example"),
    # Sydney.
    Region("ap-southeast", -33.8688, 151.2093, "https://ap-southeast.edge.example"),
)
