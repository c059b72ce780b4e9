"""Which roles a settings file configures, what each needs, and what each may touch.

A node is one YAML file: every role section present (``origin``, ``edge``,
``locator``) is a role ``castedge serve`` runs. A role asks only for what it uses,
and the checks here run when the file is loaded, so ``castedge check-config``
refuses exactly the files ``castedge serve`` would.

The roles that cache (origin and edge) never share objects: each gets its own
directory under ``cache.dir`` (or its own ``cache_dir``) and its part of
``cache.max_size``. The rule for the size: a role's ``cache_max_size`` is its
own; what the explicit sizes leave of ``cache.max_size`` is split equally among the
caching roles that give none.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .settings import CacheSettings, EdgeSettings, HttpSettings, OriginSettings, Settings
from .spec import Invalid

__all__ = [
    "CACHING_ROLES",
    "ROLES",
    "caches_apart",
    "exposure_warnings",
    "overlapping",
    "role_cache",
    "role_http",
    "role_prefixes",
    "roles_complete",
    "roles_in",
    "serves",
]

#: Every role, in the order a node starts them.
ROLES = ("origin", "edge", "locator", "sync")
#: The roles that keep objects on local disk.
CACHING_ROLES = ("origin", "edge")

#: For each role, the sections it cannot run without, and what it uses them for.
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "origin": (
        ("storage", "the origin fetches misses from it (give storage.s3 or storage.dir)"),
        ("cache", "the origin keeps episodes there (give cache.dir and cache.max_size)"),
    ),
    "edge": (
        ("storage", "the edge fetches misses from it (give storage.s3 or storage.dir)"),
        ("cache", "the edge keeps video there (give cache.dir and cache.max_size)"),
        ("signing", "the edge checks tokens with its keys"),
    ),
    "locator": (
        ("geo", "the locator places players with geo.database (a City database)"),
        ("regions", "the locator sends players to one of them"),
        ("signing", "the locator checks grants and signs edge URLs with its keys"),
    ),
    "sync": (
        ("storage", "the sync daemon lists the main bucket (give storage.s3)"),
        ("regions", "the sync daemon gets every region to hold the bucket's objects"),
    ),
}


def roles_in(settings: Settings) -> tuple[str, ...]:
    """The roles whose sections the file has, in start order."""
    return tuple(role for role in ROLES if getattr(settings, role) is not None)


def roles_complete(settings: Settings) -> None:
    """A settings check: every role present has the sections it needs."""
    for role in roles_in(settings):
        for section, why in _NEEDS[role]:
            if getattr(settings, section) is None:
                raise Invalid(f"missing, and the {role} section needs it: {why}", (section,))
    if settings.sync is not None:
        _sync_complete(settings)


def _sync_complete(settings: Settings) -> None:
    if settings.storage is None or settings.storage.s3 is None:
        raise Invalid(
            "expected s3, which the sync section lists; a local directory cannot be replicated",
            ("storage",),
        )
    for index, region in enumerate(settings.regions or ()):
        if region.admin_url is None and not region.members:
            raise Invalid(
                "missing, and the sync section needs it: the admin URL of the region's edge, "
                "which the daemon asks to prefetch and purge (or, for several edges behind "
                "a balancer at base_url, their admin URLs as members)",
                ("regions", f"[{index}]", "admin_url"),
            )
        if region.members and settings.signing is None:
            raise Invalid(
                f"missing, and regions[{index}] ({region.name}) lists members: the sync daemon "
                "prefetches through the region's balancer with signed requests, minted with "
                "these keys (give the edges' signing section)",
                ("signing",),
            )


def _caching(settings: Settings) -> list[tuple[str, OriginSettings | EdgeSettings]]:
    found: list[tuple[str, OriginSettings | EdgeSettings]] = []
    if settings.origin is not None:
        found.append(("origin", settings.origin))
    if settings.edge is not None:
        found.append(("edge", settings.edge))
    return found


def role_cache(settings: Settings, role: str) -> CacheSettings:
    """The cache one role uses: its own directory and its part of ``cache.max_size``."""
    cache = settings.cache
    roles = dict(_caching(settings))
    if cache is None or role not in roles:
        raise LookupError(f"the settings configure no cache for the {role} role")
    section = roles[role]
    directory = section.cache_dir if section.cache_dir is not None else cache.dir / role
    if section.cache_max_size is not None:
        size = section.cache_max_size
    else:
        explicit = sum(s.cache_max_size or 0 for s in roles.values())
        sharing = sum(1 for s in roles.values() if s.cache_max_size is None)
        size = (cache.max_size - explicit) // sharing
    return dataclasses.replace(cache, dir=directory, max_size=size)


def caches_apart(settings: Settings) -> None:
    """A settings check: caching roles get distinct directories and a size each."""
    cache = settings.cache
    roles = _caching(settings)
    if cache is None or not roles:
        return
    explicit = [(role, s.cache_max_size) for role, s in roles if s.cache_max_size is not None]
    total = sum(size for _, size in explicit)
    sharing = [role for role, s in roles if s.cache_max_size is None]
    if total > cache.max_size or (sharing and total >= cache.max_size):
        role = explicit[-1][0]
        leaves = " and leave some for " + " and ".join(sharing) if sharing else ""
        raise Invalid(
            f"expected sizes that add up to at most cache.max_size ({cache.max_size} bytes)"
            f"{leaves}, got {total} bytes in all",
            (role, "cache_max_size"),
        )
    seen: dict[Path, str] = {}
    for role, _ in roles:
        directory = role_cache(settings, role).dir
        for other_dir, other in seen.items():
            if _nested(directory, other_dir):
                raise Invalid(
                    f"expected a directory apart from the {other}'s cache ({other_dir}), "
                    f"got {str(directory)!r}",
                    (role, "cache_dir"),
                )
        seen[directory] = role


def _nested(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def role_http(settings: Settings, role: str) -> HttpSettings:
    """The deadlines and connection limit of a role's listeners (``admin``: the node's).

    A role's own ``http`` section already holds what it leaves out of the top-level one
    (the schema merges them), so it is taken whole.
    """
    own: HttpSettings | None = getattr(getattr(settings, role, None), "http", None)
    return own if own is not None else settings.http


def role_prefixes(settings: Settings, role: str) -> tuple[str, ...]:
    """The folders a caching role serves; ``("",)`` when it serves every key."""
    section = dict(_caching(settings)).get(role)
    if section is None:
        raise LookupError(f"the settings have no {role} section")
    return section.prefixes or ("",)


def serves(prefixes: tuple[str, ...], key: str) -> bool:
    """Whether ``key`` lies under one of ``prefixes`` (``""`` covers every key)."""
    return any(key.startswith(prefix) for prefix in prefixes)


def overlapping(a: tuple[str, ...], b: tuple[str, ...]) -> list[str]:
    """The folders that lie under both sets of prefixes: the deeper of each pair that meets."""
    found: list[str] = []
    for x in a:
        for y in b:
            if x.startswith(y) or y.startswith(x):
                found.append(max(x, y, key=len))
    return sorted(set(found))


def exposure_warnings(settings: Settings) -> list[str]:
    """What an operator should hear: an origin that would serve the edge's paid video unsigned.

    One ``storage`` section means one bucket, so an origin whose prefixes meet an
    edge's protected folders hands those files to anyone who asks.
    """
    if settings.origin is None or settings.edge is None:
        return []
    public = settings.edge.public_prefixes
    exposed = [
        folder
        for folder in overlapping(
            role_prefixes(settings, "origin"), role_prefixes(settings, "edge")
        )
        if not serves(public, folder)
    ]
    if not exposed:
        return []
    shown = ", ".join(repr(folder or "every key") for folder in exposed)
    return [
        f"{settings.source}: origin.prefixes: the origin serves without a token what the edge "
        f"protects ({shown}); give origin.prefixes and edge.prefixes folders apart, "
        "for example origin.prefixes: [podcast/] and edge.prefixes: [courses/]"
    ]
