"""The origin over HTTPS as an operator runs it (``castedge serve``), with real clients.

One node serves the module: the origin's listener speaks TLS with a certificate from a
CA made for the run, beside a plain-HTTP listener that redirects to it and answers
ACME challenges, and an admin listener on TLS 1.3 only. curl and aria2c verify the
chain and the name (``--cacert``); Python's ssl module plays the clients that can be
made to offer old versions or several ALPN protocols.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import subprocess
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tls
from castedge.locals3 import LocalS3
from tests.conftest import Bucket, payload
from tests.support.certs import Authority, Leaf
from tests.support.clients import aria2c
from tests.support.edge import metric
from tests.support.https import address_of, client_context, handshake, poll_until
from tests.support.process import CastedgeProcess

pytestmark = pytest.mark.e2e

TOKEN = "https-admin-token-0123456789"
HEADED = "podcast/headed.mp3"
EPISODE = "podcast/ep-tls.mp3"
SEGMENTED = "podcast/ep-aria.mp3"
BODIES = {
    HEADED: payload(1_000_000, "headed"),
    EPISODE: payload(8_000_000, "ep-tls"),
    SEGMENTED: payload(8_000_000, "ep-aria"),
}
CHALLENGE = "Xk3_9-pQ1vZt"
CHALLENGE_BODY = b"Xk3_9-pQ1vZt.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@dataclass
class Node:
    """The running node and what its clients need to know."""

    proc: CastedgeProcess
    ca: Authority
    leaf: Leaf
    bucket: Bucket
    webroot: Path

    @property
    def https(self) -> str:
        return self.proc.urls["origin"]

    @property
    def plain(self) -> str:
        return self.proc.urls["origin_redirect"]

    @property
    def admin(self) -> str:
        return self.proc.urls["admin"]

    @property
    def cacert(self) -> str:
        assert self.ca.path is not None
        return str(self.ca.path)

    def url(self, key: str) -> str:
        return f"{self.https}/{key}"


@pytest.fixture(scope="module")
def node(s3: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("https-origin")
    ca = Authority.create(root / "ca")
    leaf = ca.issue()
    cert, key = leaf.write(root / "tls")
    webroot = root / "acme"
    challenges = webroot / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / CHALLENGE).write_bytes(CHALLENGE_BODY)
    # Beside the challenges, where a traversal would reach them.
    (webroot / "secret.txt").write_text("not for the world\n")
    (webroot / ".well-known" / "secret.txt").write_text("not for the world\n")
    bucket = Bucket(s3)
    for name, body in BODIES.items():
        bucket.put(name, body)
    pair = {"cert": str(cert), "key": str(key)}
    config: dict[str, Any] = {
        "storage": {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}},
        "cache": {"dir": str(root / "cache"), "max_size": "1GB"},
        "origin": {
            "listen": "127.0.0.1:0",
            "access_log": None,
            "tls": {**pair, "redirect_http": "127.0.0.1:0", "acme_webroot": str(webroot)},
        },
        "admin": {
            "listen": "127.0.0.1:0",
            "token": TOKEN,
            "tls": {**pair, "min_version": "TLSv1.3"},
        },
        "upstream": {"retries": 2, "backoff": "50ms"},
    }
    proc = CastedgeProcess("serve", config, root, expect=3, ca=ca.path).start()
    yield Node(proc, ca, leaf, bucket, webroot)
    assert proc.stop() == 0, proc.stderr()


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "30", *args], capture_output=True, text=True, timeout=60
    )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settled(node: Node) -> bool:
    """Every fill published: what is asked for next is a hit, sent from the cache file."""
    origin = node.proc.admin_json("/healthz")["roles"]["origin"]
    return bool(origin["fills_in_progress"] == 0 and origin["store"]["objects"] >= 1)


# -- downloads ------------------------------------------------------------------------


def test_curl_head_and_a_two_byte_range_over_https(node: Node, tmp_path: Path) -> None:
    head = curl("--cacert", node.cacert, "-I", node.url(HEADED))
    assert head.returncode == 0, head.stderr
    lines = head.stdout.splitlines()
    assert lines[0].strip() == "HTTP/1.1 200 OK"
    assert f"Content-Length: {len(BODIES[HEADED])}" in [line.strip() for line in lines]

    out = tmp_path / "two"
    ranged = curl(
        "--cacert", node.cacert, "-r", "0-1", "-o", str(out), "-w", "%{http_code}",
        node.url(HEADED),
    )  # fmt: skip
    assert ranged.returncode == 0, ranged.stderr
    assert ranged.stdout == "206"
    assert out.read_bytes() == BODIES[HEADED][:2]


def test_curl_gets_the_whole_episode_on_a_miss_then_a_hit(node: Node, tmp_path: Path) -> None:
    digest = hashlib.sha256(BODIES[EPISODE]).hexdigest()
    miss = tmp_path / "miss.mp3"
    done = curl("-f", "--cacert", node.cacert, "-o", str(miss), node.url(EPISODE))
    assert done.returncode == 0, done.stderr
    assert sha256_file(miss) == digest
    # A hit is sent from the cache file, copied through OpenSSL (no kernel TLS here).
    poll_until(lambda: settled(node), bool, timeout=10, what="fills published")
    hit = tmp_path / "hit.mp3"
    done = curl("-f", "--cacert", node.cacert, "-o", str(hit), node.url(EPISODE))
    assert done.returncode == 0, done.stderr
    assert sha256_file(hit) == digest
    assert node.bucket.gets(EPISODE) == 1


def test_aria2c_segmented_download_over_https(node: Node, tmp_path: Path) -> None:
    digest = hashlib.sha256(BODIES[SEGMENTED]).hexdigest()
    for attempt in ("miss", "hit"):
        dest = tmp_path / f"{attempt}.mp3"
        done = aria2c(node.url(SEGMENTED), dest, cacert=node.cacert)
        assert done.returncode == 0, done.stdout + done.stderr
        assert sha256_file(dest) == digest, attempt


def test_clients_refuse_the_certificate_without_the_ca(node: Node) -> None:
    # The other tests' success means something only if verification is really on.
    done = curl("-o", "/dev/null", node.url(HEADED))
    assert done.returncode == 60, done.stderr  # CURLE_PEER_FAILED_VERIFICATION


# -- protocol versions and ALPN -------------------------------------------------------


def legacy_server(directory: Path, leaf: Leaf) -> tuple[str, threading.Thread]:
    """A one-connection Python TLS server that still speaks TLS 1.0 and 1.1."""
    cert, key = leaf.write(directory)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1
        server.set_ciphers("DEFAULT:@SECLEVEL=0")
    server.load_cert_chain(cert, key)
    listening = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listening:
            listening.settimeout(10)
            conn, _ = listening.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"https://127.0.0.1:{listening.getsockname()[1]}", thread


# As OpenSSL names them in SSLSocket.version().
OLD = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@pytest.mark.parametrize("version", sorted(OLD))
def test_tls_1_0_and_1_1_are_refused(node: Node, version: str, tmp_path: Path) -> None:
    def old_client() -> ssl.SSLContext:
        return client_context(
            Path(node.cacert),
            minimum=ssl.TLSVersion.TLSv1,
            maximum=OLD[version],
            ciphers="DEFAULT:@SECLEVEL=0",
        )

    # This client does speak the old version, to a server that still does...
    url, thread = legacy_server(tmp_path, node.leaf)
    assert handshake(url, old_client()).version == version
    thread.join(10)
    # ...and castedge will not.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(node.https, old_client())


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_tls_1_2_and_1_3_are_accepted(node: Node, version: str) -> None:
    only = ssl.TLSVersion[version.replace(".", "_")]
    done = handshake(node.https, client_context(Path(node.cacert), minimum=only, maximum=only))
    assert done.version == version
    assert done.serial == node.leaf.serial


def test_a_tls_1_3_listener_refuses_a_tls_1_2_client(node: Node) -> None:
    tls12 = ssl.TLSVersion.TLSv1_2
    only_12 = client_context(Path(node.cacert), minimum=tls12, maximum=tls12)
    # The admin listener says min_version TLSv1.3; the origin's, the default, TLS 1.2.
    assert handshake(node.https, only_12).version == "TLSv1.2"
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(node.admin, only_12)
    assert handshake(node.admin, client_context(Path(node.cacert))).version == "TLSv1.3"


def test_alpn_selects_http_1_1_when_a_client_offers_h2_too(node: Node) -> None:
    offer = client_context(Path(node.cacert), alpn=["h2", "http/1.1"])
    assert handshake(node.https, offer).alpn == "http/1.1"
    # curl, which speaks h2 when it can, ends up on HTTP/1.1 as well.
    done = curl("--cacert", node.cacert, "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                node.url(HEADED))  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "1.1"), done.stderr


def test_plain_http_on_the_tls_port_is_closed_without_a_word(node: Node) -> None:
    logged = len(node.proc.stderr())
    host, port = address_of(node.https)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"GET /{HEADED} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received == b"", "no HTTP answer and no TLS alert on a plain-HTTP request"
    # The listener is still well, and said nothing alarming about the stray client.
    assert handshake(node.https, client_context(Path(node.cacert))).serial == node.leaf.serial
    said = node.proc.stderr()[logged:]
    assert "Traceback" not in said and " ERROR " not in said, said


# -- the plain-HTTP redirect listener -------------------------------------------------


def plain_request(
    node: Node, method: str, target: str, host: str | None
) -> tuple[int, dict[str, str], bytes]:
    """One request to the redirect listener with exactly the Host header given."""
    phost, pport = address_of(node.plain)
    conn = http.client.HTTPConnection(phost, pport, timeout=5)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "target", "host", "status", "location"),
    [
        ("GET", "/podcast/ep.mp3?src=rss&t=1", "podcasts.example.com", 301,
         "https://podcasts.example.com:{port}/podcast/ep.mp3?src=rss&t=1"),
        ("HEAD", "/feed.xml", "podcasts.example.com:80", 301,
         "https://podcasts.example.com:{port}/feed.xml"),
        ("GET", "/a%20b", "127.0.0.1:{plain}", 301, "https://127.0.0.1:{port}/a%20b"),
        ("GET", "/x", "[::1]:80", 301, "https://[::1]:{port}/x"),
        ("POST", "/admin/form", "podcasts.example.com", 308,
         "https://podcasts.example.com:{port}/admin/form"),
        ("PUT", "/up", "podcasts.example.com", 308, "https://podcasts.example.com:{port}/up"),
        # An absolute-form target names the host itself (RFC 9112 section 3.2.2).
        ("GET", "http://podcasts.example.com/ep.mp3?a=1", "ignored.example", 301,
         "https://podcasts.example.com:{port}/ep.mp3?a=1"),
        ("GET", "http://user@evil.example/x", "podcasts.example.com", 400, None),
        ("GET", "/x", "evil.example/steal", 400, None),
        ("GET", "/x", "user@evil.example", 400, None),
        ("GET", "/x", "evil.example:80:80", 400, None),
        ("GET", "/x", None, 400, None),
    ],
)  # fmt: skip
def test_plain_http_is_redirected_to_https(
    node: Node, method: str, target: str, host: str | None, status: int, location: str | None
) -> None:
    port = address_of(node.https)[1]
    plain = address_of(node.plain)[1]
    if host is not None:
        host = host.format(plain=plain)
    got, headers, _ = plain_request(node, method, target, host)
    assert got == status
    expected = location.format(port=port) if location is not None else None
    assert headers.get("location") == expected


def test_curl_follows_the_redirect_to_https(node: Node, tmp_path: Path) -> None:
    out = tmp_path / "followed.mp3"
    done = curl(
        "-f", "-L", "--cacert", node.cacert, "-o", str(out),
        "-w", "%{http_code} %{num_redirects} %{url_effective}", f"{node.plain}/{HEADED}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"200 1 {node.url(HEADED)}"
    assert out.read_bytes() == BODIES[HEADED]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_acme_challenge_is_served_as_written(node: Node, method: str) -> None:
    status, headers, body = plain_request(
        node, method, f"/.well-known/acme-challenge/{CHALLENGE}", "podcasts.example.com"
    )
    assert status == 200
    assert "location" not in headers
    assert headers["content-length"] == str(len(CHALLENGE_BODY))
    assert body == (CHALLENGE_BODY if method == "GET" else b"")


@pytest.mark.parametrize(
    "target",
    [
        "/.well-known/acme-challenge/unknown-token",
        "/.well-known/acme-challenge/",
        "/.well-known/acme-challenge/../secret.txt",
        "/.well-known/acme-challenge/../../secret.txt",
        "/.well-known/acme-challenge/%2e%2e/secret.txt",
        "/.well-known/acme-challenge/..%2fsecret.txt",
        "/.well-known/acme-challenge/..%2f..%2fsecret.txt",
        "/.well-known/acme-challenge/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/.well-known/acme-challenge/%2E%2E%5C..%5Csecret.txt",
        f"/.well-known/acme-challenge/{CHALLENGE}/",
        f"/.well-known/acme-challenge/{CHALLENGE}%00",
    ],
)
def test_unknown_tokens_and_traversals_are_404(node: Node, target: str) -> None:
    status, headers, body = plain_request(node, "GET", target, "podcasts.example.com")
    assert status == 404, (target, headers)
    assert b"not for the world" not in body


def test_a_challenge_is_not_answered_to_a_post(node: Node) -> None:
    status, _, body = plain_request(
        node, "POST", f"/.well-known/acme-challenge/{CHALLENGE}", "podcasts.example.com"
    )
    assert status == 404
    assert CHALLENGE_BODY not in body


# -- health, metrics and kernel TLS ---------------------------------------------------


def test_healthz_over_https_shows_each_listeners_certificate(node: Node) -> None:
    # The admin listener itself is HTTPS: admin_json verifies it with the test CA.
    assert node.admin.startswith("https://")
    block = node.proc.admin_json("/healthz")["tls"]
    found = tls.detect()
    # tls.ktls is auto: the kernel's records where this machine can, else asyncio's TLS.
    assert block["path"] == ("ktls" if found.works else "userspace")
    assert block["kernel_tls"] is found.kernel
    assert block["reason"] == found.reason
    if not found.kernel:
        assert "the kernel has no tls module" in block["reason"]
    not_after = node.leaf.cert.not_valid_after_utc
    for name, minimum in [("origin", "tlsv1.2"), ("admin", "tlsv1.3")]:
        listener = block["listeners"][name]
        assert listener["serial"] == f"{node.leaf.serial:x}"
        assert listener["subject"] == "CN=localhost"
        assert listener["not_after"] == not_after.isoformat()
        assert listener["expires_in_days"] == pytest.approx(90, abs=0.2)
        assert listener["min_version"] == minimum
    assert block["listeners"]["origin"]["ktls"]["handoff"] is found.works
    assert block["listeners"]["admin"]["ktls"] == {
        "mode": "off",
        "handoff": False,
        "path": "userspace",
    }
    assert set(block["listeners"]) == {"origin", "admin"}


def scrape(node: Node) -> str:
    context = ssl.create_default_context(cafile=node.cacert)
    with urllib.request.urlopen(node.admin + "/metrics", timeout=5, context=context) as resp:
        text: str = resp.read().decode()
    return text


def test_metrics_show_the_expiry_and_the_send_path(node: Node) -> None:
    text = scrape(node)
    expiry = node.leaf.cert.not_valid_after_utc.timestamp()
    name = "castedge_tls_certificate_expiry_timestamp_seconds"
    kernel = 1.0 if tls.detect().works else 0.0
    for listener, ktls in (("origin", kernel), ("admin", 0.0)):
        assert metric(text, name, listener=listener) == expiry
        assert f'castedge_tls_ktls{{listener="{listener}"}} {ktls}' in text


def test_hits_go_out_by_kernel_tls_where_the_machine_has_it(node: Node) -> None:
    found = tls.detect()
    if not found.works:
        pytest.skip(f"kernel TLS is not available here: {found.reason}")
    block = node.proc.admin_json("/healthz")["tls"]
    assert (block["path"], block["kernel_tls"]) == ("ktls", True)
    assert metric(scrape(node), "castedge_tls_ktls", listener="origin") == 1.0
