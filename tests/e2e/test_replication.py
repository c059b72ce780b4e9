"""Replication across a fleet on loopback: upload once, and every region comes to hold it.

Eight regions, each a real ``castedge serve`` edge with its own file, port and cache
directory, and a central node running the sync daemon and the locator, all against
moto's S3 server, which counts the GETs. The daemon reaches one region ("ap-southeast")
with a wrong admin token once the fleet is seeded, so that region stays healthy but
is never sent players for files it did not get. Players are curl, placed in each
region's city by a MaxMind-format database built for the test and an
X-Forwarded-For from the trusted loopback proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from castedge.locals3 import LocalS3
from geo import DEFAULT_REGIONS
from tests.conftest import Bucket, payload
from tests.support.locator import (
    BERLIN,
    KEY_ID,
    NEW_YORK,
    PARIS,
    SEATTLE,
    SECRET,
    build_world,
    grant,
    metric,
)
from tests.support.process import CASTEDGE, CastedgeProcess
from tests.unit.geo import mmdb

pytestmark = pytest.mark.e2e

TOKEN = "fleet-admin-token-0123456789"
BAD_REGION = "ap-southeast"
#: Every wait below is bounded by this: eight interpreters share two cores.
PATIENCE = 30.0
#: A city near each region, each in a network of its own (the locator caches a
#: placement per /48), in the documentation range of RFC 3849.
CITIES = {
    "us-east": NEW_YORK,
    "us-west": SEATTLE,
    "sa-east": mmdb.SAO_PAULO,
    "eu-west": PARIS,
    "eu-central": BERLIN,
    "ap-south": mmdb.MUMBAI,
    "ap-northeast": mmdb.TOKYO,
    "ap-southeast": mmdb.SYDNEY,
}
#: A player in each region's city.
PLAYER = {region: f"2001:db8:{n}::10" for n, region in enumerate(CITIES, start=100)}
WORLD = [(f"2001:db8:{n}::/48", city) for n, city in enumerate(CITIES.values(), start=100)]


def wait_until(what: str, done: Callable[[], bool], timeout: float = PATIENCE) -> float:
    started = time.monotonic()
    while not done():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def admin_get(url: str, token: str = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def admin_post(url: str) -> int:
    request = urllib.request.Request(
        url, method="POST", data=b"", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True)


@dataclass
class Fleet:
    bucket: Bucket
    edges: dict[str, CastedgeProcess]
    central: CastedgeProcess
    root: Path

    def held(self, region: str, key: str) -> str | None:
        """The ETag the region's edge holds for ``key``, asked of its own admin listener."""
        quoted = urllib.request.quote(key)
        status, body = admin_get(f"{self.edges[region].urls['admin']}/admin/cache/{quoted}")
        return body["etag"] if status == 200 else None

    def holdings(self) -> dict[str, Any]:
        return admin_get(self.central.urls["admin"] + "/admin/sync/holdings")[1]["objects"]

    def status(self) -> dict[str, Any]:
        return admin_get(self.central.urls["admin"] + "/admin/sync/status")[1]

    def nudge(self) -> None:
        assert admin_post(self.central.urls["admin"] + "/admin/sync/nudge") == 202

    def publish(self, key: str, body: bytes) -> str:
        """Upload as ``castedge publish`` does, and nudge the daemon; the new ETag."""
        self.bucket.put(key, body)
        self.nudge()
        return str(self.bucket.client.head_object(Bucket=self.bucket.name, Key=key)["ETag"])

    def redirect(self, region_of_player: str, key: str, grant_token: str) -> str:
        done = curl(
            "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
            "-H", f"X-Forwarded-For: {PLAYER[region_of_player]}",
            f"{self.central.urls['locator']}/v/{key}?grant={grant_token}",
        )  # fmt: skip
        code, _, location = done.stdout.decode().partition(" ")
        assert code == "302", done
        return location

    def region_of(self, location: str) -> str:
        """The region whose edge ``location`` points at; "s3" for the bucket itself."""
        for name, edge in self.edges.items():
            if location.startswith(edge.urls["edge"] + "/s/"):
                return name
        assert location.startswith(self.bucket.server.url + "/"), location
        return "s3"

    @property
    def good(self) -> list[str]:
        return [name for name in self.edges if name != BAD_REGION]


