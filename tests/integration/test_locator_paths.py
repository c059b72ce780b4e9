"""No request path can make the locator redirect anywhere but a configured edge.

Requests go over a raw socket, byte for byte as written, so no client library tidies a
hostile path up first. They carry the web app's proxy secret, which vouches for any
path, so what stops a hostile path here is the path handling, not the grant.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.support.locator import (
    PROXY_SECRET,
    RunningLocator,
    build_world,
    locator_document,
    raw_request,
    regions_at,
    settings_of,
    start_locator,
    start_stand_in_edges,
    status_and_location,
)

AUTHORISED = {"X-Castedge-Proxy-Secret": PROXY_SECRET, "X-Forwarded-For": "192.0.2.10"}

HOSTILE = [
    b"/v//evil.example/x.mp4",
    b"/v///evil.example/x.mp4",
    b"/v/%2f%2fevil.example/x.mp4",
    b"/v/%2F%2Fevil.example/x.mp4",
    b"/v/%252f%252fevil.example/x.mp4",
    b"/v/\\\\evil.example/x.mp4",
    b"/v/%5c%5cevil.example/x.mp4",
    b"/v/\\/evil.example/x.mp4",
    b"/v/@evil.example/x.mp4",
    b"/v/a@evil.example/x.mp4",
    b"/v/%40evil.example/x.mp4",
    b"/v/:@evil.example/x.mp4",
    b"/v/http://evil.example/x.mp4",
    b"/v/http:%2F%2Fevil.example/x.mp4",
    b"/v/https:evil.example/x.mp4",
    b"/v/%68ttp://evil.example/",
    b"/v/..%2f..%2fevil.example/x.mp4",
    b"/v/%2e%2e/%2e%2e/evil.example",
    b"/v/../../evil.example/x.mp4",
    b"/v/./evil.example",
    b"/v/courses/../../../evil.example",
    b"/v/courses/python/%0d%0aLocation:%20http://evil.example/",
    b"/v/courses/python/%0aSet-Cookie:%20a=b",
    b"/v/courses/%00evil.example",
    b"/v/courses/%ff%fe.mp4",
    b"/v/evil.example%23@x.mp4",
    b"/v/evil.example%3F@x.mp4",
    b"/v/evil.example?@x.mp4",
    b"/v/evil.example#@x.mp4",
    b"/v/%09evil.example",
    # Raw CR/LF split the request itself; whatever the server makes of the rest, the
    # Location it answers (if any) must still be an edge's.
    b"/v/courses/x\r\nLocation: http://evil.example/",
    b"/v/courses/x\nLocation: http://evil.example/",
    b"/v/\xe2\x80\xaeevil.example",
    b"/v%2F%2Fevil.example/x.mp4",
    b"/v%2f/evil.example",
    b"//evil.example/v/x.mp4",
    b"http://evil.example/v/x.mp4",
    b"/v/" + b"a/" * 600 + b"x.mp4",
    b"/v/",
    b"/v",
]


@pytest.fixture(scope="module")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("world") / "world.mmdb")


@pytest.fixture
async def locator(aiohttp_server, world_db: Path) -> RunningLocator:
    edges = await start_stand_in_edges(aiohttp_server)
    doc = locator_document(database=world_db, regions=regions_at(edges.base))
    return await start_locator(aiohttp_server, settings_of(doc))


@pytest.mark.parametrize("target", HOSTILE, ids=lambda t: t[:40].decode("latin-1"))
async def test_a_hostile_path_never_leaves_the_configured_edges(
    locator: RunningLocator, target: bytes
) -> None:
    head = await raw_request(locator.port, target, AUTHORISED)
    status, location = status_and_location(head)
    assert status in (302, 400, 404), head[:200]
    if status != 302:
        assert location is None
        return
    assert location is not None
    bases = [region.base_url for region in locator.settings.regions or ()]
    assert any(location.startswith(base + "/s/") for base in bases), location
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc) == ("http", urlsplit(bases[0]).netloc)
    assert not parts.query and not parts.fragment
    # The path after the token is the request's own path, re-encoded, nothing else.
    assert all(33 <= byte < 127 for byte in location.encode("latin-1"))
    rest = parts.path.split("/s/", 1)[1].split("/", 1)[1]
    assert "//" not in rest and "\\" not in unquote(rest)
    assert all(segment not in (".", "..") for segment in unquote(rest).split("/"))
