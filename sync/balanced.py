"""A region of several edges behind a balancer that hashes on the object (docs/scaling.md).

The balancer sends every request for one object to the one edge that owns it, so the
region caches each object once. The daemon cannot tell which edge that is (the
balancer's hash and its view of which edges are up are its own), so it prefetches the
way a player would reach the object: a signed ``HEAD`` through the balancer's URL. On
a miss the owning edge starts its fill from S3 at once and keeps filling after the
answer, so no media crosses the sync host; the daemon asks again, backing off, until
the edge answers it from disk (``Cache-Status: castedge; hit``) and records the ETag
that answer carries.

What changes state on an edge goes to every member's admin listener instead: a
purge, since any edge may still hold a copy from a time it owned the key (before
another edge left or came back), and the revocation list, which every edge checks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiohttp

from delivery.cachestatus import CACHE_ID, parse_cache_status
from signer import ClaimError, Signer

from .errors import RegionFailed
from .plan import Obj
from .regions import RegionClient

__all__ = ["BalancedRegion"]

#: How long the signed request of one prefetch poll stays valid: long enough for a
#: slow answer, short enough that a logged one is of no use to anyone.
TOKEN_TTL = 120.0
#: The first pause between polls, and the longest.
FIRST_POLL = 0.05
MAX_POLL = 1.0


class BalancedRegion:
    """One region reached through its balancer (media) and its members (admin)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        members: Sequence[RegionClient],
        signer: Signer,
        session: aiohttp.ClientSession,
        *,
        transfer_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.members = tuple(members)
        self._signer = signer
        self._session = session
        self._transfer_timeout = transfer_timeout
        self._clock = clock
        self._poll = aiohttp.ClientTimeout(total=30, sock_connect=5)

    async def prefetch(self, key: str) -> Obj:
        """Have the edge that owns ``key`` hold it; the version it then holds."""
        deadline = time.monotonic() + self._transfer_timeout
        pause = FIRST_POLL
        while True:
            held = await self._ask(key)
            if held is not None:
                return held
            if time.monotonic() + pause > deadline:
                raise RegionFailed(
                    self.name,
                    f"{key!r} not held after {self._transfer_timeout:g} s (sync.transfer_timeout)",
                )
            await asyncio.sleep(pause)
            pause = min(MAX_POLL, pause * 2)

    async def _ask(self, key: str) -> Obj | None:
        """One signed HEAD through the balancer: the version held, or None while filling."""
        try:
            url = self._signer.url(key, now=self._clock(), base=self.base_url, ttl=TOKEN_TTL)
        except ClaimError as exc:
            raise RegionFailed(self.name, f"cannot sign a request for {key!r}: {exc}") from None
        # The URL carries a working token: errors name the key, never the URL.
        try:
            async with self._session.head(url, timeout=self._poll) as response:
                status, headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RegionFailed(
                self.name, f"HEAD {key!r} through {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        if status == 429:
            # The edge's miss rate for this host; the next poll comes after a pause anyway.
            return None
        if status == 403:
            raise RegionFailed(
                self.name,
                f"{self.base_url} refused the daemon's signed request for {key!r} (403): "
                "do the region's edges check tokens with this node's signing keys?",
            )
        if status != 200:
            raise RegionFailed(self.name, f"HEAD {key!r} through {self.base_url} answered {status}")
        ours = _cache_status(headers.get("Cache-Status", ""))
        if ours is None:
            raise RegionFailed(
                self.name, f"{self.base_url} answered {key!r} without castedge's Cache-Status"
            )
        if ours.get("hit") is True:
            try:
                return Obj(headers["ETag"], int(headers["Content-Length"]))
            except (KeyError, ValueError):
                raise RegionFailed(
                    self.name, f"{self.base_url} answered {key!r} without ETag or length"
                ) from None
        detail = ours.get("detail")
        if detail is not None and ours.get("stored") is not True:
            raise RegionFailed(self.name, f"{key!r} is served but not cached ({detail})")
        return None

    async def purge(self, key: str) -> None:
        """Have every member drop ``key``: any of them may hold a copy from earlier."""
        await self._everywhere([member.purge(key) for member in self.members])

    async def push_revocations(self, body: bytes) -> None:
        """Give every member the fleet's revocation list."""
        await self._everywhere([member.push_revocations(body) for member in self.members])

    async def _everywhere(self, calls: Sequence[Coroutine[Any, Any, None]]) -> None:
        results = await asyncio.gather(*calls, return_exceptions=True)
        problems = []
        for member, result in zip(self.members, results, strict=True):
            if isinstance(result, RegionFailed):
                problems.append(f"{member.admin_url}: {result.message}")
            elif isinstance(result, BaseException):
                raise result
        if problems:
            raise RegionFailed(self.name, "; ".join(problems))


def _cache_status(value: str) -> dict[str, bool | int | str] | None:
    """castedge's member of a Cache-Status value (the last, nearest the client), or None."""
    try:
        members = parse_cache_status(value) if value else []
    except ValueError:
        return None
    ours = [params for name, params in members if name == CACHE_ID]
    return ours[-1] if ours else None