def edge_config(bucket: Bucket, workdir: Path, region: str) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "upstream": {"retries": 1, "backoff": "50ms"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": region,
            "access_log": None,
            "prefixes": ["courses/"],
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": {
            "keys": {KEY_ID: SECRET},
            "active": KEY_ID,
            "revocation_file": str(workdir / "revoked.json"),
            "revocation_interval": "200ms",
        },
    }


def central_config(
    fleet_root: Path, bucket: Bucket, edges: dict[str, CastedgeProcess], **locator: Any
) -> dict[str, Any]:
    regions = []
    for region in DEFAULT_REGIONS:
        edge = edges[region.name]
        regions.append(
            {
                "name": region.name,
                "latitude": region.latitude,
                "longitude": region.longitude,
                "base_url": edge.urls["edge"],
                "admin_url": edge.urls["admin"],
            }
        )
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        # The central node is the podcast's origin too, over its own folder.
        "cache": {"dir": str(fleet_root / "central" / "cache"), "max_size": "1GB"},
        "origin": {"listen": "127.0.0.1:0", "access_log": None, "prefixes": ["podcast/"]},
        "geo": {
            "database": str(fleet_root / "city.mmdb"),
            "trusted_proxies": ["127.0.0.1/32"],
            "health": {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 2},
        },
        "regions": regions,
        "locator": {"listen": "127.0.0.1:0", "access_log": None, "holdings_interval": "200ms"}
        | locator,
        "sync": {
            "prefixes": ["courses/"],
            "interval": "1s",
            "state_file": str(fleet_root / "central" / "sync-state.json"),
            "retry_backoff": "200ms",
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": {
            "keys": {KEY_ID: SECRET},
            "active": KEY_ID,
            "revocation_file": str(fleet_root / "central" / "revoked.json"),
            "revocation_interval": "200ms",
        },
    }


SEED = "courses/py/ch01/seed.mp4"
DEFAULT_REGIONS_NAMES = [region.name for region in DEFAULT_REGIONS]


