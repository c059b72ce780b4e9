"""What ``castedge publish --wait`` waits for: each published key, at its ETag, in every region.

Pure: it is shown the daemon's status and holdings with the time they were read,
and says what changed. A region counts while the daemon calls it healthy; one that
is down is not waited for (the locator sends its players elsewhere), and is again
once it is back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .answers import Holdings, SyncStatus
from .etag import etag_problem

__all__ = ["Arrival", "Published", "RegionBack", "RegionDown", "Watch"]


@dataclass(frozen=True)
class Published:
    """A key as publish left it: the ETag S3 gave it and when (a monotonic clock's seconds)."""

    etag: str
    at: float


@dataclass(frozen=True)
class Arrival:
    """``region`` holds ``key`` at the published ETag, ``seconds`` after it was published."""

    region: str
    key: str
    seconds: float


@dataclass(frozen=True)
class RegionDown:
    """The daemon calls ``region`` unhealthy: it is not waited for while it is."""

    region: str
    last_error: str | None


@dataclass(frozen=True)
class RegionBack:
    """``region`` is healthy again and is waited for."""

    region: str


Event = Arrival | RegionDown | RegionBack


@dataclass
class Watch:
    """Follows the published keys into the regions, one look at the daemon at a time."""

    published: Mapping[str, Published]
    _regions: tuple[str, ...] = field(default=(), init=False)
    _down: set[str] = field(default_factory=set, init=False)
    _arrived: dict[str, set[str]] = field(default_factory=dict, init=False)
    _looked: bool = field(default=False, init=False)

    def observe(self, status: SyncStatus, holdings: Holdings, now: float) -> list[Event]:
        """What changed since the last look, in the daemon's order of regions."""
        events: list[Event] = []
        self._looked = True
        self._regions = tuple(region.name for region in status.regions)
        for region in status.regions:
            if not region.healthy and region.name not in self._down:
                self._down.add(region.name)
                events.append(RegionDown(region.name, region.last_error))
            elif region.healthy and region.name in self._down:
                self._down.discard(region.name)
                events.append(RegionBack(region.name))
        for name in self._regions:
            arrived = self._arrived.setdefault(name, set())
            for key, published in self.published.items():
                if key in arrived:
                    continue
                holding = holdings.objects.get(key)
                if holding is None or name not in holding.held:
                    continue
                # An older version of the key in that region is not this upload.
                if etag_problem(holding.etag, published.etag) is not None:
                    continue
                arrived.add(key)
                events.append(Arrival(name, key, now - published.at))
        return events

    @property
    def healthy(self) -> tuple[str, ...]:
        """The regions waited for, as of the last look."""
        return tuple(name for name in self._regions if name not in self._down)

    def missing(self) -> dict[str, list[str]]:
        """Each healthy region still without some published keys, and those keys."""
        gaps = {}
        for name in self.healthy:
            arrived = self._arrived.get(name, set())
            keys = [key for key in self.published if key not in arrived]
            if keys:
                gaps[name] = keys
        return gaps

    @property
    def done(self) -> bool:
        """Whether every healthy region holds every published key (once looked at all)."""
        return self._looked and not self.missing()
