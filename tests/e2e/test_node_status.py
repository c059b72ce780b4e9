"""A running node as its operator sees it: ``castedge status``, the Grafana dashboard, logrotate.

One real ``castedge serve`` runs the origin (over HTTPS, with an access log file), an
edge, the locator and the sync daemon against moto's S3 server; curl plays a few
clients so every series the dashboard draws has been written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from castedge.locals3 import LocalS3
from tests.conftest import Bucket, payload
from tests.support.certs import Authority
from tests.support.locator import KEY_ID, SECRET, build_world
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "docs/grafana/castedge.json"
TOKEN = "status-admin-token-0123456789"
EPISODE = "podcast/ep-001.mp3"
LESSON = "courses/py/ch01/lesson.mp4"


@dataclass
class Node:
    proc: CastedgeProcess
    ca: Path
    root: Path
    #: The settings as an operator's file names them: the ports the node really has.
    settings: Path

    def curl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["curl", "-sS", "--max-time", "20", "--cacert", str(self.ca), *args],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip


def _with_ports(config: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    """``config`` with each listener's port 0 replaced by the one the node was given."""
    written = json.loads(json.dumps(config))
    for role, url in urls.items():
        written[role]["listen"] = url.split("://", 1)[1]
    return written


@pytest.fixture(scope="module")
def node(s3: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("status")
    ca = Authority.create(root / "ca")
    cert, key = ca.issue().write(root / "tls")
    bucket = Bucket(s3)
    bucket.put(EPISODE, payload(200_000, EPISODE))
    bucket.put(LESSON, payload(100_000, LESSON))
    build_world(root / "city.mmdb")
    logs = root / "log"
    logs.mkdir()
    config: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(root / "cache"), "max_size": "1GB"},
        "upstream": {"retries": 1, "backoff": "50ms"},
        "origin": {
            "listen": "127.0.0.1:0",
            "access_log": str(logs / "origin.log"),
            "prefixes": ["podcast/"],
            "tls": {"cert": str(cert), "key": str(key)},
        },
        "edge": {
            "listen": "127.0.0.1:0",
            "region": "eu-central",
            "access_log": None,
            "prefixes": ["courses/"],
        },
        "locator": {"listen": "127.0.0.1:0", "access_log": None},
        "geo": {
            "database": str(root / "city.mmdb"),
            "health": {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 1},
        },
        # A region whose edge is not there: the locator takes it out, the sync daemon
        # cannot bring it the lesson, and its lag grows.
        "regions": [
            {
                "name": "eu-central",
                "latitude": 50.11,
                "longitude": 8.68,
                "base_url": "http://127.0.0.1:9",
                "admin_url": "http://127.0.0.1:9",
            }
        ],
        "sync": {
            "prefixes": ["courses/"],
            "interval": "1s",
            "state_file": str(root / "sync-state.json"),
            "retry_backoff": "200ms",
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "signing": {"keys": {KEY_ID: SECRET}, "active": KEY_ID},
    }
    proc = CastedgeProcess("serve", config, root, expect=4, ca=ca.path)
    proc.start(timeout=60)
    settings = root / "castedge.yaml"
    settings.write_text(yaml.safe_dump(_with_ports(config, proc.urls)))
    try:
        yield Node(proc, ca.path or root, root, settings)
    finally:
        proc.stop()


def castedge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CASTEDGE, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def wait_for(what: str, check: Any, proc: CastedgeProcess, timeout: float = 20.0) -> Any:
    """Poll /healthz until ``check(doc)`` is true; return the document."""
    deadline = time.monotonic() + timeout
    while True:
        doc = proc.admin_json("/healthz")
        if check(doc):
            return doc
        assert time.monotonic() < deadline, f"never {what}: {json.dumps(doc)[:2000]}"
        time.sleep(0.1)


