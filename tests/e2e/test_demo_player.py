"""The demo's player page in headless Chromium: pick a city, play the lesson, seek.

A small fleet on loopback: the local S3 server holding the sample lesson, two edges
(Sydney's and London's regions), a locator placing the sample addresses with the
demo's own City database, and the player page. Chromium loads the page, picks a city
as a user does, and must play the HLS lesson from that city's edge through hls.js,
seek, and keep playing past the seek point.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from castedge.player import player_app
from castedge.samples import LESSON_DIR, LESSON_SECONDS, geo_database, make_samples
from config import settings_from_mapping
from delivery.limits import PARSER_LIMITS
from geo import DEFAULT_REGIONS
from signer import Purpose, Signer
from tests.support.chromium import chromium_or_none, launch
from tests.support.edge import KEY_ID, SECRET, RunningEdge, edge_settings, start_edge
from tests.support.locator import locator_document, start_locator

pytestmark = pytest.mark.e2e

#: The two regions started, and a city the demo's database places near each.
CITIES = {"Sydney": "ap-southeast", "London": "eu-west"}
SEEK_TO = 7.0

GRANTS = Signer({KEY_ID: SECRET}, KEY_ID, purpose=Purpose.GRANT)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory):
    made = make_samples(tmp_path_factory.mktemp("samples"))
    if made.skipped is not None:
        pytest.skip(f"no real lesson to play: {made.skipped}")
    return made


@pytest.fixture
async def fleet(aiohttp_server, bucket, samples, tmp_path):
    """(player page URL, {region: edge}) of a running two-region fleet."""
    for sample in samples:
        if sample.key.startswith(LESSON_DIR):
            bucket.put(sample.key, sample.path.read_bytes(), ContentType=sample.content_type)
    edges: dict[str, RunningEdge] = {}
    for region in CITIES.values():
        settings = edge_settings(
            bucket=bucket.name,
            endpoint=bucket.server.url,
            cache_dir=tmp_path / region,
            # The demo's edges let any page read their answers; the token guards the media.
            edge={"region": region, "cors_origins": ["*"]},
        )
        edges[region] = await start_edge(aiohttp_server, settings)
    database, addresses = geo_database(tmp_path / "geo")
    regions = [
        {"name": r.name, "latitude": r.latitude, "longitude": r.longitude,
         "base_url": edges[r.name].base}
        for r in DEFAULT_REGIONS
        if r.name in edges
    ]  # fmt: skip
    doc = locator_document(
        database=database,
        regions=regions,
        workdir=tmp_path,
        signing={"keys": {KEY_ID: SECRET}, "active": KEY_ID, "default_ttl": "2h"},
    )
    locator = await start_locator(
        aiohttp_server, settings_from_mapping(doc, source="player-test.yaml", environ={})
    )

    def grant() -> str:
        return GRANTS.mint("courses/intro/", now=time.time(), ttl=300, subject="student-1")

    page = await aiohttp_server(
        player_app(locator.url(""), addresses, grant=grant), **PARSER_LIMITS
    )
    return str(page.make_url("/")), edges


WATCH = """
(async (city, seekTo) => {
  const byId = (id) => document.getElementById(id);
  const video = byId('video');
  // Poll what a viewer would see, bounded: the page tells no test when it is done.
  const until = async (done, what, ms) => {
    const end = Date.now() + ms;
    while (!done()) {
      if (Date.now() > end) {
        throw new Error(`no ${what} after ${ms} ms; status: ${byId('status').textContent}`);
      }
      await new Promise((ok) => setTimeout(ok, 50));
    }
  };
  byId('city').value = city;
  byId('pick').requestSubmit();
  await until(() => !video.paused && video.currentTime > 0.5, 'playback', 20000);
  video.currentTime = seekTo;
  await until(() => !video.seeking, 'end of the seek', 10000);
  const seekedTo = video.currentTime;
  await until(() => video.currentTime > seekedTo + 1, 'playback after the seek', 10000);
  const track = video.textTracks.length ? video.textTracks[0] : null;
  if (track) await until(() => track.cues && track.cues.length > 0, 'captions', 10000);
  return {
    region: byId('region').textContent,
    address: byId('address').textContent,
    edge: byId('edge').textContent,
    status: byId('status').textContent,
    duration: video.duration,
    seekedTo,
    later: video.currentTime,
    captions: track ? Array.from(track.cues).map((cue) => cue.text) : [],
    error: video.error && video.error.code,
  };
})
"""


async def test_a_student_in_each_city_watches_from_their_region(fleet, tmp_path) -> None:
    binary = chromium_or_none()
    if binary is None:
        pytest.skip(
            "Chromium is not installed (Debian package 'chromium'; "
            "`scripts/install-sysdeps.sh test` installs it)"
        )
    page_url, edges = fleet
    async with launch(binary) as browser, browser.page() as tab:
        await tab.call("Network.enable")
        # Tall enough that the screenshot holds the video and the region under it.
        await tab.call(
            "Emulation.setDeviceMetricsOverride", width=960, height=900, deviceScaleFactor=1,
            mobile=False,
        )  # fmt: skip
        await tab.goto(page_url)
        for city, region in CITIES.items():
            first_event = len(tab.events)
            watched: dict[str, Any] = await tab.evaluate(
                f"{WATCH}({json.dumps(city)}, {SEEK_TO})", timeout=60
            )
            shot = tmp_path / f"player-{city}.png"
            picture = await tab.call("Page.captureScreenshot", format="png")
            shot.write_bytes(base64.b64decode(picture["data"]))
            seen = f"{watched} (screenshot: {shot})"
            assert watched["error"] is None, seen
            assert watched["region"] == region, seen
            assert watched["edge"] == edges[region].base, seen
            assert watched["duration"] == pytest.approx(LESSON_SECONDS, abs=0.5), seen
            assert watched["seekedTo"] == pytest.approx(SEEK_TO, abs=0.5), seen
            assert watched["later"] > watched["seekedTo"] + 1, seen
            assert watched["captions"], seen
            # Every segment came from that region's edge, signed, and was served.
            segments = _answers(tab.events[first_event:], ".ts")
            assert segments, seen
            assert {url.split("/s/")[0] for url, _ in segments} == {edges[region].base}, seen
            assert {status for _, status in segments} <= {200, 206}, seen
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", seen


def _answers(events: list[dict[str, Any]], suffix: str) -> list[tuple[str, int]]:
    """(URL, status) of each answered request whose path ends in ``suffix``."""
    return [
        (e["params"]["response"]["url"], e["params"]["response"]["status"])
        for e in events
        if e["method"] == "Network.responseReceived"
        and e["params"]["response"]["url"].split("?")[0].endswith(suffix)
    ]
