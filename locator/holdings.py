"""Which region holds which file, as the sync daemon reports it, kept current in the background.

The locator sends a player only to a region that holds the current version of the
file asked for (for HLS, of the playlist), else to the next nearest that does, else
to S3. It learns the holdings from the daemon's ``/admin/sync/holdings``
(``locator.holdings_url``), asked every ``locator.holdings_interval`` in the
background, so a redirect never waits on it. Until the first answer, or for a key
the daemon does not list, the holders are unknown and players are routed by health
alone, as without replication.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tls.context import client_context

__all__ = ["Holdings", "HoldingsWatcher", "parse_holdings"]

log = logging.getLogger("castedge.locator")


@dataclass(frozen=True)
class Holdings:
    """For each key the daemon lists, the regions holding its current version."""

    objects: Mapping[str, frozenset[str]]

    def holders(self, key: str) -> frozenset[str] | None:
        """The regions holding ``key``, or None when the daemon does not list it."""
        return self.objects.get(key)


def parse_holdings(doc: Any) -> Holdings:
    """The daemon's answer as Holdings; ValueError when it is not that document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), dict):
        raise ValueError("expected {'regions': [...], 'objects': {key: {'held': [...]}}}")
    objects = {}
    for key, entry in doc["objects"].items():
        held = entry.get("held") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not isinstance(held, list):
            raise ValueError(f"no list of regions for {key!r}")
        objects[key] = frozenset(str(name) for name in held)
    return Holdings(objects)


class HoldingsWatcher:
    """Asks the daemon every ``interval`` seconds; ``current`` is the last good answer."""

    def __init__(
        self, url: str, token: str | None, interval: float, *, ca_bundle: Path | None = None
    ) -> None:
        self.url = url
        self.ca_bundle = ca_bundle
        self.interval = interval
        self.current: Holdings | None = None
        self.last_error: str | None = None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._etag: str | None = None

    def holders(self, key: str) -> frozenset[str] | None:
        """The regions holding ``key``; None while unknown (route by health alone)."""
        return self.current.holders(key) if self.current is not None else None

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        """One question to the daemon; on failure the last answer stays in force."""
        headers = dict(self._headers)
        if self._etag is not None and self.current is not None:
            headers["If-None-Match"] = self._etag
        try:
            async with session.get(
                self.url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status == 304:
                    return
                if response.status != 200:
                    raise ValueError(f"answered {response.status}")
                self.current = parse_holdings(await response.json(content_type=None))
                self._etag = response.headers.get("ETag")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            message = f"cannot read the holdings at {self.url}: {exc or type(exc).__name__}"
            if message != self.last_error:
                log.warning("%s; routing on what was known", message)
            self.last_error = message
            return
        if self.last_error is not None:
            log.info("holdings at %s read again", self.url)
        self.last_error = None

    async def run(self) -> None:
        """Refresh until cancelled (a background task)."""
        connector = aiohttp.TCPConnector(ssl=client_context(self.ca_bundle))
        async with aiohttp.ClientSession(connector=connector) as session:
            while True:
                await self.refresh(session)
                await asyncio.sleep(self.interval)