def behind(doc: dict[str, Any]) -> bool:
    """The locator has taken the absent region out, and the sync daemon has seen the lesson."""
    roles = doc["roles"]
    region = roles["sync"]["regions"]["eu-central"]
    return roles["locator"]["status"] == "fallback" and region["objects_pending"] >= 1


def test_status_is_one_table_of_the_running_node(node: Node) -> None:
    episode = node.curl(
        "-o", "/dev/null", "-w", "%{http_code}", f"{node.proc.urls['origin']}/{EPISODE}"
    )
    assert episode.stdout == "200", episode.stderr
    wait_for("behind", behind, node.proc)

    done = castedge("status", "--config", str(node.settings))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    admin = node.proc.urls["admin"]
    assert lines[0] == f"node {admin} ({node.settings}): ok"
    rows = {line.split()[0]: line for line in lines[2:] if line and not line.startswith(" ")}
    assert lines[2].split() == [
        "ROLE", "LISTEN", "HEALTH", "CACHE", "FALLBACK", "MAINTENANCE", "REPLICATION"
    ]  # fmt: skip
    origin = rows["origin"]
    assert f"{node.proc.urls['origin']} (certificate: 90 days left)" in origin
    assert "1 object, 200 kB of 500 MB (0%)" in origin
    assert re.search(r"\boff\s+off\b", origin), origin
    assert node.proc.urls["edge"] in rows["edge"] and "0 objects" in rows["edge"]
    assert re.search(r"\bok\s+-\s+ON \(no region healthy: to S3\)", rows["locator"])
    assert "1 of 1 regions behind, lag up to" in rows["sync"]
    region = rows["eu-central"].split()
    assert region[:5] == ["eu-central", "DOWN", "FAILING", "0", "1"]
    assert "127.0.0.1:9" in rows["eu-central"]

    # The operator flips the switch; status shows who did.
    env = os.environ | {"CASTEDGE_ADMIN_TOKEN": TOKEN}
    flipped = castedge("fallback", "on", "--config", str(node.settings), env=env)
    assert flipped.returncode == 0, flipped.stdout + flipped.stderr
    try:
        done = castedge("status", "--config", str(node.settings))
        origin = next(line for line in done.stdout.splitlines() if line.startswith("origin "))
        assert re.search(r"ON since \S+ by \S+@", origin), origin
    finally:
        assert castedge("fallback", "off", "--config", str(node.settings), env=env).returncode == 0


def test_status_shows_where_the_node_listens_whatever_the_file_says(
    node: Node, tmp_path: Path
) -> None:
    # The file the node was started from: every listener on port 0.
    settings = yaml.safe_load(node.settings.read_text())
    for section in ("origin", "edge", "locator", "admin"):
        settings[section]["listen"] = "127.0.0.1:0"
    unbound = tmp_path / "castedge.yaml"
    unbound.write_text(yaml.safe_dump(settings))
    admin = node.proc.urls["admin"]

    done = castedge("status", "--node", admin, "--config", str(unbound))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The node was named on the command line: the file is not said to be its.
    assert lines[0] == f"node {admin}: ok"
    rows = {line.split()[0]: line.split() for line in lines[3:] if line}
    for role in ("origin", "edge", "locator"):
        assert rows[role][1] == node.proc.urls[role], rows[role]
    assert rows["sync"][1] == "-"


def test_status_of_a_stopped_node_names_the_address_it_tried(node: Node, tmp_path: Path) -> None:
    # Bound but not listening: a connection to it is refused for as long as it is held.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        settings = yaml.safe_load(node.settings.read_text())
        settings["admin"]["listen"] = f"127.0.0.1:{port}"
        stopped = tmp_path / "castedge.yaml"
        stopped.write_text(yaml.safe_dump(settings))

        done = castedge("status", "--config", str(stopped))

    assert done.returncode == 3
    assert done.stdout == ""
    first = done.stderr.splitlines()[0]
    assert first.startswith(
        f"castedge status: the node is DOWN: nothing answered at http://127.0.0.1:{port}/healthz ("
    )
    assert f"admin.listen of {stopped}" in done.stderr
    assert "Traceback" not in done.stderr


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in doc["panels"] for target in panel.get("targets", [])]
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["query"]["query"])
    return exprs


