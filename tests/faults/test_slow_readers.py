"""Clients that stop reading a response are cut at send_timeout; moving ones are not.

Before, the zero-copy path waited for the socket to become writable with no deadline,
so a client reading at 0 B/s held its connection and the open cache file for ever.
Every test runs over plain HTTP (``os.sendfile``), on the fast path for hits ("plain")
and through aiohttp ("aiohttp"), over TLS (copied through OpenSSL, which waits in
aiohttp's drain), and over a kernel-TLS listener ("handoff", ``tls.ktls: on``: its
handshakes on the socket, each connection the kernel's or, where it takes none,
OpenSSL's on the socket), on a real ``castedge origin``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import payload
from tests.support.certs import Authority
from tests.support.raw import TCP_CLOSE, TCP_ESTABLISHED, tcp_state

from .node import Node, descriptors, open_files, start_origin

pytestmark = pytest.mark.e2e

SEND_TIMEOUT = 1.0
RESPONSE_TIMEOUT = 4.0
EPISODE = "podcast/slow-reader.mp3"
BODY = payload(20_000_000, "slow-reader")
#: A stall is noticed within 1.25 send_timeout over TLS (the drain is looked at four
#: times a send_timeout), and a timer on a busy two-core machine may fire late.
SLACK = 1.0
REQUEST = f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@dataclass
class Served:
    """A node and how a client reaches it (``context`` None: plain HTTP)."""

    node: Node
    context: ssl.SSLContext | None

    def connect(self) -> socket.socket:
        """A client socket with a small receive buffer, so the server's fills fast."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(self.node.address())
        if self.context is not None:
            return self.context.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def worker(self) -> int:
        (pid,) = self.node.proc.workers()
        return pid


def serve(root: Path, scheme: str, http: dict[str, Any]) -> Served:
    if scheme in ("plain", "aiohttp"):
        http = {**http, "fast_path": scheme == "plain"}
        return Served(start_origin(root, {EPISODE: BODY}, http=http), None)
    ca = Authority.create(root / "ca")
    cert, key = ca.issue().write(root / "tls")
    assert ca.path is not None
    tls = {"cert": str(cert), "key": str(key), "ktls": "on" if scheme == "handoff" else "off"}
    node = start_origin(root, {EPISODE: BODY}, http=http, tls=tls, ca=ca.path)
    return Served(node, ssl.create_default_context(cafile=str(ca.path)))


