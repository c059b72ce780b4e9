"""The player page's server: the page, its scripts, and ``/play`` asking the locator."""

from __future__ import annotations

import hashlib
import re
import socket

import pytest
from aiohttp import web

from castedge.player import STATIC, player_app
from castedge.samples import LESSON_PLAYLIST

CITIES = {"Sydney": "2001:db8:8::10", "São <Paulo>": "2001:db8:3::10"}
EDGE_URL = "http://127.0.0.1:9/s/token/" + LESSON_PLAYLIST


@pytest.fixture
async def locator(aiohttp_server):
    """A stand-in locator that records what it was asked and answers ``answer``."""
    seen: list[web.Request] = []
    answer = {"status": 302}

    async def video(request: web.Request) -> web.Response:
        seen.append(request)
        if answer["status"] == 302:
            return web.Response(status=302, headers={"Location": EDGE_URL})
        return web.Response(status=answer["status"], text="forbidden\n")

    app = web.Application()
    app.router.add_get("/v/{path:.*}", video)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), seen, answer


async def get(client, path: str) -> tuple[int, dict[str, str], str]:
    async with client.get(path) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def test_play_asks_the_locator_as_a_student_in_the_city(aiohttp_client, locator) -> None:
    url, seen, _ = locator
    client = await aiohttp_client(player_app(url, CITIES, grant=lambda: "g.r+a/nt"))
    async with client.get("/play", params={"city": "Sydney"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {"city": "Sydney", "address": CITIES["Sydney"], "url": EDGE_URL}
    (request,) = seen
    assert request.path == "/v/" + LESSON_PLAYLIST
    assert request.query["grant"] == "g.r+a/nt"
    assert request.headers["X-Forwarded-For"] == CITIES["Sydney"]


async def test_a_whole_play_url_is_asked_as_it_is(aiohttp_client, locator) -> None:
    url, seen, _ = locator
    client = await aiohttp_client(player_app(f"{url}/v/other/index.m3u8?grant=abc", CITIES))
    async with client.get("/play", params={"city": "Sydney"}) as resp:
        assert resp.status == 200
    assert seen[0].path_qs == "/v/other/index.m3u8?grant=abc"


@pytest.mark.parametrize("city", ["Atlantis", "", "x" * 5000])
async def test_an_unknown_city_is_a_400_naming_the_choices(aiohttp_client, locator, city) -> None:
    client = await aiohttp_client(player_app(locator[0], CITIES))
    async with client.get("/play", params={"city": city}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert "Sydney" in error and len(error) < 300
    assert locator[1] == [], "the locator was asked for a city that does not exist"


async def test_a_refusal_from_the_locator_is_a_502_saying_so(aiohttp_client, locator) -> None:
    url, _, answer = locator
    answer["status"] = 403
    client = await aiohttp_client(player_app(url, CITIES))
    async with client.get("/play", params={"city": "Sydney"}) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"] == "the locator answered 403, not a redirect"


async def test_a_locator_that_is_not_there_is_a_502(aiohttp_client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    client = await aiohttp_client(player_app(f"http://127.0.0.1:{port}", CITIES))
    async with client.get("/play", params={"city": "Sydney"}) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"].startswith("the locator did not answer")


async def test_the_page_offers_every_city_and_serves_its_scripts(aiohttp_client, locator) -> None:
    client = await aiohttp_client(player_app(locator[0], CITIES))
    status, headers, page = await get(client, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<option value="Sydney">Sydney</option>' in page
    assert '<option value="São &lt;Paulo&gt;">' in page
    assert 'src="static/hls.min.js"' in page and "cdn" not in page.lower()
    for name in ("hls.min.js", "player.js"):
        status, headers, text = await get(client, f"/static/{name}")
        assert status == 200, name
        assert text == (STATIC / name).read_text(), name
    status, _, _ = await get(client, "/static/index.html")
    assert status == 404


def test_the_vendored_hls_js_is_the_release_its_readme_names() -> None:
    readme = (STATIC / "README.md").read_text()
    match = re.search(r"hls\.js (\d+\.\d+\.\d+) \(", readme)
    assert match is not None, readme
    script = (STATIC / "hls.min.js").read_bytes()
    assert f'"{match[1]}"'.encode() in script, "hls.min.js is not the release the README names"
    assert f"sha256 `{hashlib.sha256(script).hexdigest()}`" in readme
    assert "Apache License" in (STATIC / "hls.js-LICENSE").read_text()