#: PromQL's own words and functions, which look like metric names to a tokenizer.
_NAME = re.compile(r"\b(castedge_[a-zA-Z0-9_]+)\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
#: Labels Prometheus adds when it scrapes (instance, job) or histograms have (le).
SCRAPE_LABELS = {"instance", "job", "le"}


def test_every_metric_the_dashboard_draws_is_in_metrics(node: Node) -> None:
    # Clients for every panel: a download, a token-less edge request, a grant-less player.
    urls = node.proc.urls
    assert node.curl("-o", "/dev/null", f"{urls['origin']}/{EPISODE}").returncode == 0
    assert node.curl("-o", "/dev/null", f"{urls['edge']}/s/no-token/{LESSON}").returncode == 0
    assert node.curl("-o", "/dev/null", f"{urls['locator']}/v/{LESSON}").returncode == 0
    wait_for("behind", behind, node.proc)
    scraped = node.curl(f"{urls['admin']}/metrics")
    assert scraped.returncode == 0, scraped.stderr
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scraped.stdout):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)

    exprs = dashboard_queries()
    assert len(exprs) >= 15
    named = set()
    for expr in exprs:
        names = set(_NAME.findall(expr))
        assert names, f"no castedge metric in {expr!r}"
        named |= names
        missing = names - set(labels)
        assert not missing, f"{expr!r} names {sorted(missing)}, which /metrics does not have"
        have = set().union(*(labels[name] for name in names)) | SCRAPE_LABELS
        for grouping in _GROUPING.findall(expr):
            wanted = {label.strip() for label in grouping.split(",") if label.strip()}
            assert wanted <= have, f"{expr!r} groups by {sorted(wanted - have)}, which it lacks"
    # What the issue asks the dashboard to show.
    for metric in (
        "castedge_requests_total",
        "castedge_sent_bytes_total",
        "castedge_cache_lookups_total",
        "castedge_fills_total",
        "castedge_replication_lag_seconds",
        "castedge_locator_region_healthy",
        "castedge_token_rejections_total",
        "castedge_locator_refusals_total",
        "castedge_tls_certificate_expiry_timestamp_seconds",
    ):
        assert metric in named, metric


LOGROTATE = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if Path("/usr/sbin/logrotate").exists() else None
)


