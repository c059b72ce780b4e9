"""``castedge locate``: why an address goes to the region it goes to."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from castedge.common import admin_url, client_ssl, load_from_args

__all__ = ["add_locator_commands"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]

#: How long `castedge locate` waits for the running locator's answer.
ASK_TIMEOUT = 2.0


@dataclass(frozen=True)
class _Health:
    healthy: frozenset[str]
    notes: Mapping[str, str]
    source: str


async def _ask_locator(url: str, names: list[str], settings: Any) -> _Health | None:
    """The running locator's view of every region's health, or None if it does not answer."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=ASK_TIMEOUT)
    connector = aiohttp.TCPConnector(ssl=client_ssl(settings, url) or True)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
            session.get(f"{url}/healthz", allow_redirects=False) as response,
        ):
            # 503 while some role of the node is unhealthy: the locator's part still says.
            if response.status not in (200, 503):
                return None
            body = json.loads(await response.read())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    roles = body.get("roles") if isinstance(body, dict) else None
    part = roles.get("locator") if isinstance(roles, dict) else None
    regions = part.get("regions") if isinstance(part, dict) else None
    if not isinstance(regions, dict) or sorted(regions) != sorted(names):
        # Another role's admin listener, or a locator with another catalogue.
        return None
    healthy = frozenset(name for name, state in regions.items() if state.get("healthy"))
    notes = {
        name: f"{state['failures']} failed checks in a row"
        for name, state in regions.items()
        if state.get("failures")
    }
    return _Health(healthy, notes, f"the running locator at {url}/healthz")


async def _ask_holdings(url: str, settings: Any, path: str) -> tuple[frozenset[str] | None, str]:
    """The regions holding ``path`` as the sync daemon says, and where that came from."""
    import aiohttp

    from locator.holdings import HoldingsWatcher

    token = settings.admin.token
    watcher = HoldingsWatcher(url, token.reveal() if token is not None else None, 0)
    connector = aiohttp.TCPConnector(ssl=client_ssl(settings, url) or True)
    async with aiohttp.ClientSession(connector=connector) as session:
        await watcher.refresh(session)
    if watcher.current is None:
        return None, f"unknown ({watcher.last_error}); routed by health alone"
    holders = watcher.holders(path)
    if holders is None:
        return None, f"the sync daemon at {url} does not list {path}; routed by health alone"
    return holders, f"the sync daemon at {url}"


async def _probe_now(urls: Mapping[str, str], within: float, settings: Any) -> _Health:
    import aiohttp

    from locator.prober import probe
    from tls.context import client_context

    connector = aiohttp.TCPConnector(ssl=client_context(settings.ca_bundle))
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(probe(session, url, within) for url in urls.values()))
    by_name = dict(zip(urls, results, strict=True))
    healthy = frozenset(name for name, result in by_name.items() if result == "ok")
    notes = {name: result for name, result in by_name.items() if result != "ok"}
    return _Health(healthy, notes, "one check of each region just now (no locator answered)")


def cmd_locate(args: argparse.Namespace) -> int:
    from geo.errors import GeoError, InvalidAddress
    from geo.explain import describe_location, ranking_table
    from geo.locate import Kind, locate
    from geo.reader import ReloadingReader
    from geo.target import place_client
    from locator.settings import catalogue_from
    from signer.scope import path_problem

    settings = load_from_args(args)
    geo = settings.geo
    if geo is None:
        print(f"castedge locate: {settings.source} has no geo section", file=sys.stderr)
        return 2
    catalogue = catalogue_from(settings)
    from geo.address import parse_client_address

    try:
        address = str(parse_client_address(args.ip))
    except InvalidAddress as exc:
        print(f"castedge locate: {exc}", file=sys.stderr)
        return 2
    if args.path is not None and (problem := path_problem(args.path)) is not None:
        print(f"castedge locate: the path {problem}", file=sys.stderr)
        return 2
    try:
        reader = ReloadingReader(geo.database)
    except GeoError as exc:
        print(f"castedge locate: {exc}", file=sys.stderr)
        return 2
    with reader:
        location = locate(reader, address)
        city = reader.city(address).city.name if location.kind is Kind.CITY else None
        metadata = reader.metadata()

    names = [region.name for region in catalogue.regions]
    health: _Health | None = None
    if not args.probe:
        url = args.locator or admin_url(settings.admin)
        health = asyncio.run(_ask_locator(url.rstrip("/"), names, settings))
    if health is None:
        health = asyncio.run(_probe_now(catalogue.health_urls, geo.health.timeout, settings))
    placement = place_client(catalogue.regions, location, health.healthy, catalogue.default)
    holders, holdings_source = None, None
    locator = settings.locator
    if args.path is not None and locator is not None and locator.holdings_url is not None:
        holders, holdings_source = asyncio.run(
            _ask_holdings(locator.holdings_url, settings, args.path)
        )
    notes = dict(health.notes)
    if holders is not None:
        for entry in placement.ranking:
            name = entry.region.name
            held = "holds it" if name in holders else "does not hold it"
            notes[name] = f"{notes[name]}; {held}" if name in notes else held

    built = time.strftime("%Y-%m-%d", time.gmtime(metadata.build_epoch))
    print(f"{address}: {describe_location(location, catalogue.default, city=city)}")
    print(f"database: {reader.path} ({metadata.database_type}, built {built})")
    print(f"health: {health.source}")
    if holdings_source is not None:
        print(f"holdings: {holdings_source}")
    print()
    serving = placement.serving(holders)
    target = serving[0] if serving else None
    chosen = target.region.name if target is not None else None
    for line in ranking_table(placement.ranking, notes, chosen=chosen):
        print(line)
    print()
    if target is None:
        where = "S3 (storage.s3)"
        if settings.storage is None or settings.storage.s3 is None:
            where = "nowhere: 503 (no storage.s3 to fall back to)"
        why = "no healthy region holds it" if holders is not None else "no region is healthy"
        print(f"chosen: {why}; players go to {where}")
        return 0
    print(f"chosen: {target.region.name}")
    if args.path is not None:
        quoted = urllib.parse.quote(args.path, safe="/")
        print(f"redirect: {target.region.base_url}/s/<token>/{quoted}")
    return 0


def add_locator_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds ``castedge locate`` to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "locate",
            help="explain which region an address goes to, and why",
            description=(
                "Place an address with the configured GeoIP database and print every region "
                "ranked for it, with distances and health. Health comes from the running "
                "locator's admin listener, else from one check of each region now."
            ),
        )
    )
    p.add_argument("ip", help="the client's address, e.g. 203.0.113.7")
    p.add_argument("path", nargs="?", help="a media path, to show the redirect it would get")
    p.add_argument(
        "--locator",
        metavar="URL",
        help="the running locator's admin listener (default: from admin.listen)",
    )
    p.add_argument(
        "--probe", action="store_true", help="check each region now instead of asking the locator"
    )
    p.set_defaults(func=cmd_locate)