@pytest.fixture(scope="module")
def fleet(s3: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    build_world(root / "city.mmdb", WORLD)
    bucket = Bucket(s3)
    bucket.put(SEED, payload(100_000, SEED))
    edges: dict[str, CastedgeProcess] = {}
    central = None
    try:
        for region in DEFAULT_REGIONS:
            workdir = root / region.name
            workdir.mkdir()
            edges[region.name] = CastedgeProcess(
                "serve", edge_config(bucket, workdir, region.name), workdir
            )
        for edge in edges.values():  # start them together: each takes a second to import
            edge.launch()
        for edge in edges.values():
            edge.await_ready(timeout=90)
        (root / "central").mkdir()
        central = CastedgeProcess(
            "serve", central_config(root, bucket, edges), root / "central", expect=3
        )
        central.start(timeout=60)
        # The locator's holdings come from the daemon on the same node: a reload once the
        # node's admin port is known points it there.
        config = central_config(
            root, bucket, edges, holdings_url=central.urls["admin"] + "/admin/sync/holdings"
        )
        fleet = Fleet(bucket, edges, central, root)
        wait_until("the seed reaches every region", lambda: all(fleet.held(r, SEED) for r in edges))
        # From now on the daemon's token for one region is wrong.
        bad = next(r for r in config["regions"] if r["name"] == BAD_REGION)
        bad["admin_token"] = "not-the-token-0123456789"
        central.config_path.write_text(yaml.safe_dump(config))
        before = set(central.workers())
        central.reload()
        wait_until("the reload", lambda: not set(central.workers()) & before)
        central.wait_healthy()

        def holdings_known() -> bool:
            health = admin_get(central.urls["admin"] + "/healthz")[1]
            return (health["roles"]["locator"]["holdings"] or {}).get("objects") is not None

        wait_until("the locator knows the holdings", holdings_known)
        yield fleet
    finally:
        if central is not None:
            central.stop()
        for edge in edges.values():
            if edge.proc is not None and edge.proc.poll() is None:
                edge.thaw()
            edge.stop()


def test_a_published_object_reaches_every_region_with_one_get_each(fleet: Fleet) -> None:
    key = "courses/py/ch02/lesson.mp4"
    body = payload(300_000, key)
    etag = fleet.publish(key, body)
    wait_until(
        "every good region holds it", lambda: all(fleet.held(r, key) == etag for r in fleet.good)
    )
    assert fleet.held(BAD_REGION, key) is None, "the region the daemon cannot reach lacks it"
    assert fleet.bucket.gets(key) == len(fleet.good), "one GET per region, no more"
    wait_until(
        "the holdings say so", lambda: sorted(fleet.holdings()[key]["held"]) == sorted(fleet.good)
    )
    # Players then get it from their region's disk (once the locator has asked the
    # daemon again, every holdings_interval): no more GETs.
    for region in fleet.good:
        wait_until(
            f"the locator sends {region}'s players there",
            lambda: fleet.region_of(fleet.redirect(region, key, grant("courses/py/"))) == region,  # noqa: B023
        )
        assert curl(fleet.redirect(region, key, grant("courses/py/"))).stdout == body
    assert fleet.bucket.gets(key) == len(fleet.good)
    # The podcast is the central node's origin's, and never replicated to the edges.
    fleet.bucket.put("podcast/ep-001.mp3", payload(50_000, "ep"))
    passes = fleet.status()["passes"]
    fleet.nudge()
    done = curl(f"{fleet.central.urls['origin']}/podcast/ep-001.mp3")
    assert done.stdout == payload(50_000, "ep")
    # A listing after the upload has run, and still no region was asked for it.
    wait_until("a pass after the upload", lambda: fleet.status()["passes"] > passes + 1)
    assert fleet.holdings().get("podcast/ep-001.mp3") is None
    assert fleet.bucket.gets("podcast/ep-001.mp3") == 1, "the origin's fill, nothing else"


def test_a_region_the_daemon_cannot_reach_gets_players_only_for_what_it_holds(
    fleet: Fleet,
) -> None:
    key = "courses/py/ch03/new.mp4"
    etag = fleet.publish(key, payload(50_000, key))
    wait_until(
        "every good region holds it", lambda: all(fleet.held(r, key) == etag for r in fleet.good)
    )
    wait_until(
        "the locator learns it",
        lambda: (
            fleet.region_of(fleet.redirect(BAD_REGION, key, grant("courses/py/"))) != BAD_REGION
        ),
    )
    # Its own players still go to it for what it holds, and it stays healthy.
    assert fleet.region_of(fleet.redirect(BAD_REGION, SEED, grant("courses/py/"))) == BAD_REGION
    assert (
        curl(
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            fleet.edges[BAD_REGION].urls["edge"] + "/healthz",
        ).stdout
        == b"200"
    )
    # castedge locate says why: the nearest region does not hold the new file.
    done = subprocess.run(
        [CASTEDGE, "locate", "--config", str(fleet.central.config_path), "--probe",
         PLAYER[BAD_REGION], key],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if f" {BAD_REGION} " in line)
    assert "does not hold it" in row and "→" not in row
    assert "holdings: the sync daemon at" in done.stdout
    status = fleet.status()["regions"][BAD_REGION]
    assert status["healthy"] is False
    assert "401" in status["last_error"]
    assert status["objects_pending"] >= 1
    # The operator's view of the same.
    done = subprocess.run(
        [CASTEDGE, "sync", "status", "--sync", fleet.central.urls["admin"]],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "CASTEDGE_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    assert set(DEFAULT_REGIONS_NAMES) <= set(rows), done.stdout
    assert "401" in rows[BAD_REGION]


def test_replaced_objects_serve_the_new_bytes_and_deleted_ones_go_everywhere(
    fleet: Fleet,
) -> None:
    key = "courses/py/ch04/replaced.mp4"
    old, new = payload(120_000, "old"), payload(130_000, "new")
    first = fleet.publish(key, old)
    wait_until(
        "the first version is everywhere",
        lambda: all(fleet.held(r, key) == first for r in fleet.good),
    )
    second = fleet.publish(key, new)
    assert second != first
    wait_until(
        "the new version is everywhere",
        lambda: all(fleet.held(r, key) == second for r in fleet.good),
    )
    for region in fleet.good:
        location = fleet.redirect(region, key, grant("courses/py/"))
        got = curl(location).stdout
        assert hashlib.sha256(got).digest() == hashlib.sha256(new).digest(), region
    fleet.bucket.client.delete_object(Bucket=fleet.bucket.name, Key=key)
    fleet.nudge()
    wait_until("purged everywhere", lambda: all(fleet.held(r, key) is None for r in fleet.good))


def test_a_stopped_region_catches_up_when_it_returns(fleet: Fleet) -> None:
    region = "sa-east"
    edge = fleet.edges[region]
    edge.freeze()
    try:
        keys = ["courses/py/ch05/a.mp4", "courses/py/ch05/b.mp4"]
        etags = [fleet.publish(key, payload(40_000, key)) for key in keys]
        wait_until(
            "the others hold both",
            lambda: all(
                fleet.held(r, k) == e
                for r in fleet.good
                if r != region
                for k, e in zip(keys, etags, strict=True)
            ),
        )
        wait_until(
            "its lag shows",
            lambda: metric(_metrics(fleet), "castedge_replication_lag_seconds", region=region) > 0,
        )
        assert fleet.status()["regions"][region]["objects_pending"] == 2
    finally:
        edge.thaw()
    wait_until(
        "it catches up",
        lambda: all(fleet.held(region, k) == e for k, e in zip(keys, etags, strict=True)),
    )
    wait_until(
        "its lag returns to 0",
        lambda: metric(_metrics(fleet), "castedge_replication_lag_seconds", region=region) == 0,
    )


def _metrics(fleet: Fleet) -> str:
    return curl(fleet.central.urls["admin"] + "/metrics").stdout.decode()


def test_a_revoked_student_is_refused_at_every_edge_and_the_locator(fleet: Fleet) -> None:
    alice = grant("courses/py/", subject="alice")
    urls = {region: fleet.redirect(region, SEED, alice) for region in fleet.edges}
    assert {curl("-o", "/dev/null", "-w", "%{http_code}", u).stdout for u in urls.values()} == {
        b"200"
    }
    done = subprocess.run(
        [CASTEDGE, "revoke", "--config", str(fleet.central.config_path), "--subject", "alice"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "_castedge/revocations.json" in done.stdout
    started = time.monotonic()

    def refused_everywhere() -> bool:
        return all(
            curl("-o", "/dev/null", "-w", "%{http_code}", urls[r]).stdout == b"403"
            for r in fleet.good
        )

    wait_until("every edge refuses Alice", refused_everywhere)
    locator = fleet.central.urls["locator"]
    wait_until(
        "the locator refuses Alice",
        lambda: (
            curl(
                "-o", "/dev/null", "-w", "%{http_code}", f"{locator}/v/{SEED}?grant={alice}"
            ).stdout
            == b"403"
        ),
    )
    # Within the daemon's interval (1 s) and the roles' re-read (0.2 s), and a few
    # seconds for eight interpreters sharing two cores.
    assert time.monotonic() - started < 1 + 0.2 + 10


def test_a_killed_daemon_repeats_no_transfer_and_misses_nothing(fleet: Fleet) -> None:
    keys = [f"courses/py/ch06/{i}.mp4" for i in range(4)] + ["courses/py/ch06/big.mp4"]
    sizes = [30_000] * 4 + [20_000_000]
    for key, size in zip(keys, sizes, strict=True):
        fleet.bucket.put(key, payload(size, key))
    fleet.nudge()
    wait_until(
        "some region holds some of them",
        lambda: any(fleet.held(r, k) for r in fleet.good for k in keys[:4]),
    )
    fleet.central.kill()
    fleet.central.start(timeout=60)
    etags = {
        k: str(fleet.bucket.client.head_object(Bucket=fleet.bucket.name, Key=k)["ETag"])
        for k in keys
    }
    wait_until(
        "every good region holds every key",
        lambda: all(fleet.held(r, k) == etags[k] for r in fleet.good for k in keys),
        timeout=90,
    )
    for key in keys:
        assert fleet.bucket.gets(key) == len(fleet.good), f"{key}: a transfer was repeated"


def test_castedge_publish_waits_until_every_healthy_region_holds_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    lesson = tmp_path / "lesson"
    (lesson / "hls").mkdir(parents=True)
    (lesson / "intro.mp4").write_bytes(payload(200_000, "intro"))
    (lesson / "hls" / "index.m3u8").write_text("#EXTM3U\n")
    started = time.monotonic()
    done = subprocess.run(
        [CASTEDGE, "publish", str(lesson), "--prefix", "courses/pub/",
         "--config", str(fleet.central.config_path), "--sync", fleet.central.urls["admin"],
         "--wait", "--timeout", "60s"],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "CASTEDGE_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    for key in ("courses/pub/intro.mp4", "courses/pub/hls/index.m3u8"):
        assert all(fleet.held(region, key) for region in fleet.good), key
        assert fleet.held(BAD_REGION, key) is None
    # It said each region as it arrived.
    said = done.stdout + done.stderr
    assert all(f"{region} holds" in said for region in fleet.good), said
    assert took < 60
