"""The kernel-TLS listener (``tls.ktls: on``) with real clients, on whatever this kernel offers.

The origin's handshakes are done on the socket, with OpenSSL asked for kernel TLS,
and each connection is given to the kernel if it takes it. Where the kernel has no
``tls`` module every connection stays in user space (the per-connection fallback),
and these tests are what such a machine serves; where it has, the same tests run
over the kernel's records, and the last test checks the kernel really did them.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tls
from tests.conftest import payload
from tests.faults.node import Node, start_origin
from tests.support.certs import Authority, Leaf
from tests.support.clients import aria2c
from tests.support.edge import metric
from tests.support.https import address_of, client_context, handshake, poll_until

pytestmark = pytest.mark.e2e

EPISODE = "podcast/ep-handoff.mp3"
SEGMENTED = "podcast/ep-handoff-aria.mp3"
BODIES = {EPISODE: payload(8_000_000, "handoff"), SEGMENTED: payload(8_000_000, "handoff-aria")}
HEADER_TIMEOUT = 1.0
#: Above aria2c's eight connections.
MAX_CONNECTIONS = 12
#: A timer on a busy two-core machine may fire this late.
SLACK = 2.0
PATIENCE = 15.0


class Handoff:
    """The node, its CA and leaf, and where the leaf's files are (for a renewal)."""

    def __init__(self, node: Node, ca: Authority, leaf: Leaf, tls_dir: Path) -> None:
        self.node = node
        self.ca = ca
        self.leaf = leaf
        self.tls_dir = tls_dir

    @property
    def cacert(self) -> str:
        assert self.ca.path is not None
        return str(self.ca.path)

    @property
    def https(self) -> str:
        return self.node.proc.urls["origin"]

    def url(self, key: str) -> str:
        return f"{self.https}/{key}"


@pytest.fixture(scope="module")
def handoff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Handoff]:
    root = tmp_path_factory.mktemp("https-handoff")
    ca = Authority.create(root / "ca")
    leaf = ca.issue()
    tls_dir = root / "tls"
    cert, key = leaf.write(tls_dir)
    settings = {"cert": str(cert), "key": str(key), "ktls": "on", "reload_interval": "0.2s"}
    node = start_origin(
        root,
        BODIES,
        http={"header_timeout": f"{HEADER_TIMEOUT}s", "max_connections": MAX_CONNECTIONS},
        tls=settings,
        ca=ca.path,
    )
    yield Handoff(node, ca, leaf, tls_dir)
    node.stop()


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "30", *args], capture_output=True, text=True, timeout=60
    )


def ktls_block(h: Handoff) -> dict[str, object]:
    block: dict[str, object] = h.node.proc.admin_json("/healthz")["tls"]["listeners"]["origin"][
        "ktls"
    ]
    return block


def test_the_listener_says_which_path_it_takes(handoff: Handoff) -> None:
    found = tls.detect()
    said = handoff.node.stderr()
    if found.works:
        assert "origin.tls: hits are sent by kernel TLS (sendfile)" in said, said
    else:
        assert "origin.tls: handshakes on the socket for kernel TLS (tls.ktls on)" in said, said
        assert found.reason in said


def test_head_and_a_two_byte_range(handoff: Handoff, tmp_path: Path) -> None:
    head = curl("--cacert", handoff.cacert, "-I", handoff.url(EPISODE))
    assert head.returncode == 0, head.stderr
    lines = [line.strip() for line in head.stdout.splitlines()]
    assert lines[0] == "HTTP/1.1 200 OK"
    assert f"Content-Length: {len(BODIES[EPISODE])}" in lines
    out = tmp_path / "two"
    ranged = curl(
        "--cacert", handoff.cacert, "-r", "0-1", "-o", str(out), "-w", "%{http_code}",
        handoff.url(EPISODE),
    )  # fmt: skip
    assert (ranged.returncode, ranged.stdout) == (0, "206"), ranged.stderr
    assert out.read_bytes() == BODIES[EPISODE][:2]
    # The access log says it, as on every listener.
    lines_logged = poll_until(
        lambda: handoff.node.access_lines(f'GET /{EPISODE} HTTP/1.1" 206 2 '),
        bool,
        timeout=PATIENCE,
        what="the access line",
    )
    assert lines_logged


