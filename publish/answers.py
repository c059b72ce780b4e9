"""The sync daemon's admin API documents, read into typed values; pure.

The daemon (``castedge sync``) answers on its node's admin listener:

- ``POST /admin/sync/nudge`` → 202 ``{"pass": N}``;
- ``GET /admin/sync/status`` → ``{"listed_at", "objects", "regions": {name: {"healthy",
  "held", "objects_pending", "bytes_pending", "oldest_pending_seconds", "last_error",
  "last_success"}}}``;
- ``GET /admin/sync/holdings`` → ``{"regions": [...], "objects": {key: {"etag", "size",
  "held": [region, ...]}}}``.

A field that is missing reads as unknown (None, 0, nothing held), so a daemon a
version apart still gives a table; a field of the wrong type is a ValueError that
names it, as a daemon that says ``"healthy": "no"`` must not read as healthy.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "Holding",
    "Holdings",
    "RegionStatus",
    "SyncStatus",
    "parse_holdings",
    "parse_nudge",
    "parse_status",
]


@dataclass(frozen=True)
class RegionStatus:
    """One region as the daemon sees it; times are seconds since the epoch."""

    name: str
    healthy: bool
    held: int
    objects_pending: int
    bytes_pending: int
    oldest_pending_seconds: float | None
    last_error: str | None
    last_success: float | None


@dataclass(frozen=True)
class SyncStatus:
    """The daemon's last listing of the bucket and each region's progress, in its order."""

    listed_at: float | None
    objects: int
    regions: tuple[RegionStatus, ...]


@dataclass(frozen=True)
class Holding:
    """One object of the bucket: the version the daemon listed and the regions holding it."""

    etag: str
    size: int
    held: frozenset[str]


@dataclass(frozen=True)
class Holdings:
    """Which region holds which object, by key."""

    regions: tuple[str, ...]
    objects: Mapping[str, Holding]


def parse_nudge(doc: object) -> int:
    """The number of the listing pass the nudge started."""
    body = _mapping(doc, "the answer")
    return _int(body, "pass", "the answer", default=None)


def parse_status(doc: object) -> SyncStatus:
    """``GET /admin/sync/status`` as a SyncStatus; ValueError naming a mistyped field."""
    body = _mapping(doc, "the answer")
    regions = []
    for name, raw in _mapping(body.get("regions", {}), "regions").items():
        where = f"regions.{name}"
        region = _mapping(raw, where)
        healthy = region.get("healthy", False)
        if not isinstance(healthy, bool):
            raise ValueError(f"{where}.healthy: expected true or false, got {healthy!r}")
        regions.append(
            RegionStatus(
                name=str(name),
                healthy=healthy,
                held=_int(region, "held", where),
                objects_pending=_int(region, "objects_pending", where),
                bytes_pending=_int(region, "bytes_pending", where),
                oldest_pending_seconds=_seconds(region, "oldest_pending_seconds", where),
                last_error=_text(region, "last_error", where),
                last_success=_time(region, "last_success", where),
            )
        )
    return SyncStatus(
        listed_at=_time(body, "listed_at", "the answer"),
        objects=_int(body, "objects", "the answer"),
        regions=tuple(regions),
    )


def parse_holdings(doc: object) -> Holdings:
    """``GET /admin/sync/holdings`` as Holdings; ValueError naming a mistyped field."""
    body = _mapping(doc, "the answer")
    names = body.get("regions", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"regions: expected a list of names, got {names!r}")
    objects = {}
    for key, raw in _mapping(body.get("objects", {}), "objects").items():
        where = f"objects.{key}"
        entry = _mapping(raw, where)
        etag = entry.get("etag")
        if not isinstance(etag, str):
            raise ValueError(f"{where}.etag: expected a string, got {etag!r}")
        held = entry.get("held", [])
        if not isinstance(held, list) or not all(isinstance(r, str) for r in held):
            raise ValueError(f"{where}.held: expected a list of regions, got {held!r}")
        objects[str(key)] = Holding(etag, _int(entry, "size", where), frozenset(held))
    return Holdings(tuple(names), MappingProxyType(objects))


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _int(body: Mapping[str, Any], name: str, where: str, default: int | None = 0) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{name}: expected a count, got {value!r}")
    return value


def _seconds(body: Mapping[str, Any], name: str, where: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{name}: expected seconds or null, got {value!r}")
    return float(value)


def _text(body: Mapping[str, Any], name: str, where: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{where}.{name}: expected text or null, got {value!r}")


def _time(body: Mapping[str, Any], name: str, where: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}.{name}: expected an ISO 8601 time or null, got {value!r}")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}.{name}: expected an ISO 8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        # A time without an offset from a server is UTC, as the daemon writes them.
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
