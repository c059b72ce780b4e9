"""geoipupdate replaces the database while players keep arriving: no request fails.

Sixteen clients keep asking the locator for redirects, each from a different /48, with
a lookup cache of one entry so that nearly every request reads the database. Midway
the file is replaced by rename, as geoipupdate does; later by a broken file.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.locator import (
    build_world,
    grant,
    install,
    locator_document,
    region_of,
    regions_at,
    settings_of,
    start_locator,
    start_stand_in_edges,
)
from tests.unit.geo import mmdb

CLIENTS = 16
#: Every load loop here stops at whichever comes first.
MAX_REQUESTS = 4000
MAX_SECONDS = 20.0


async def hammer(
    session: aiohttp.ClientSession,
    url: str,
    answers: list[tuple[int, str | None]],
    stop: asyncio.Event,
) -> None:
    rng = random.Random()
    token = grant("courses/")
    deadline = time.monotonic() + MAX_SECONDS
    while not stop.is_set() and len(answers) < MAX_REQUESTS and time.monotonic() < deadline:
        client = f"2001:db8:{rng.randrange(1, 0xFFFF):x}::7"
        async with session.get(
            f"{url}/v/courses/a.mp4?grant={token}",
            headers={"X-Forwarded-For": client},
            allow_redirects=False,
        ) as response:
            await response.read()
            location = response.headers.get("Location")
            answers.append((response.status, region_of(location) if location else None))


async def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_replacing_the_database_under_load_fails_no_request(
    aiohttp_server, tmp_path: Path
) -> None:
    sao_paulo = build_world(tmp_path / "a.mmdb", [("2001:db8::/32", mmdb.SAO_PAULO)])
    sydney = build_world(tmp_path / "b.mmdb", [("2001:db8::/32", mmdb.SYDNEY)])
    live = tmp_path / "GeoLite2-City.mmdb"
    install(live, sao_paulo)
    edges = await start_stand_in_edges(aiohttp_server)
    doc = locator_document(database=live, regions=regions_at(edges.base), workdir=tmp_path)
    doc["geo"].update(reload_interval="50ms", cache_size=1)
    locator = await start_locator(aiohttp_server, settings_of(doc))

    answers: list[tuple[int, str | None]] = []
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        workers = [
            asyncio.create_task(hammer(session, locator.url(""), answers, stop))
            for _ in range(CLIENTS)
        ]
        try:
            await wait_for(lambda: len(answers) >= 300, "300 answers from the first database")
            install(live, sydney)
            await wait_for(
                lambda: answers[-1][1] == "ap-southeast", "answers from the new database"
            )
            switched = len(answers)
            await wait_for(lambda: len(answers) >= switched + 300, "300 more answers")
            # Its own session: the workers hold every connection of theirs.
            async with (
                aiohttp.ClientSession() as admin,
                admin.get(locator.admin_url("/healthz")) as response,
            ):
                before = (await response.json())["roles"]["locator"]["database"]
            broken = tmp_path / "broken.mmdb"
            broken.write_bytes(sydney.read_bytes()[: sydney.stat().st_size // 2])
            install(live, broken)

            def refused() -> bool:
                return app_reader(locator).failed_reloads == 1

            await wait_for(refused, "the broken file to be refused")
            settled = len(answers)
            await wait_for(lambda: len(answers) >= settled + 300, "300 answers after it")
        finally:
            stop.set()
            await asyncio.gather(*workers)

    assert answers, "no request was answered"
    failures = [answer for answer in answers if answer[0] != 302]
    assert failures == [], f"{len(failures)} of {len(answers)} requests failed"
    regions = [region for _, region in answers]
    assert set(regions[:300]) == {"sa-east"}
    # In-flight requests may still finish with the old answer just after the swap;
    # everything well after it comes from the new file, broken replacement or not.
    assert set(regions[switched + 100 :]) == {"ap-southeast"}
    assert before["reloads"] == 1 and before["failed_reloads"] == 0
    reader = app_reader(locator)
    assert (reader.reloads, reader.failed_reloads) == (1, 1)
    assert "cannot be opened" in str(reader.last_error)


def app_reader(locator):
    from locator.state import LOCATOR

    reader = locator.app[LOCATOR].reader
    assert reader is not None
    return reader


@pytest.mark.parametrize("replacement", ["country", "garbage"])
async def test_a_database_of_the_wrong_kind_is_not_swapped_in(
    aiohttp_server, tmp_path: Path, replacement: str
) -> None:
    live = build_world(tmp_path / "city.mmdb", [("2001:db8::/32", mmdb.TOKYO)])
    edges = await start_stand_in_edges(aiohttp_server)
    doc = locator_document(database=live, regions=regions_at(edges.base), workdir=tmp_path)
    doc["geo"].update(reload_interval="20ms")
    locator = await start_locator(aiohttp_server, settings_of(doc))
    wrong = tmp_path / "wrong.mmdb"
    if replacement == "country":
        mmdb.build(
            wrong,
            [("2001:db8::/32", {"country": {"iso_code": "AU"}})],
            database_type="GeoLite2-Country",
        )
    else:
        wrong.write_bytes(b"\x00" * 4096)
    install(live, wrong)
    await wait_for(lambda: app_reader(locator).failed_reloads == 1, "the refusal")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            locator.url(f"/v/courses/a.mp4?grant={grant('courses/')}"),
            headers={"X-Forwarded-For": "2001:db8::1"},
            allow_redirects=False,
        ) as response,
    ):
        assert response.status == 302
        assert region_of(response.headers["Location"]) == "ap-northeast"
