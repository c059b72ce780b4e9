"""Certificates that change under a running node, and certificates it refuses.

A renewal reaches new connections within a few ``reload_interval``s while a download
begun before it completes intact; a renewal whose key is not its certificate's is
refused in one log line while the old certificate keeps serving. A mismatched key
stops ``castedge serve`` and ``check-config`` at once, and a SIGHUP reload onto one
keeps the old workers. ``check-config`` warns of a certificate near or past its end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Bucket, payload
from tests.support.certs import Authority, Leaf, swap_live, write_atomically
from tests.support.edge import metric
from tests.support.https import client_context, handshake, poll_until
from tests.support.process import CASTEDGE, CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "renewal-admin-token-0123456789"
EPISODE = "podcast/long.mp3"
#: Long enough, at RATE, to be in flight for a few seconds: the renewal lands meanwhile.
BODY = payload(12_000_000, "renewal")
RATE = "4M"
RELOAD_INTERVAL = 0.2
#: Bound on every wait: a busy two-core machine, several interpreters starting.
PATIENCE = 15.0


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("renewal-ca"))


def cacert(ca: Authority) -> str:
    assert ca.path is not None
    return str(ca.path)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def node_config(
    root: Path, storage: dict[str, Any], cert: Path, key: Path, **tls: Any
) -> dict[str, Any]:
    return {
        "storage": storage,
        "cache": {"dir": str(root / "cache"), "max_size": "1GB"},
        "origin": {
            "listen": "127.0.0.1:0",
            "access_log": None,
            "tls": {"cert": str(cert), "key": str(key), **tls},
        },
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "upstream": {"retries": 2, "backoff": "50ms"},
    }


@dataclass
class Renewable:
    """A node serving ``live/cert.pem`` and ``live/key.pem``, ``live`` a link to a generation."""

    proc: CastedgeProcess
    ca: Authority
    first: Leaf
    root: Path

    @property
    def live(self) -> Path:
        return self.root / "live"

    @property
    def https(self) -> str:
        return self.proc.urls["origin"]

    def serial(self) -> int:
        """The serial a new connection is shown now."""
        return handshake(self.https, client_context(Path(cacert(self.ca)))).serial

    def generation(self, name: str, leaf: Leaf) -> Path:
        leaf.write(self.root / name)
        return self.root / name

    def metrics(self) -> str:
        with urllib.request.urlopen(self.proc.urls["admin"] + "/metrics", timeout=5) as resp:
            text: str = resp.read().decode()
        return text

    def healthz_serial(self) -> str:
        serial: str = self.proc.admin_json("/healthz")["tls"]["listeners"]["origin"]["serial"]
        return serial


@pytest.fixture
def node(ca: Authority, bucket: Bucket, tmp_path: Path) -> Iterator[Renewable]:
    first = ca.issue()
    first.write(tmp_path / "gen-1")
    swap_live(tmp_path / "live", tmp_path / "gen-1")
    bucket.put(EPISODE, BODY)
    storage = {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}}
    live = tmp_path / "live"
    config = node_config(
        tmp_path,
        storage,
        live / "cert.pem",
        live / "key.pem",
        reload_interval=f"{int(RELOAD_INTERVAL * 1000)}ms",
    )
    proc = CastedgeProcess("serve", config, tmp_path).start()
    yield Renewable(proc, ca, first, tmp_path)
    assert proc.stop() == 0, proc.stderr()


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " WARNING " in line]


def test_a_renewal_reaches_new_connections_while_a_download_completes(
    node: Renewable, tmp_path: Path
) -> None:
    assert node.serial() == node.first.serial
    url = f"{node.https}/{EPISODE}"
    digest = hashlib.sha256(BODY).hexdigest()
    # Into the cache first: the slow download below is a hit, copied through OpenSSL.
    done = run("curl", "-sSf", "--cacert", cacert(node.ca), "-o", str(tmp_path / "fill"), url)
    assert done.returncode == 0, done.stderr
    poll_until(
        lambda: node.proc.admin_json("/healthz")["roles"]["origin"],
        lambda origin: origin["fills_in_progress"] == 0 and origin["store"]["objects"] == 1,
        timeout=PATIENCE,
        what="the episode published in the cache",
    )

    slow = tmp_path / "slow.mp3"
    reader = subprocess.Popen(
        ["curl", "-sSf", "--cacert", cacert(node.ca), "--limit-rate", RATE, "-o", str(slow), url],
        stderr=subprocess.PIPE,
    )
    try:
        poll_until(
            lambda: slow.stat().st_size if slow.exists() else 0,
            lambda size: size > 0,
            timeout=PATIENCE,
            what="bytes the slow reader has",
        )
        # As an ACME client renews: each file written beside itself, then renamed.
        second = node.ca.issue()
        write_atomically(node.live / "cert.pem", second.cert_pem)
        write_atomically(node.live / "key.pem", second.key_pem)
        poll_until(
            node.serial,
            lambda serial: serial == second.serial,
            timeout=PATIENCE,
            what="the serial a new connection sees",
        )
        assert reader.poll() is None, "the download ended before the renewal: make it longer"
        _, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    assert hashlib.sha256(slow.read_bytes()).hexdigest() == digest
    assert node.healthz_serial() == f"{second.serial:x}"
    text = node.metrics()
    # Once, or twice when a look fell between the two renames and saw the key's old stat.
    assert metric(text, "castedge_tls_reloads_total", listener="origin", result="installed") >= 1
    expiry = metric(text, "castedge_tls_certificate_expiry_timestamp_seconds", listener="origin")
    assert expiry == second.cert.not_valid_after_utc.timestamp()


def test_a_mismatched_renewal_is_refused_once_and_the_old_certificate_serves_on(
    node: Renewable,
) -> None:
    before = len(warnings_in(node.proc.stderr()))
    assert before == 0, node.proc.stderr()
    bad = node.generation("gen-bad", node.ca.issue().mismatched())
    # Certificate and key change together (the live link moves), so there is one
    # state of the files to refuse, not a half-written one first.
    swap_live(node.live, bad)
    refused = poll_until(
        lambda: warnings_in(node.proc.stderr()),
        lambda lines: len(lines) >= 1,
        timeout=PATIENCE,
        what="WARNING lines",
    )
    # Watch new connections for several reload intervals: the old certificate, always.
    watch_until = time.monotonic() + 6 * RELOAD_INTERVAL
    while time.monotonic() < watch_until:
        assert node.serial() == node.first.serial
    lines = warnings_in(node.proc.stderr())
    assert len(lines) == 1, lines
    assert lines == refused
    assert "origin.tls: refused the new certificate files" in lines[0]
    assert f"key {node.live / 'key.pem'} does not belong to the certificate" in lines[0]
    assert f"still serving serial {node.first.serial:x}" in lines[0]
    assert node.healthz_serial() == f"{node.first.serial:x}"
    refusals = metric(
        node.metrics(), "castedge_tls_reloads_total", listener="origin", result="refused"
    )
    assert refusals == 1

    # Once the files are right again, the next look installs them.
    good = node.ca.issue()
    swap_live(node.live, node.generation("gen-3", good))
    poll_until(node.serial, lambda s: s == good.serial, timeout=PATIENCE, what="new serial")
    assert len(warnings_in(node.proc.stderr())) == 1


# -- refused at start, at check-config, at a reload -----------------------------------


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_a_mismatched_key_is_refused_at_start_in_one_line(
    ca: Authority, tmp_path: Path, command: str
) -> None:
    cert, key = ca.issue().mismatched().write(tmp_path / "tls")
    config = write_config(
        tmp_path / "castedge.yaml",
        node_config(tmp_path, {"dir": str(tmp_path / "media")}, cert, key),
    )
    done = run(CASTEDGE, command, "--config", str(config), timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(
        rf"castedge: {re.escape(str(config))}: origin\.tls\.key: key {re.escape(str(key))} "
        rf"does not belong to the certificate in {re.escape(str(cert))} \(serial [0-9a-f]+\); "
        "give the key that was issued with it",
        lines[0],
    ), lines[0]
    assert "listening on" not in done.stdout


def test_a_reload_onto_a_mismatched_key_keeps_the_old_workers(
    ca: Authority, bucket: Bucket, tmp_path: Path
) -> None:
    first = ca.issue()
    cert, key = first.write(tmp_path / "gen-1")
    bucket.put(EPISODE, BODY)
    storage = {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}}
    proc = CastedgeProcess("serve", node_config(tmp_path, storage, cert, key), tmp_path).start()
    context = client_context(Path(cacert(ca)))
    try:
        workers = proc.workers()
        assert len(workers) == 1
        second = ca.issue()
        bad_cert, bad_key = second.mismatched().write(tmp_path / "gen-bad")
        write_config(proc.config_path, node_config(tmp_path, storage, bad_cert, bad_key))
        proc.reload()
        refusal = poll_until(
            lambda: [line for line in proc.stderr().splitlines() if "not reloading" in line],
            bool,
            timeout=PATIENCE,
            what="the supervisor's refusal",
        )
        assert len(refusal) == 1
        assert " ERROR " in refusal[0]
        assert "not reloading, the settings file is invalid" in refusal[0]
        assert f"origin.tls.key: key {bad_key} does not belong to the certificate" in refusal[0]
        assert "Traceback" not in proc.stderr()
        # The old worker, with the old certificate, serves on.
        assert proc.workers() == workers
        assert handshake(proc.urls["origin"], context).serial == first.serial
        done = run("curl", "-sSf", "--cacert", cacert(ca), "-o", "/dev/null",
                   "-w", "%{http_code}", f"{proc.urls['origin']}/{EPISODE}")  # fmt: skip
        assert done.stdout == "200", done.stderr

        # The same reload with a good pair goes through: the refusal was the key's doing.
        good_cert, good_key = second.write(tmp_path / "gen-2")
        write_config(proc.config_path, node_config(tmp_path, storage, good_cert, good_key))
        proc.reload()
        poll_until(
            lambda: handshake(proc.urls["origin"], context).serial,
            lambda serial: serial == second.serial,
            timeout=PATIENCE,
            what="the serial after a good reload",
        )
        assert proc.workers() != workers
    finally:
        assert proc.stop() == 0, proc.stderr()


# -- check-config ---------------------------------------------------------------------


def edge_config(root: Path, cert: Path, key: Path) -> dict[str, Any]:
    return {
        "storage": {"dir": str(root / "media")},
        "cache": {"dir": str(root / "cache"), "max_size": "1GB"},
        "edge": {
            "listen": "127.0.0.1:0",
            "region": "eu-tls",
            "access_log": None,
            "tls": {"cert": str(cert), "key": str(key)},
        },
        "admin": {"listen": "127.0.0.1:0"},
        "signing": {"keys": {"k1": "renewal-signing-secret-0123456789"}, "active": "k1"},
    }


NOW = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("not_after", "says"),
    [
        (NOW - dt.timedelta(days=3, hours=12), "expired 3 days ago"),
        (NOW + dt.timedelta(days=5, hours=12), "expires in 5 days"),
    ],
    ids=["expired", "expiring in 5 days"],
)
def test_check_config_warns_of_a_certificate_near_or_past_its_end(
    ca: Authority, tmp_path: Path, not_after: dt.datetime, says: str
) -> None:
    leaf = ca.issue(not_after=not_after)
    cert, key = leaf.write(tmp_path / "tls")
    config = write_config(tmp_path / "edge.yaml", edge_config(tmp_path, cert, key))
    done = run(CASTEDGE, "check-config", "--config", str(config), timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: edge.tls: certificate {cert} (serial {leaf.serial:x}) {says}, "
        f"on {not_after:%Y-%m-%d}: "
        + ("clients refuse it; renew it" if "expired" in says else "is renewal running?")
    ]
    assert f"{config}: OK, roles: edge" in done.stdout


def test_check_config_says_nothing_of_a_certificate_with_months_left(
    ca: Authority, tmp_path: Path
) -> None:
    cert, key = ca.issue().write(tmp_path / "tls")
    config = write_config(tmp_path / "edge.yaml", edge_config(tmp_path, cert, key))
    done = run(CASTEDGE, "check-config", "--config", str(config), timeout=30)
    assert (done.returncode, done.stderr) == (0, "")
    assert "edge: listen https://127.0.0.1:0" in done.stdout


@pytest.mark.parametrize("kind", ["missing", "a directory"])
def test_check_config_refuses_a_certificate_file_it_cannot_read(
    ca: Authority, tmp_path: Path, kind: str
) -> None:
    _, key = ca.issue().write(tmp_path / "tls")
    cert = tmp_path / "tls" / "fullchain.pem"
    if kind == "a directory":
        cert.mkdir()
    config = write_config(tmp_path / "edge.yaml", edge_config(tmp_path, cert, key))
    done = run(CASTEDGE, "check-config", "--config", str(config), timeout=30)
    assert done.returncode == 2
    expected = "does not exist" if kind == "missing" else "is a directory, not a file"
    assert done.stderr.strip() == (
        f"castedge: {config}: edge.tls.cert: certificate {cert} {expected}"
    )