def test_two_whole_downloads_on_one_kept_alive_connection(handoff: Handoff, tmp_path: Path) -> None:
    digest = hashlib.sha256(BODIES[EPISODE]).hexdigest()
    first, second = tmp_path / "a.mp3", tmp_path / "b.mp3"
    # Two downloads on one kept-alive connection: the second request is read after
    # the first response, through the same TLS session.
    done = curl(
        "-f", "--cacert", handoff.cacert, "-o", str(first), handoff.url(EPISODE),
        "-o", str(second), handoff.url(EPISODE), "-w", "%{num_connects} ",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]
    for path in (first, second):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_aria2c_in_eight_segments(handoff: Handoff, tmp_path: Path) -> None:
    dest = tmp_path / "aria.mp3"
    done = aria2c(handoff.url(SEGMENTED), dest, cacert=handoff.cacert)
    assert done.returncode == 0, done.stdout + done.stderr
    assert dest.read_bytes() == BODIES[SEGMENTED]


def test_a_client_leaving_mid_body_is_no_error(handoff: Handoff) -> None:
    logged = len(handoff.node.stderr())
    host, port = address_of(handoff.https)
    context = client_context(Path(handoff.cacert))
    for _ in range(3):
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as conn,
        ):
            conn.sendall(f"GET /{EPISODE} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            got = 0
            while got < 300_000:
                got += len(conn.recv(65536))
        # Closed with most of the body unread: the server's writes meet a reset.
    # The listener serves on, and said nothing alarming.
    assert handshake(handoff.https, context).serial == handoff.leaf.serial
    probe = curl("--cacert", handoff.cacert, "-r", "0-1", "-o", "/dev/null", "-w", "%{http_code}",
                 handoff.url(EPISODE))  # fmt: skip
    assert probe.stdout == "206", probe.stderr
    said = handoff.node.stderr()[logged:]
    assert "Traceback" not in said and " ERROR " not in said, said


def test_plain_http_on_the_port_is_closed_without_a_word(handoff: Handoff) -> None:
    logged = len(handoff.node.stderr())
    host, port = address_of(handoff.https)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"GET /{EPISODE} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received == b""
    assert handshake(handoff.https, client_context(Path(handoff.cacert))).version
    said = handoff.node.stderr()[logged:]
    assert "Traceback" not in said and " ERROR " not in said, said


OLD = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@pytest.mark.parametrize("version", sorted(OLD))
def test_tls_1_0_and_1_1_are_refused(handoff: Handoff, version: str) -> None:
    old = client_context(
        Path(handoff.cacert),
        minimum=ssl.TLSVersion.TLSv1,
        maximum=OLD[version],
        ciphers="DEFAULT:@SECLEVEL=0",
    )
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(handoff.https, old)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_tls_1_2_and_1_3_are_served(handoff: Handoff, version: str, tmp_path: Path) -> None:
    flag = "--tlsv1.2" if version == "TLSv1.2" else "--tlsv1.3"
    out = tmp_path / "body"
    done = curl("-f", "--cacert", handoff.cacert, flag, "--tls-max", version[4:], "-o", str(out),
                handoff.url(EPISODE))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BODIES[EPISODE]


def test_a_handshake_not_finished_by_header_timeout_is_closed(handoff: Handoff) -> None:
    host, port = address_of(handoff.https)
    with socket.create_connection((host, port), timeout=HEADER_TIMEOUT + SLACK + 5) as sock:
        began = time.monotonic()
        # Nothing at all: no ClientHello.
        assert sock.recv(1) == b""
        took = time.monotonic() - began
    assert HEADER_TIMEOUT - 0.05 <= took <= HEADER_TIMEOUT + SLACK, took


def test_a_head_unfinished_after_the_handshake_gets_a_408(handoff: Handoff) -> None:
    host, port = address_of(handoff.https)
    context = client_context(Path(handoff.cacert))
    with (
        socket.create_connection((host, port), timeout=HEADER_TIMEOUT * 2 + SLACK + 5) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        conn.sendall(f"GET /{EPISODE} HTTP/1.1\r\nHost: {host}\r\n".encode())
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except (ssl.SSLError, ConnectionResetError):
            pass
    assert answer.split(b"\r\n", 1)[0].endswith(b" 408 Request Timeout"), answer[:100]


def test_connections_past_max_connections_are_refused_before_their_handshake(
    handoff: Handoff,
) -> None:
    host, port = address_of(handoff.https)
    context = client_context(Path(handoff.cacert))
    refused = "castedge_connections_refused_total"
    before = handoff.node.metric(refused, listener="origin")
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            raw = socket.create_connection((host, port), timeout=5)
            held.append(context.wrap_socket(raw, server_hostname=host))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            handshake(handoff.https, context)
        assert handoff.node.metric(refused, listener="origin") == before + 1
    finally:
        for sock in held:
            sock.close()
    # Room again once they are gone (the worker sees the closes in its own time).
    poll_until(
        lambda: handoff.node.metric("castedge_open_connections", listener="origin"),
        lambda open_now: open_now == 0,
        timeout=PATIENCE,
        what="the connections closed",
    )
    assert handshake(handoff.https, context).version


def test_a_renewal_reaches_the_next_handshake(handoff: Handoff, tmp_path: Path) -> None:
    context = client_context(Path(handoff.cacert))
    assert handshake(handoff.https, context).serial == handoff.leaf.serial
    renewed = handoff.ca.issue()
    renewed.write(handoff.tls_dir)
    poll_until(
        lambda: handshake(handoff.https, context).serial,
        lambda serial: serial == renewed.serial,
        timeout=PATIENCE,
        what="the renewed certificate",
    )
    out = tmp_path / "after.mp3"
    done = curl("-f", "--cacert", handoff.cacert, "-o", str(out), handoff.url(EPISODE))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BODIES[EPISODE]
    handoff.leaf = renewed


def test_healthz_and_metrics_count_what_each_connection_got(handoff: Handoff) -> None:
    found = tls.detect()
    before = handoff.node.metrics()
    done = curl("-f", "--cacert", handoff.cacert, "-r", "0-1", "-o", "/dev/null",
                handoff.url(EPISODE))  # fmt: skip
    assert done.returncode == 0, done.stderr
    block = ktls_block(handoff)
    assert block["mode"] == "on" and block["handoff"] is True
    connections = block["connections"]
    assert isinstance(connections, dict)

    def counted(text: str, path: str) -> float:
        return metric(text, "castedge_tls_ktls_connections_total", listener="origin", path=path)

    after = handoff.node.metrics()
    if found.works:
        assert block["path"] == "ktls"
        taken = sum(counted(after, p) - counted(before, p) for p in ("kernel", "kernel_tx"))
        assert taken >= 1
        assert 'castedge_tls_ktls{listener="origin"} 1.0' in after
    else:
        assert block["path"] == "userspace"
        assert connections["userspace"] >= 1
        assert connections["kernel"] == connections["kernel_tx"] == 0
        assert counted(after, "userspace") == counted(before, "userspace") + 1
        assert 'castedge_tls_ktls{listener="origin"} 0.0' in after
        assert handoff.node.proc.admin_json("/healthz")["tls"]["path"] == "userspace"


def tls_stat() -> dict[str, int]:
    """The kernel's kTLS counters (/proc/net/tls_stat, present with the tls module)."""
    text = Path("/proc/net/tls_stat").read_text()
    return {name: int(value) for name, value in (line.split() for line in text.splitlines())}


def test_hits_go_out_through_the_kernels_tls_where_it_has_it(
    handoff: Handoff, tmp_path: Path
) -> None:
    found = tls.detect()
    if not found.works:
        pytest.skip(f"kernel TLS does not work here: {found.reason}")
    before = tls_stat()
    out = tmp_path / "kernel.mp3"
    done = curl("-f", "--cacert", handoff.cacert, "-o", str(out), handoff.url(EPISODE))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BODIES[EPISODE]
    after = tls_stat()
    # A connection whose sending the kernel's software TLS did (TCP_ULP "tls", TLS_TX).
    assert after["TlsTxSw"] + after.get("TlsTxDevice", 0) > before["TlsTxSw"] + before.get(
        "TlsTxDevice", 0
    )
    assert ktls_block(handoff)["path"] == "ktls"
