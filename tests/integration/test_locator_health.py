"""A region whose edge stops answering loses its players, and gets them back when it recovers.

Two real ``castedge edge`` processes on loopback serve two regions: "near" (São Paulo,
where the client is) and "far" (London). The edge "near" is frozen with SIGSTOP, so
its /healthz stops answering without its port closing, the way a wedged or
partitioned host behaves; SIGCONT brings it back. The locator runs in-process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.locator import (
    KEY_ID,
    SECRET,
    build_world,
    grant,
    locator_document,
    metric,
    settings_of,
    start_locator,
    token_of,
)
from tests.support.process import CastedgeProcess
from tests.unit.geo import mmdb

INTERVAL = 0.3
TIMEOUT = 0.25
RISE = 2
FALL = 3
#: Scheduling on a busy two-core machine: how late a check or our polling may run.
SLACK = 0.6
LESSON = "courses/py/ch01/intro.mp4"
BODY = b"lesson bytes " * 1000


def start_edge(workdir: Path, media: Path, region: str) -> CastedgeProcess:
    workdir.mkdir()
    config = {
        "storage": {"dir": str(media)},
        "cache": {"dir": str(workdir / "cache"), "max_size": "100MB"},
        "edge": {"listen": "127.0.0.1:0", "region": region, "access_log": None},
        "admin": {"listen": "127.0.0.1:0"},
        "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID},
    }
    return CastedgeProcess("edge", config, workdir).start()


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CastedgeProcess]]:
    root = tmp_path_factory.mktemp("edges")
    media = root / "media"
    (media / LESSON).parent.mkdir(parents=True)
    (media / LESSON).write_bytes(BODY)
    started: dict[str, CastedgeProcess] = {}
    try:
        for region in ("near", "far"):
            started[region] = start_edge(root / region, media, region)
        yield started
    finally:
        for process in started.values():
            if process.proc is not None and process.proc.poll() is None:
                process.thaw()
            process.stop()


async def where(session: aiohttp.ClientSession, url: str, token: str) -> str:
    async with session.get(
        f"{url}/v/{LESSON}?grant={token}",
        headers={"X-Forwarded-For": "192.0.2.10"},
        allow_redirects=False,
    ) as response:
        assert response.status == 302
        return response.headers["Location"]


async def until_sent_to(
    session: aiohttp.ClientSession, url: str, token: str, base: str, limit: float
) -> tuple[float, list[str]]:
    """Poll the redirect until it points at `base`; (seconds taken, the bases seen before)."""
    started = time.monotonic()
    seen: list[str] = []
    for _ in range(int(limit / 0.02) + 1):
        location = await where(session, url, token)
        if location.startswith(base + "/s/"):
            return time.monotonic() - started, seen
        seen.append(token_of(location)[0])
        assert time.monotonic() - started < limit, f"not sent to {base} within {limit} s"
        await asyncio.sleep(0.02)
    raise AssertionError(f"not sent to {base} within {limit} s")


async def test_a_region_that_stops_answering_loses_its_players_and_gets_them_back(
    aiohttp_server, edges: dict[str, CastedgeProcess], tmp_path: Path
) -> None:
    near, far = edges["near"].urls["edge"], edges["far"].urls["edge"]
    database = build_world(
        tmp_path / "city.mmdb", [("192.0.2.0/24", mmdb.SAO_PAULO), ("198.51.100.0/24", mmdb.LONDON)]
    )
    regions = [
        {"name": "near", "latitude": -23.55, "longitude": -46.63, "base_url": near},
        {"name": "far", "latitude": 51.51, "longitude": -0.13, "base_url": far},
    ]
    doc = locator_document(database=database, regions=regions, workdir=tmp_path)
    doc["geo"]["health"] = {
        "interval": f"{INTERVAL * 1000:.0f}ms",
        "timeout": f"{TIMEOUT * 1000:.0f}ms",
        "rise": RISE,
        "fall": FALL,
    }
    locator = await start_locator(aiohttp_server, settings_of(doc))
    url = locator.url("")
    token = grant("courses/py/")
    frozen = edges["near"]

    async with aiohttp.ClientSession() as session:
        location = await where(session, url, token)
        assert location.startswith(near + "/s/")
        # The edge takes the locator's URL: same keys, the grant's scope.
        async with session.get(location) as response:
            assert (response.status, await response.read()) == (200, BODY)

        frozen.freeze()
        try:
            took, before = await until_sent_to(
                session, url, token, far, FALL * INTERVAL + TIMEOUT + SLACK
            )
            # Not before `fall` checks could have failed: one bad check is not enough.
            assert took >= (FALL - 1) * INTERVAL, f"moved after only {took:.2f} s"
            assert set(before) == {near}
            async with session.get(locator.admin_url("/healthz")) as response:
                health = (await response.json())["roles"]["locator"]["regions"]
            assert (health["near"]["healthy"], health["far"]["healthy"]) == (False, True)
            async with session.get(locator.admin_url("/metrics")) as response:
                text = await response.text()
            assert metric(text, "castedge_locator_region_healthy", region="near") == 0
            assert (
                metric(text, "castedge_locator_probes_total", region="near", result="timeout")
                >= FALL
            )
            # While "near" is down its players play from "far".
            location = await where(session, url, token)
            async with session.get(location) as response:
                assert (response.status, await response.read()) == (200, BODY)
        finally:
            frozen.thaw()

        took, before = await until_sent_to(
            session, url, token, near, RISE * INTERVAL + TIMEOUT + SLACK
        )
        assert took >= (RISE - 1) * INTERVAL - 0.05, f"back after only {took:.2f} s"
        assert set(before) <= {far}
        async with session.get(locator.admin_url("/metrics")) as response:
            text = await response.text()
        assert (
            metric(text, "castedge_locator_health_transitions_total", region="near", to="down") == 1
        )
        assert (
            metric(text, "castedge_locator_health_transitions_total", region="near", to="up") == 1
        )
