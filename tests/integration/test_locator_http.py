"""What players, apps and operators get from a live locator on loopback.

The locator runs in-process on real sockets; the regions' edges are a stand-in server
that answers their /healthz. Clients are placed by a City database built for the test
(tests/support/locator.py) and by MaxMind's own test database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import pytest

from config import ConfigError
from locator.app import create_app
from signer import Signer, normalise_path
from tests.support.locator import (
    NEAREST,
    PROXY_SECRET,
    URL_TOKENS,
    RunningLocator,
    StandInEdges,
    build_world,
    grant,
    locator_document,
    metric,
    region_of,
    regions_at,
    settings_of,
    start_locator,
    start_stand_in_edges,
    token_of,
)
from tests.support.tokens import tamper

MAXMIND = Path(__file__).resolve().parents[1] / "data" / "maxmind"
COURSE = "courses/python/"
PLAYLIST = "courses/python/ch03/index.m3u8"


@pytest.fixture(scope="module")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("world") / "world.mmdb")


@pytest.fixture
async def edges(aiohttp_server) -> StandInEdges:
    return await start_stand_in_edges(aiohttp_server)


@pytest.fixture
async def locator(aiohttp_server, edges: StandInEdges, world_db: Path) -> RunningLocator:
    doc = locator_document(database=world_db, regions=regions_at(edges.base))
    return await start_locator(aiohttp_server, settings_of(doc))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def play(
    session: aiohttp.ClientSession,
    locator: RunningLocator,
    path: str = PLAYLIST,
    *,
    client: str | None = None,
    grant_token: str | None = None,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    token = grant(COURSE) if grant_token is None else grant_token
    query = f"?grant={token}" if token else ""
    sent = dict(headers or {})
    if client is not None:
        sent["X-Forwarded-For"] = client
    async with session.get(
        locator.url(f"/v/{path}{query}"), headers=sent, allow_redirects=False
    ) as response:
        await response.read()
        return response


@pytest.mark.parametrize(("client", "region"), sorted(NEAREST.items()))
async def test_each_client_goes_to_its_nearest_region(
    locator: RunningLocator, session, client: str, region: str
) -> None:
    response = await play(session, locator, client=client)
    assert response.status == 302
    assert region_of(response.headers["Location"]) == region


async def test_the_redirect_is_a_signed_url_for_the_path_on_the_edge(locator, session) -> None:
    before = time.time()
    response = await play(session, locator, client="203.0.113.10")
    location = response.headers["Location"]
    base, token, raw = token_of(location)
    sydney = {r.name: r.base_url for r in locator.settings.regions or ()}["ap-southeast"]
    assert base == sydney
    assert raw == PLAYLIST
    # The edge's check, with the edge's key: the grant's whole course, nothing else.
    claims = URL_TOKENS.verify(token, normalise_path(raw), now=time.time())
    assert claims.scope == COURSE
    assert URL_TOKENS.verify(token, "courses/python/ch04/seg-001.ts", now=time.time())
    assert before + 7200 <= claims.expires_at <= time.time() + 7201
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Vary"] == "*"


async def test_the_grants_subject_and_binding_carry_over(locator, session) -> None:
    bound = grant(COURSE, subject="student-42", ip="192.0.2.0/24")
    response = await play(session, locator, client="192.0.2.10", grant_token=bound)
    _, token, raw = token_of(response.headers["Location"])
    claims = URL_TOKENS.verify(token, raw, now=time.time(), client_ip="192.0.2.99")
    assert (claims.subject, claims.ip) == ("student-42", "192.0.2.0/24")


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("courses/rust/ch01/index.m3u8", COURSE),  # another course
        ("courses/python", COURSE),  # the folder itself is not below it
        ("courses/pythonista/a.mp4", COURSE),  # a prefix of the name is not the folder
        ("courses/python/ch03/b.mp4", "courses/python/ch03/a.mp4"),  # a file grant
    ],
)
async def test_a_grant_for_one_course_does_not_open_another(
    locator, session, path: str, scope: str
) -> None:
    response = await play(session, locator, path, grant_token=grant(scope))
    assert response.status == 403
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: "", id="no grant"),
        pytest.param(lambda: grant(COURSE, now=time.time() - 600, ttl=60), id="expired"),
        pytest.param(
            lambda: URL_TOKENS.mint(COURSE, now=time.time()), id="an edge token is no grant"
        ),
        pytest.param(
            lambda: Signer({"k2025": "someone-elses-secret-0123456789"}, "k2025").mint(
                COURSE, now=time.time()
            ),
            id="another key",
        ),
        pytest.param(lambda: grant(COURSE, ip="198.51.100.0/24"), id="bound elsewhere"),
        pytest.param(lambda: tamper(grant(COURSE)), id="tampered"),
        pytest.param(lambda: "not-a-token", id="garbage"),
    ],
)
async def test_without_a_valid_grant_the_answer_is_403(locator, session, make) -> None:
    response = await play(session, locator, client="192.0.2.10", grant_token=make())
    assert response.status == 403
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


async def test_every_refusal_looks_the_same(locator, session) -> None:
    bodies = set()
    for token in ("", grant("courses/rust/"), "x.y.z"):
        async with session.get(
            locator.url(f"/v/{PLAYLIST}?grant={token}"), allow_redirects=False
        ) as response:
            bodies.add((response.status, await response.read()))
    assert bodies == {(403, b"forbidden\n")}


async def test_the_web_apps_proxy_secret_stands_in_for_a_grant(locator, session) -> None:
    good = {"X-Castedge-Proxy-Secret": PROXY_SECRET}
    response = await play(session, locator, grant_token="", headers=good)
    assert response.status == 302
    _, token, raw = token_of(response.headers["Location"])
    # A playlist's URL covers its folder, so its segments play too.
    assert URL_TOKENS.verify(token, raw, now=time.time()).scope == "courses/python/ch03/"
    response = await play(
        session, locator, "courses/python/ch03/intro.mp4", grant_token="", headers=good
    )
    _, token, raw = token_of(response.headers["Location"])
    assert URL_TOKENS.verify(token, raw, now=time.time()).scope == "courses/python/ch03/intro.mp4"
    wrong = {"X-Castedge-Proxy-Secret": PROXY_SECRET[:-1] + "x"}
    assert (await play(session, locator, grant_token="", headers=wrong)).status == 403


async def test_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    aiohttp_server, edges, world_db, session
) -> None:
    # Nobody is trusted: the peer (127.0.0.1, which no database places) is the client,
    # whatever it claims, so it goes to the default region, not to Sydney.
    doc = locator_document(database=world_db, regions=regions_at(edges.base))
    doc["geo"]["trusted_proxies"] = []
    untrusting = await start_locator(aiohttp_server, settings_of(doc))
    response = await play(session, untrusting, client="203.0.113.10")
    assert region_of(response.headers["Location"]) == "eu-central"
    response = await play(
        session, untrusting, headers={"Forwarded": 'for="203.0.113.10"'}, client=None
    )
    assert region_of(response.headers["Location"]) == "eu-central"


async def test_behind_a_trusted_proxy_the_right_most_untrusted_address_counts(
    locator, session
) -> None:
    # The client wrote "203.0.113.10" (Sydney) itself; our proxy appended the address it
    # saw, 192.0.2.10 (São Paulo). Only the proxy's word counts.
    response = await play(session, locator, client="203.0.113.10, 192.0.2.10")
    assert region_of(response.headers["Location"]) == "sa-east"
    # Hops that are trusted proxies themselves are skipped.
    response = await play(session, locator, client="198.51.100.10, 127.0.0.1")
    assert region_of(response.headers["Location"]) == "ap-south"


async def test_the_forwarded_header_when_the_proxy_writes_that(
    aiohttp_server, edges, world_db, session
) -> None:
    doc = locator_document(database=world_db, regions=regions_at(edges.base))
    doc["geo"]["client_ip_header"] = "forwarded"
    locator = await start_locator(aiohttp_server, settings_of(doc))
    response = await play(
        session,
        locator,
        headers={"Forwarded": 'for=203.0.113.10, for="[2001:db8::10]:4711";proto=https'},
    )
    assert region_of(response.headers["Location"]) == "ap-northeast"
    # The proxy writes Forwarded, so an X-Forwarded-For is the client's own invention.
    response = await play(session, locator, client="203.0.113.10")
    assert region_of(response.headers["Location"]) == "eu-central"


@pytest.mark.parametrize(
    ("client", "region"),
    [
        ("81.2.69.142", "eu-west"),  # London
        ("2.125.160.216", "eu-west"),  # Boxford, England
        ("89.160.20.112", "eu-central"),  # Linköping: 1,050 km to Frankfurt, 1,450 to London
        ("216.160.83.56", "us-west"),  # Milton, Washington
        ("175.16.199.7", "ap-northeast"),  # Changchun: 1,600 km to Tokyo
        ("2001:480::1", "us-west"),  # San Diego: 1,500 km to Boardman, 2,900 to Columbus
        ("2001:218::1", "ap-northeast"),  # Japan, country only
        ("67.43.156.1", "ap-south"),  # Bhutan, country only: 1,900 km to Mumbai
        ("202.196.224.1", "ap-northeast"),  # the Philippines, country only
    ],
)
async def test_rankings_from_maxminds_test_database(
    aiohttp_server, edges, session, tmp_path, client: str, region: str
) -> None:
    database = tmp_path / "GeoLite2-City-Test.mmdb"
    database.write_bytes((MAXMIND / "GeoLite2-City-Test.mmdb").read_bytes())
    doc = locator_document(database=database, regions=regions_at(edges.base))
    locator = await start_locator(aiohttp_server, settings_of(doc))
    response = await play(session, locator, client=client)
    assert region_of(response.headers["Location"]) == region


async def test_the_locate_api_lists_the_alternates_nearest_first(locator, session) -> None:
    async with session.get(
        locator.url(f"/api/v1/locate?path={PLAYLIST}"),
        headers={"X-Castedge-Grant": grant(COURSE), "X-Forwarded-For": "203.0.113.200"},
    ) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "private, no-store"
        body = await response.json()
    assert body["region"] == "eu-west"  # Paris
    order = [body["region"], *(alt["region"] for alt in body["alternates"])]
    assert order == [
        "eu-west",
        "eu-central",
        "us-east",
        "ap-south",
        "us-west",
        "sa-east",
        "ap-northeast",
        "ap-southeast",
    ]
    urls = [body["url"], *(alt["url"] for alt in body["alternates"])]
    assert [region_of(url) for url in urls] == order
    # One token serves every region: each edge holds the same keys.
    assert len({token_of(url)[1] for url in urls}) == 1
    claims = URL_TOKENS.verify(token_of(body["url"])[1], PLAYLIST, now=time.time())
    assert body["expires_at"] == claims.expires_at
    assert body["fallback"] is None


async def test_the_locate_api_leaves_out_regions_that_are_down(locator, edges, session) -> None:
    edges.down.add("eu-west")
    body = await wait_for_region(
        session, locator, "203.0.113.200", lambda b: b["region"] != "eu-west"
    )
    assert body["region"] == "eu-central"
    assert "eu-west" not in [alt["region"] for alt in body["alternates"]]
    assert len(body["alternates"]) == 6


async def wait_for_region(session, locator, client, condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(
            locator.url(f"/api/v1/locate?path={PLAYLIST}"),
            headers={"X-Castedge-Grant": grant(COURSE), "X-Forwarded-For": client},
        ) as response:
            body = await response.json()
        if condition(body):
            return body
        assert time.monotonic() < deadline, f"still {body['region']} after {timeout} s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("?path=", 400),
        ("?path=/courses/python/a.mp4", 400),
        ("?path=courses/python/../rust/a.mp4", 400),
        ("?path=courses%2Fpython%2F%252e%252e%2Fa.mp4", 400),
        ("?path=courses/rust/a.mp4", 403),
    ],
)
async def test_the_locate_api_refuses_bad_requests(locator, session, query, status) -> None:
    async with session.get(
        locator.url(f"/api/v1/locate{query}"), headers={"X-Castedge-Grant": grant(COURSE)}
    ) as response:
        assert response.status == status
        assert "error" in await response.json()


async def test_health_and_metrics(locator, session) -> None:
    await play(session, locator, client="192.0.2.10")
    await play(session, locator, client="2001:db8:2::10")  # country only
    await play(session, locator, client="2001:db8:4::10")  # placed nowhere
    await play(session, locator, path="courses/rust/a.mp4", client="192.0.2.10")
    async with session.get(locator.url("/healthz")) as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
    async with session.get(locator.admin_url("/healthz")) as response:
        assert response.status == 200
        health = (await response.json())["roles"]["locator"]
    assert health["healthy"] is True
    assert set(health["regions"]) == {r.name for r in locator.settings.regions or ()}
    assert health["database"]["type"] == "castedge-City-Test"
    assert health["default_region"] == "eu-central"
    async with session.get(locator.admin_url("/metrics")) as response:
        text = await response.text()
    assert metric(text, "castedge_locator_redirects_total", region="sa-east") == 1
    assert metric(text, "castedge_locator_locations_total", kind="city") == 1  # 403s are not placed
    assert metric(text, "castedge_locator_locations_total", kind="country") == 1
    assert metric(text, "castedge_locator_locations_total", kind="default") == 1
    assert metric(text, "castedge_locator_unplaced_total", reason="no_place") == 1
    assert metric(text, "castedge_locator_refusals_total", reason="out_of_scope") == 1
    assert metric(text, "castedge_locator_region_healthy", region="ap-south") == 1
    assert metric(text, "castedge_locator_responses_total", status="302") == 3
    assert metric(text, "castedge_locator_decision_seconds_count", cache="miss") >= 3
    assert metric(text, "castedge_locator_probes_total", region="us-west", result="ok") >= 1
    # Set where they change, so that every worker's part adds up under the supervisor.
    assert metric(text, "castedge_locator_cache_misses_total") >= 3
    assert metric(text, "castedge_locator_cache_entries") >= 2
    assert metric(text, "castedge_locator_database_build_timestamp_seconds") > 0


async def test_passive_failures_need_the_admin_token(locator, session) -> None:
    url = locator.admin_url("/admin/regions/eu-west/failed")
    async with session.post(url) as response:
        assert response.status == 401
    async with session.post(
        locator.admin_url("/admin/regions/nowhere/failed"), headers=locator.auth
    ) as response:
        assert response.status == 404
    async with session.post(url, headers=locator.auth) as response:
        assert response.status == 200
        assert (await response.json())["failures"] >= 1


def test_the_locator_names_a_missing_section(world_db: Path) -> None:
    doc = locator_document(database=world_db, regions=regions_at("http://127.0.0.1:9"))
    del doc["regions"], doc["geo"]["default_region"]
    with pytest.raises(ConfigError, match="regions: missing"):
        create_app(settings_of(doc))
    doc = locator_document(database=world_db, regions=regions_at("http://127.0.0.1:9"))
    del doc["signing"]
    with pytest.raises(ConfigError, match="signing: missing"):
        create_app(settings_of(doc))


async def test_decoded_paths_round_trip_through_the_redirect(locator, session) -> None:
    path = "courses/python/ch03/Éa b+c@d:e~f.mp4"
    quoted = "courses/python/ch03/%C3%89a%20b%2Bc%40d%3Ae~f.mp4"
    response = await play(session, locator, quoted, client="192.0.2.10")
    assert response.status == 302
    _, _, raw = token_of(response.headers["Location"])
    assert unquote(raw) == path
    assert json.dumps(raw).isascii()