@pytest.fixture(scope="module", params=["plain", "aiohttp", "tls", "handoff"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"slow-readers-{request.param}")
    http = {"send_timeout": f"{SEND_TIMEOUT}s", "response_timeout": f"{RESPONSE_TIMEOUT}s"}
    served = serve(root, request.param, http)
    yield served
    served.node.stop()


def timeouts(node: Node, which: str) -> float:
    return node.metric("castedge_connection_timeouts_total", listener="origin", timeout=which)


def wait_cut(sock: socket.socket, began: float, within: float) -> float:
    """Seconds from ``began`` until the server ends ``sock``, polled without reading it."""
    while tcp_state(sock) == TCP_ESTABLISHED:
        if time.monotonic() - began > within:
            raise AssertionError(f"still open after {within} s")
        time.sleep(0.01)
    return time.monotonic() - began


def settle(check: object, timeout: float = 5.0) -> None:
    """Poll ``check()`` until true; what it waits for has no event to await."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("never settled")
        time.sleep(0.02)


def test_a_reader_that_stops_is_cut_at_send_timeout(served: Served) -> None:
    node = served.node
    cut_before = timeouts(node, "send_timeout")
    descriptors = open_files(served.worker())
    with served.connect() as sock:
        sock.sendall(REQUEST)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        stopped = time.monotonic()
        held = wait_cut(sock, stopped, within=SEND_TIMEOUT * 1.25 + SLACK + 5)
        # A reset: nothing the client did not read is kept for it.
        assert tcp_state(sock) == TCP_CLOSE
    assert SEND_TIMEOUT * 0.9 <= held <= SEND_TIMEOUT * 1.25 + SLACK
    assert timeouts(node, "send_timeout") == cut_before + 1
    # Its socket and the cache file are given back.
    settle(lambda: open_files(served.worker()) <= descriptors)
    # The access line says what the client got: a 200 cut short.
    settle(lambda: node.access_lines(f'GET /{EPISODE} HTTP/1.1" 200 \\d+ "-" "-"'))
    last = node.access_lines(f'GET /{EPISODE} HTTP/1.1" 200 ')[-1]
    sent = re.search(r'" 200 (\d+) ', last)
    assert sent is not None and 0 < int(sent[1]) < len(BODY)
    assert node.alarms() == []


def test_a_slow_reader_that_keeps_reading_is_not_cut(served: Served) -> None:
    node = served.node
    cut_before = timeouts(node, "send_timeout")
    with served.connect() as sock:
        sock.sendall(REQUEST)
        began = time.monotonic()
        got = 0
        # About 160 KB/s, for three send_timeouts: slow, but never stalled.
        while time.monotonic() - began < SEND_TIMEOUT * 3:
            got += len(sock.recv(8192))
            assert tcp_state(sock) == TCP_ESTABLISHED
            time.sleep(0.05)
    assert 0 < got < len(BODY)
    assert timeouts(node, "send_timeout") == cut_before


def test_response_timeout_cuts_even_a_reader_that_keeps_reading(served: Served) -> None:
    node = served.node
    capped_before = timeouts(node, "response_timeout")
    with served.connect() as sock:
        sock.sendall(REQUEST)
        began = time.monotonic()
        while tcp_state(sock) == TCP_ESTABLISHED:
            assert time.monotonic() - began < RESPONSE_TIMEOUT + SLACK + 5
            try:
                sock.recv(8192)
            except (ConnectionResetError, ssl.SSLError):
                break
            time.sleep(0.05)
        held = time.monotonic() - began
    assert RESPONSE_TIMEOUT - 0.1 <= held <= RESPONSE_TIMEOUT + SLACK
    assert timeouts(node, "response_timeout") == capped_before + 1
    assert node.alarms() == []


#: Stalled readers held at once by the memory test, and what each may cost the
#: worker at most: measured 15 KiB over plain HTTP (the socket and its dup; the bytes
#: stay in the kernel), 300 KiB over TLS (what OpenSSL and the transport hold, so a
#: thousand would be 300 MB of a shared test machine: 200 show the cost as well).
#: The kernel's share is bounded too: on loopback (64 KiB segments) each stalled
#: socket's send buffer grows to its 4 MB limit (``tcp_wmem``), so a thousand took all
#: of a 24 GiB machine's ``tcp_mem`` (2.2 GiB), and the kernel then reset other tests'
#: connections ("TCP: out of memory"). 200 hold under 800 MB, as many as over TLS.
STALLED = {"plain": 200, "tls": 200, "handoff": 200}
COST = {"plain": 64 * 1024, "tls": 512 * 1024, "handoff": 512 * 1024}


@pytest.mark.parametrize("scheme", ["plain", "tls", "handoff"])
def test_stalled_readers_cost_the_worker_little(scheme: str, tmp_path: Path) -> None:
    stalled = STALLED[scheme]
    # The client's socket, and the worker's two: its socket and the dup sendfile waits on.
    with contextlib.ExitStack() as stack:
        stack.enter_context(descriptors(3 * stalled + 1024))
        # Patient enough to hold them all while the worker is measured.
        served = serve(tmp_path, scheme, {"send_timeout": "60s"})
        node = served.node
        stack.callback(node.stop)
        worker = served.worker()
        idle = node.rss()
        before = open_files(worker)
        with contextlib.ExitStack() as readers:
            for _ in range(stalled):
                sock = readers.enter_context(served.connect())
                sock.sendall(REQUEST)
                assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
            settle(lambda: node.metric("castedge_open_connections", listener="origin") == stalled)
            held = node.rss()
            held_descriptors = open_files(worker)
        each = (held - idle) / stalled
        assert each < COST[scheme], f"{each / 1024:.0f} KiB"
        # Plain HTTP: the socket and the dup sendfile waits on; the cache file is shared.
        assert held_descriptors - before <= 2 * stalled
        settle(lambda: node.metric("castedge_open_connections", listener="origin") == 0)