@pytest.mark.skipif(LOGROTATE is None, reason="logrotate not installed")
def test_the_shipped_logrotate_file_rotates_a_running_nodes_log(node: Node) -> None:
    logs = node.root / "log"
    log = logs / "origin.log"
    url = f"{node.proc.urls['origin']}/{EPISODE}"

    def lines_in(path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    def fetch(marker: str) -> None:
        done = node.curl("-o", "/dev/null", "-A", marker, url)
        assert done.returncode == 0, done.stderr

    def wait_line(path: Path, marker: str) -> None:
        deadline = time.monotonic() + 10
        while not any(marker in line for line in lines_in(path)):
            assert time.monotonic() < deadline, f"{marker} never reached {path}"
            time.sleep(0.05)

    fetch("before-rotation/1")
    wait_line(log, "before-rotation/1")
    config = node.root / "castedge.logrotate"
    shipped = (ROOT / "systemd/castedge.logrotate").read_text()
    config.write_text(shipped.replace("/var/log/castedge/", f"{logs}/"))
    assert LOGROTATE is not None
    done = subprocess.run(
        [LOGROTATE, "--force", "--state", str(node.root / "logrotate.state"), str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fetch("after-rotation/1")
    wait_line(log, "after-rotation/1")

    rotated = lines_in(logs / "origin.log.1")
    assert any("before-rotation/1" in line for line in rotated)
    assert not any("after-rotation/1" in line for line in rotated)
    assert not any("before-rotation/1" in line for line in lines_in(log))


def status_of(node: Node, url: str) -> str:
    return node.curl("-o", "/dev/null", "-w", "%{http_code}", url).stdout


def test_a_signed_playlist_grants_its_folder(node: Node) -> None:
    edge = node.proc.urls["edge"]
    done = castedge(
        "sign", "/courses/py/ch01/index.m3u8", "--base", edge, "--config", str(node.settings)
    )
    assert done.returncode == 0, done.stderr
    assert "the token grants its folder courses/py/ch01/" in done.stderr
    url = done.stdout.strip()
    token = url.removeprefix(f"{edge}/s/").split("/")[0]
    # The player's next request, for a file beside the playlist, is covered.
    assert status_of(node, f"{edge}/s/{token}/{LESSON}") == "200"
    assert status_of(node, f"{edge}/s/{token}/courses/py/ch02/other.mp4") == "403"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["index.m3u8"], "a playlist at the top of the bucket"),
        (
            ["courses/py/ch01/index.m3u8", "--scope", "courses/py/ch01/index.m3u8"],
            "is one file, but courses/py/ch01/index.m3u8 is a playlist",
        ),
    ],
)
def test_a_playlist_token_that_could_not_play_is_refused(
    node: Node, args: list[str], reason: str
) -> None:
    done = castedge("sign", *args, "--base", node.proc.urls["edge"], "--config", str(node.settings))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("castedge sign: ") and reason in done.stderr


def test_a_grant_from_the_command_is_one_the_locator_takes(node: Node) -> None:
    done = castedge(
        "grant", "courses/py/", "--subject", "student-7", "--config", str(node.settings)
    )
    assert done.returncode == 0, done.stderr
    grant = done.stdout.strip()
    locator = node.proc.urls["locator"]
    wait_for("behind", behind, node.proc)
    # No region is up, so the player is sent to S3: but only with a grant.
    taken = node.curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                      f"{locator}/v/{LESSON}?grant={grant}").stdout  # fmt: skip
    code, _, location = taken.partition(" ")
    s3 = yaml.safe_load(node.settings.read_text())["storage"]["s3"]["endpoint_url"]
    assert code == "302" and location.startswith(s3), taken
    tampered = grant[:-2] + ("AA" if not grant.endswith("AA") else "BB")
    assert status_of(node, f"{locator}/v/{LESSON}?grant={tampered}") == "403"
    assert status_of(node, f"{locator}/v/courses/go/ch01/a.mp4?grant={grant}") == "403"


def test_admin_commands_say_where_the_token_came_from(node: Node, tmp_path: Path) -> None:
    wrong = tmp_path / "token"
    wrong.write_text("not-the-admin-token-0123456789\n")
    wrong.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != "CASTEDGE_ADMIN_TOKEN"}
    admin = node.proc.urls["admin"]

    done = castedge("fallback", "status", "--node", admin, "--token-file", str(wrong), env=env)

    assert done.returncode == 1
    assert "refused: missing or wrong admin token" in done.stdout
    assert f"can be read by other users (mode 0644): chmod 600 {wrong}" in done.stderr
    assert f"the admin token was read from --token-file {wrong}" in done.stderr
    assert "not-the-admin-token" not in done.stdout + done.stderr

    right = tmp_path / "right"
    right.write_text(TOKEN + "\n")
    right.chmod(0o600)
    done = castedge("maintenance", "status", "--node", admin, "--token-file", str(right), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert re.search(rf"^{re.escape(admin)}\s+off\b", done.stdout, re.M), done.stdout

    env["CASTEDGE_ADMIN_TOKEN"] = "also-wrong-0123456789"
    done = castedge("fallback", "status", "--node", admin, env=env)
    assert done.returncode == 1
    assert "the admin token was read from $CASTEDGE_ADMIN_TOKEN" in done.stderr
