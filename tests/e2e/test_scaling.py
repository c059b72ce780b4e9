"""One region of two edges behind HAProxy and nginx, as docs/scaling.md configures them.

Two ``castedge serve`` edges (each its own cache directory) behind ``haproxy`` and
``nginx``, each running the document's own config, and a central node whose sync
daemon and locator know the region only as HAProxy's URL and its members' admin
listeners, all against moto's S3 server, which counts the GETs per key. The tests run
in file order: the last ones stop an edge, then HAProxy.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from castedge.locals3 import LocalS3
from tests.conftest import Bucket, payload
from tests.support.balancer import HAProxy, Nginx
from tests.support.locator import KEY_ID, SECRET, URL_TOKENS, build_world, grant
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "scaling-admin-token-0123456789"
REGION = "eu-central"
KEYS = [f"courses/scale/obj-{n:02d}.mp4" for n in range(40)]
#: Reached through nginx only: the sync daemon (sync.prefixes) leaves them alone.
DIRECT = [f"courses/direct/obj-{n:02d}.mp4" for n in range(20)]
SIZE = 8_000
#: Berlin in the test world: the locator places this player in eu-central.
PLAYER = "2001:db8:1::10"
#: An address a token is bound to, forwarded by HAProxy in X-Forwarded-For.
STUDENT = "203.0.113.7"
PATIENCE = 30.0


def wait_until(what: str, done: Callable[[], bool], timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def admin(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(
        url, method=method, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True)


def signing(workdir: Path) -> dict[str, Any]:
    return {
        "keys": {KEY_ID: SECRET},
        "active": KEY_ID,
        "revocation_file": str(workdir / "revoked.json"),
        "revocation_interval": "200ms",
    }


def edge_config(bucket: Bucket, workdir: Path) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "upstream": {"retries": 1, "backoff": "50ms"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": REGION,
            "access_log": None,
            "prefixes": ["courses/"],
            # HAProxy on loopback: its X-Forwarded-For names the player.
            "trusted_proxies": ["127.0.0.1/32"],
            # Stopping an edge in the test need not wait for the balancers' idle connections.
            "drain_timeout": "1s",
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": signing(workdir),
    }


def central_config(
    root: Path, bucket: Bucket, balancer: str, members: list[str], holdings: str | None
) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "geo": {
            "database": str(root.parent / "city.mmdb"),
            "trusted_proxies": ["127.0.0.1/32"],
            "health": {"interval": "100ms", "timeout": "100ms", "rise": 1, "fall": 2},
        },
        "regions": [
            {
                "name": REGION,
                "latitude": 50.11,
                "longitude": 8.68,
                "base_url": balancer,
                "members": members,
            }
        ],
        "locator": {"listen": "127.0.0.1:0", "access_log": None, "holdings_interval": "200ms"}
        | ({"holdings_url": holdings} if holdings else {}),
        "sync": {
            "prefixes": ["courses/scale/"],
            "interval": "1s",
            "per_region": 4,
            "state_file": str(root / "sync-state.json"),
            "retry_backoff": "200ms",
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": signing(root),
    }


@dataclass
class Region:
    bucket: Bucket
    edges: dict[str, CastedgeProcess]
    haproxy: HAProxy
    nginx: Nginx
    central: CastedgeProcess

    def held(self, edge: str, key: str) -> bool:
        """Whether ``edge``'s own cache holds ``key``, asked of its admin listener."""
        quoted = urllib.parse.quote(key)
        status, _ = admin(f"{self.edges[edge].urls['admin']}/admin/cache/{quoted}")
        return status == 200

    def owners(self, keys: list[str]) -> dict[str, list[str]]:
        return {key: [name for name in self.edges if self.held(name, key)] for key in keys}

    def holdings(self) -> dict[str, Any]:
        return admin(self.central.urls["admin"] + "/admin/sync/holdings")[1]["objects"]

    def synced(self, keys: list[str]) -> None:
        admin(self.central.urls["admin"] + "/admin/sync/nudge", "POST")
        wait_until(
            "the region holds every key",
            lambda: all(self.holdings().get(k, {}).get("held") == [REGION] for k in keys),
        )

    def play(
        self, keys: list[str], *, bound_to: str = STUDENT, base: str | None = None
    ) -> list[tuple[str, bytes]]:
        """Each key through a balancer with a token of its own, as one curl; (code, body)."""
        args = ["-H", f"X-Forwarded-For: {STUDENT}", "-w", "%{http_code}\\n"]
        files = []
        for n, key in enumerate(keys):
            url = URL_TOKENS.url(key, now=time.time(), base=base or self.haproxy.url, ip=bound_to)
            files.append(self.haproxy.workdir / f"body-{n}")
            args += ["-o", str(files[-1]), url]
        done = curl(*args)
        codes = done.stdout.decode().split()
        assert len(codes) == len(keys), done
        return [(code, path.read_bytes()) for code, path in zip(codes, files, strict=True)]

    def locator_region(self) -> dict[str, Any]:
        health = admin(self.central.urls["admin"] + "/healthz")[1]
        return dict(health["roles"]["locator"]["regions"][REGION])


