"""One node, one settings file: ``castedge serve`` runs the origin, an edge and the locator.

The real command runs as an operator starts it, against moto's S3 server on loopback,
and curl plays the clients: a pod catcher on the origin, a player following the
locator's redirect to the node's own edge. The node runs the edge and the locator in
two worker processes each, so every check on /healthz and /metrics also shows that
the one admin listener speaks for all of them.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Bucket, payload
from tests.support.locator import KEY_ID, SECRET, build_world, grant, metric, token_of
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

EPISODE = "podcast/ep-001.mp3"
LESSON = "courses/py/ch01/lesson.mp4"
TOKEN = "node-admin-token-0123456789"
#: How often the roles re-read the revocation file.
REVOCATION_INTERVAL = 0.2
#: Bound on every wait below: a busy two-core machine, several interpreters starting.
PATIENCE = 20.0


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True, timeout=30
    )


def status_of(url: str, *args: str) -> int:
    done = curl("-o", "/dev/null", "-w", "%{http_code}", *args, url)
    return int(done.stdout or 0)


def location_of(url: str) -> str:
    done = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url)
    code, _, location = done.stdout.partition(" ")
    assert code == "302", done.stdout + done.stderr
    return location


def node_config(bucket: Bucket, workdir: Path, edge_base: str) -> dict[str, Any]:
    return {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(workdir / "cache"), "max_size": "1GB"},
        "upstream": {"retries": 1, "backoff": "50ms"},
        "origin": {"listen": "127.0.0.1:0", "access_log": None, "prefixes": ["podcast/"]},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": "eu-central",
            "access_log": None,
            "prefixes": ["courses/"],
            "workers": 2,
        },
        "locator": {"listen": "127.0.0.1:0", "access_log": None, "workers": 2},
        "geo": {
            "database": str(workdir / "city.mmdb"),
            "health": {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 2},
        },
        "regions": [
            {"name": "eu-central", "latitude": 50.11, "longitude": 8.68, "base_url": edge_base}
        ],
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": {
            "keys": {KEY_ID: SECRET},
            "active": KEY_ID,
            "revocation_file": str(workdir / "revoked.json"),
            "revocation_interval": f"{int(REVOCATION_INTERVAL * 1000)}ms",
        },
    }


@pytest.fixture
def node(bucket: Bucket, tmp_path: Path) -> Iterator[CastedgeProcess]:
    """A running node whose locator points at its own edge (set by a reload)."""
    bucket.put(EPISODE, payload(3_000_000, EPISODE))
    bucket.put(LESSON, payload(1_000_000, LESSON))
    build_world(tmp_path / "city.mmdb")
    # The edge's port is the OS's choice, known once it listens: the first start points
    # the region at a closed port, and a reload then points it at the edge.
    config = node_config(bucket, tmp_path, "http://127.0.0.1:9")
    proc = CastedgeProcess("serve", config, tmp_path, expect=4)
    proc.start(timeout=60)
    try:
        yield proc
    finally:
        proc.stop()


def cached_sizes(role_dir: Path) -> list[int]:
    return [p.stat().st_size for p in (role_dir / "objects").rglob("*") if p.is_file()]


def reload_and_wait(node: CastedgeProcess) -> None:
    """SIGHUP, then wait until both workers are new ones and the old have drained away."""
    before = set(node.workers())
    node.reload()
    deadline = time.monotonic() + PATIENCE
    while set(node.workers()) & before or len(node.workers()) != 2:
        assert time.monotonic() < deadline, f"workers {before} were not replaced"
        time.sleep(0.05)
    node.wait_healthy()


def point_locator_at_own_edge(node: CastedgeProcess, bucket: Bucket, workdir: Path) -> str:
    edge = node.urls["edge"]
    node.config_path.write_text(yaml.safe_dump(node_config(bucket, workdir, edge)))
    reload_and_wait(node)
    deadline = time.monotonic() + PATIENCE
    while not location_of(f"{node.urls['locator']}/v/{LESSON}?grant={grant(LESSON)}").startswith(
        edge + "/s/"
    ):
        assert time.monotonic() < deadline, "the reload never pointed the locator at the edge"
        time.sleep(0.1)
    return edge


def test_one_node_serves_every_role_from_one_file(
    node: CastedgeProcess, bucket: Bucket, tmp_path: Path
) -> None:
    assert set(node.urls) == {"origin", "edge", "locator", "admin"}
    origin, edge = node.urls["origin"], node.urls["edge"]

    # A pod catcher gets the episode from the origin, whole.
    done = subprocess.run(
        ["curl", "-sSf", "--max-time", "20", f"{origin}/{EPISODE}"], capture_output=True
    )
    assert (
        hashlib.sha256(done.stdout).hexdigest()
        == hashlib.sha256(payload(3_000_000, EPISODE)).hexdigest()
    )
    # The paid lesson is the edge's, not the origin's: nothing unsigned, nothing fetched.
    assert status_of(f"{origin}/{LESSON}") == 404
    assert bucket.gets(LESSON) == 0
    assert status_of(f"{edge}/{LESSON}") == 403

    # A player follows the locator to the node's own edge, with the grant's scope.
    edge = point_locator_at_own_edge(node, bucket, tmp_path)
    location = location_of(f"{node.urls['locator']}/v/{LESSON}?grant={grant('courses/py/')}")
    assert location.startswith(f"{edge}/s/")
    done = subprocess.run(
        ["curl", "-sSf", "--max-time", "20", location], capture_output=True, timeout=30
    )
    assert done.stdout == payload(1_000_000, LESSON)
    # Each role keeps its objects in its own part of cache.dir: the episode (3 MB and a
    # header) under origin/, the lesson (1 MB and a header) under edge/.
    cache = tmp_path / "cache"
    deadline = time.monotonic() + PATIENCE
    while not (sizes := cached_sizes(cache / "edge")):
        assert time.monotonic() < deadline, "the edge never cached the lesson"
        time.sleep(0.05)
    assert [size // 1_000_000 for size in cached_sizes(cache / "origin")] == [3]
    assert [size // 1_000_000 for size in sizes] == [1]

    # One admin listener speaks for every role, and every worker's counters add up.
    health = node.admin_json("/healthz")
    assert health["status"] == "ok" and health["unhealthy"] == []
    assert set(health["roles"]) == {"origin", "edge", "locator"}
    assert all(part["healthy"] for part in health["roles"].values())
    assert health["roles"]["edge"]["region"] == "eu-central"
    assert health["roles"]["origin"]["prefixes"] == ["podcast/"]
    # A request is counted once its handler has returned, which can be just after the
    # client has its last byte: the lesson's count is waited for, boundedly.
    deadline = time.monotonic() + PATIENCE
    while True:
        text = curl(f"{node.urls['admin']}/metrics").stdout
        served = metric(text, "castedge_edge_requests_total", region="eu-central", status="200")
        if served or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert served == 1
    assert metric(text, "castedge_requests_total", service="origin", status="200") >= 1
    assert metric(text, "castedge_requests_total", service="origin", status="404") == 1
    assert (
        metric(text, "castedge_token_rejections_total", region="eu-central", reason="no_token") == 1
    )
    assert metric(text, "castedge_locator_redirects_total", region="eu-central") >= 2

    # SIGTERM stops the supervisor and every worker of every role.
    workers = node.workers()
    assert len(workers) == 2
    assert node.stop() == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the node"


def test_a_reload_refuses_no_connection(node: CastedgeProcess, migrate_requests: None) -> None:
    """SIGHUP replaces every worker, one at a time, while clients keep asking."""
    origin = node.urls["origin"]
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def ask() -> None:
        nonlocal answered
        deadline = time.monotonic() + PATIENCE
        while not stop.is_set() and time.monotonic() < deadline:
            code = status_of(f"{origin}/{EPISODE}", "-r", "0-1")
            if code == 206:
                answered += 1
            else:
                failures.append(str(code))

    client = threading.Thread(target=ask)
    client.start()
    try:
        reload_and_wait(node)
    finally:
        stop.set()
        client.join(PATIENCE + 5)
    assert failures == []
    assert answered > 0


def test_a_revoked_student_gets_nothing_through_the_locator(
    node: CastedgeProcess, bucket: Bucket, tmp_path: Path
) -> None:
    point_locator_at_own_edge(node, bucket, tmp_path)
    locator = node.urls["locator"]
    alice = grant("courses/py/", subject="alice")
    bob = grant("courses/py/", subject="bob")
    carol = grant("courses/py/", subject="carol")
    alice_url = location_of(f"{locator}/v/{LESSON}?grant={alice}")
    bob_url = location_of(f"{locator}/v/{LESSON}?grant={bob}")
    carol_url = location_of(f"{locator}/v/{LESSON}?grant={carol}")
    assert {status_of(u) for u in (alice_url, bob_url, carol_url)} == {200}

    revoke = [CASTEDGE, "revoke", "--config", str(node.config_path)]
    subprocess.run([*revoke, "--subject", "alice"], check=True, capture_output=True, timeout=30)
    # One grant of Bob's, by the token itself, as from the web app's log.
    subprocess.run([*revoke, "--token", bob], check=True, capture_output=True, timeout=30)

    def refused() -> bool:
        return (
            status_of(f"{locator}/v/{LESSON}?grant={alice}") == 403
            and status_of(f"{locator}/v/{LESSON}?grant={bob}") == 403
        )

    deadline = time.monotonic() + REVOCATION_INTERVAL * 10 + 5
    while not refused():
        assert time.monotonic() < deadline, "the locator still honours revoked grants"
        time.sleep(0.05)
    # Each request may reach either worker of a role; once both have re-read the list
    # (each within an interval of the other), every one refuses.
    deadline = time.monotonic() + PATIENCE
    while not all(status_of(alice_url) == 403 for _ in range(6)):
        assert time.monotonic() < deadline, "an edge worker still serves Alice's URL"
        time.sleep(0.05)
    for _ in range(6):
        assert status_of(f"{locator}/v/{LESSON}?grant={alice}") == 403
        # The URLs minted before the revocations are void at the edge too: Alice's by
        # her subject and the grant's issue time, Bob's by the grant it names.
        assert status_of(alice_url) == 403
        assert status_of(bob_url) == 403
        # Nobody else is touched.
        assert status_of(carol_url) == 200
    again = location_of(f"{locator}/v/{LESSON}?grant={carol}")
    assert token_of(again)[2] == LESSON
    text = curl(f"{node.urls['admin']}/metrics").stdout
    assert metric(text, "castedge_locator_refusals_total", reason="revoked") >= 2
    assert (
        metric(text, "castedge_token_rejections_total", region="eu-central", reason="revoked") >= 2
    )


def test_a_second_castedge_on_the_same_file_is_refused(node: CastedgeProcess) -> None:
    # An operator's file names its admin port; the test's said 0 until the node chose.
    config = yaml.safe_load(node.config_path.read_text())
    config["admin"]["listen"] = node.urls["admin"].removeprefix("http://")
    node.config_path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [CASTEDGE, "edge", "--config", str(node.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "admin.listen" in line and "castedge serve --config" in line, line
    # The running node never noticed.
    assert node.admin_json("/healthz")["status"] == "ok"


def test_check_config_names_every_role_and_warns_of_an_exposed_origin(
    bucket: Bucket, tmp_path: Path
) -> None:
    config = node_config(bucket, tmp_path, "http://127.0.0.1:9")
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [CASTEDGE, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert f"{path}: OK, roles: origin, edge, locator" in done.stdout
    assert f"cache {tmp_path / 'cache' / 'edge'} (500 MB)" in done.stdout
    assert done.stderr == ""

    del config["origin"]["prefixes"]
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [CASTEDGE, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert "origin.prefixes: the origin serves without a token what the edge protects" in (
        done.stderr
    )

    done = subprocess.run(
        [CASTEDGE, "check-config", str(path), "--role", "locator"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert f"{path}: OK, roles: locator" in done.stdout
