"""What each region must do to hold the bucket: the replication plan, as a pure function.

The daemon lists the main bucket (key → ETag and size) and remembers which version
each region holds. ``plan`` compares the two and says, per region, which objects to
fetch (new, or replaced: a different ETag) and which to purge (deleted, or replaced:
the old copy goes before the new one is fetched). A listing only ever shows complete
objects — a multipart upload appears once it is complete — so nothing half-uploaded
is announced; an object replaced again while it is being replicated simply shows its
newest ETag in the next listing, and the newest wins.

``max_deletes`` guards against a listing that went wrong (a wrong prefix, an emptied
bucket): a pass that would purge more objects than that purges none, and says so,
while fetches go ahead. A delete is otherwise never skipped because something else
failed: every pass plans every purge again until the region confirms it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Obj", "Plan", "RegionPlan", "plan"]


@dataclass(frozen=True, slots=True)
class Obj:
    """One version of an object as the bucket lists it."""

    etag: str
    size: int


@dataclass(frozen=True)
class RegionPlan:
    """One region's work: keys to purge first, then keys to fetch (with the wanted version)."""

    purge: tuple[str, ...] = ()
    fetch: tuple[tuple[str, Obj], ...] = ()

    @property
    def bytes(self) -> int:
        """What the region still has to pull from S3."""
        return sum(obj.size for _, obj in self.fetch)


@dataclass(frozen=True)
class Plan:
    """Every region's work, and whether the delete guard held purges back."""

    regions: Mapping[str, RegionPlan] = field(default_factory=dict)
    #: Objects gone from the bucket that some region still holds, before the guard:
    #: above ``max_deletes`` none of them is purged anywhere.
    deletes: int = 0
    deletes_held: bool = False


def plan(
    listing: Mapping[str, Obj],
    holdings: Mapping[str, Mapping[str, str]],
    regions: tuple[str, ...],
    *,
    max_deletes: int,
) -> Plan:
    """The work that makes every region hold exactly ``listing``.

    ``holdings`` maps a region to the keys it holds and their ETags; a region not in it
    holds nothing known. Fetches are ordered by key, so a pass is repeatable.
    """
    planned: dict[str, tuple[list[str], list[tuple[str, Obj]]]] = {}
    deleted: set[str] = set()
    for region in regions:
        held = holdings.get(region, {})
        purge = [key for key in held if key not in listing]
        deleted.update(purge)
        replaced = [
            key for key, etag in held.items() if key in listing and listing[key].etag != etag
        ]
        fetch = [(key, obj) for key, obj in listing.items() if held.get(key) != obj.etag]
        planned[region] = (sorted(purge) + sorted(replaced), sorted(fetch, key=lambda kv: kv[0]))
    deletes = len(deleted)
    held_back = deletes > max_deletes
    result = {}
    for region, (purge, fetch) in planned.items():
        if held_back:
            # Replaced objects still get their old copy purged: that is no delete.
            purge = [key for key in purge if key in listing]
        result[region] = RegionPlan(tuple(purge), tuple(fetch))
    return Plan(result, deletes, held_back)