@pytest.fixture(scope="module")
def region(s3: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    root = tmp_path_factory.mktemp("scaling")
    build_world(root / "city.mmdb")
    bucket = Bucket(s3)
    for key in KEYS + DIRECT:
        bucket.put(key, payload(SIZE, key))
    edges: dict[str, CastedgeProcess] = {}
    haproxy = nginx = None
    central = None
    try:
        for name in ("a", "b"):
            (root / name).mkdir()
            edges[name] = CastedgeProcess("serve", edge_config(bucket, root / name), root / name)
        for edge in edges.values():
            edge.launch()
        for edge in edges.values():
            edge.await_ready(timeout=60)
        servers = [edge.urls["edge"].removeprefix("http://") for edge in edges.values()]
        haproxy = HAProxy(servers, root).start()
        (root / "nginx").mkdir()
        nginx = Nginx(servers, root / "nginx").start()
        members = [edge.urls["admin"] for edge in edges.values()]
        (root / "central").mkdir()
        central = CastedgeProcess(
            "serve",
            central_config(root / "central", bucket, haproxy.url, members, None),
            root / "central",
        )
        central.start(timeout=60)
        yield Region(bucket, edges, haproxy, nginx, central)
    finally:
        if central is not None:
            central.stop()
        for balancer in (haproxy, nginx):
            if balancer is not None:
                balancer.stop()
        for edge in edges.values():
            edge.stop()


def test_each_object_is_cached_on_exactly_one_edge_of_the_region(region: Region) -> None:
    region.synced(KEYS)
    assert {key: region.bucket.gets(key) for key in KEYS} == dict.fromkeys(KEYS, 1)
    owners = region.owners(KEYS)
    assert {key: len(held) for key, held in owners.items()} == dict.fromkeys(KEYS, 1), owners
    shares = {name: sum(held == [name] for held in owners.values()) for name in region.edges}
    assert all(shares.values()), f"one edge got every key: {shares}"
    # Players, each with a token of their own bound to their address, reach the edge
    # that holds the key: the hash is the key's, not the token's. No GET more.
    answers = region.play(KEYS)
    assert [code for code, _ in answers] == ["200"] * len(KEYS)
    assert [body for _, body in answers] == [payload(SIZE, key) for key in KEYS]
    assert {key: region.bucket.gets(key) for key in KEYS} == dict.fromkeys(KEYS, 1)
    # The edge checked the binding against the forwarded address, not HAProxy's.
    assert region.play(KEYS[:1], bound_to="198.51.100.9")[0][0] == "403"


def test_nginx_caches_each_object_on_exactly_one_edge_too(region: Region) -> None:
    for _ in range(2):
        answers = region.play(DIRECT, base=region.nginx.url)
        assert [code for code, _ in answers] == ["200"] * len(DIRECT)
        assert [body for _, body in answers] == [payload(SIZE, key) for key in DIRECT]
        assert {key: region.bucket.gets(key) for key in DIRECT} == dict.fromkeys(DIRECT, 1)
    owners = region.owners(DIRECT)
    assert {key: len(held) for key, held in owners.items()} == dict.fromkeys(DIRECT, 1), owners
    assert len({held[0] for held in owners.values()}) == 2, f"one edge got every key: {owners}"


def test_a_deleted_object_is_purged_from_every_edge_of_the_region(region: Region) -> None:
    key = "courses/scale/deleted.mp4"
    region.bucket.put(key, payload(SIZE, key))
    region.synced([key])
    (owner,) = region.owners([key])[key]
    # A copy on the other edge too, as after a time it owned the key.
    other = next(name for name in region.edges if name != owner)
    direct = URL_TOKENS.url(key, now=time.time(), base=region.edges[other].urls["edge"])
    assert curl("-o", "/dev/null", "-w", "%{http_code}", direct).stdout == b"200"
    assert sorted(region.owners([key])[key]) == sorted(region.edges)
    region.bucket.client.delete_object(Bucket=region.bucket.name, Key=key)
    admin(region.central.urls["admin"] + "/admin/sync/nudge", "POST")
    wait_until("no edge holds it", lambda: region.owners([key])[key] == [])
    assert key not in region.holdings()


def test_a_revocation_reaches_every_edge_of_the_region(region: Region) -> None:
    key = KEYS[1]
    urls = [
        URL_TOKENS.url(key, now=time.time(), base=edge.urls["edge"], subject="alice")
        for edge in region.edges.values()
    ]

    def codes() -> list[bytes]:
        return [curl("-o", "/dev/null", "-w", "%{http_code}", url).stdout for url in urls]

    # Straight to each edge, not through a balancer: every one must refuse her.
    assert codes() == [b"200", b"200"]
    done = subprocess.run(
        [CASTEDGE, "revoke", "--config", str(region.central.config_path), "--subject", "alice"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_until("every edge refuses her", lambda: codes() == [b"403", b"403"])


def test_stopping_one_edge_moves_only_its_share_of_the_keys(region: Region) -> None:
    region.synced(KEYS)
    region.play(DIRECT, base=region.nginx.url)
    gone = "a"
    owners = region.owners(KEYS + DIRECT)
    before = {key: region.bucket.gets(key) for key in KEYS + DIRECT}
    region.edges[gone].stop()
    region.haproxy.wait_state(f"edge-{gone}", "DOWN")
    for keys, base in ((KEYS, region.haproxy.url), (DIRECT, region.nginx.url)):
        moved = [key for key in keys if owners[key] == [gone]]
        stayed = [key for key in keys if owners[key] != [gone]]
        assert moved and stayed
        for _ in range(2):
            answers = region.play(keys, base=base)
            assert [code for code, _ in answers] == ["200"] * len(keys)
            assert [body for _, body in answers] == [payload(SIZE, key) for key in keys]
            after = {key: region.bucket.gets(key) for key in keys}
            # The survivor's own keys cost nothing; each of the stopped edge's, one GET.
            assert {key: after[key] - before[key] for key in stayed} == dict.fromkeys(stayed, 0)
            assert {key: after[key] - before[key] for key in moved} == dict.fromkeys(moved, 1)


def test_the_locator_sends_players_to_the_balancer_and_checks_its_health(region: Region) -> None:
    key = KEYS[0]
    health = f"{region.haproxy.url}/healthz"
    wait_until("the region is up", lambda: region.locator_region()["healthy"])
    assert region.locator_region()["health_url"] == health
    done = curl(
        "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        "-H", f"X-Forwarded-For: {PLAYER}",
        f"{region.central.urls['locator']}/v/{key}?grant={grant('courses/scale/')}",
    )  # fmt: skip
    code, _, location = done.stdout.decode().partition(" ")
    assert code == "302", done
    assert location.startswith(f"{region.haproxy.url}/s/"), location
    assert curl(location).stdout == payload(SIZE, key)
    region.haproxy.stop()
    wait_until("the region is down", lambda: not region.locator_region()["healthy"])
    # Its players go to the next nearest: with no other region, S3 itself.
    done = curl(
        "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        "-H", f"X-Forwarded-For: {PLAYER}",
        f"{region.central.urls['locator']}/v/{key}?grant={grant('courses/scale/')}",
    )  # fmt: skip
    assert done.stdout.decode().startswith(f"302 {region.bucket.server.url}/"), done
