"""Past http.max_connections a worker closes new connections at once; open ones carry on."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import payload
from tests.support.raw import read_answer

from .node import Node, start_origin

pytestmark = pytest.mark.e2e

LIMIT = 20
EPISODE = "podcast/crowded.mp3"
BODY = payload(1_000_000, "crowded")
PROBE = f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-9\r\n\r\n".encode()


@pytest.fixture(scope="module", params=["fast", "aiohttp"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    root = tmp_path_factory.mktemp(f"max-connections-{request.param}")
    http = {"max_connections": LIMIT, "fast_path": request.param == "fast"}
    node = start_origin(root, {EPISODE: BODY}, http=http)
    yield node
    node.stop()


def refused(sock: socket.socket, within: float = 2.0) -> bool:
    """Whether the server ended ``sock`` without a byte, within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def open_served(node: Node, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each answered once."""
    served = []
    for _ in range(count):
        sock = socket.create_connection(node.address())
        sock.sendall(PROBE)
        answer = read_answer(sock, linger=0)
        assert answer.status == 206
        assert not answer.closed
        served.append(sock)
    return served


def test_connections_past_the_limit_are_refused_and_the_others_served(node: Node) -> None:
    before = node.metric("castedge_connections_refused_total", listener="origin")
    served = open_served(node, LIMIT)
    extra = [socket.create_connection(node.address()) for _ in range(3 * LIMIT)]
    try:
        began = time.monotonic()
        assert all(refused(sock) for sock in extra)
        # At once: long before the header_timeout that would close an idle one.
        assert time.monotonic() - began < 2.0
        assert (
            node.metric("castedge_connections_refused_total", listener="origin")
            == before + 3 * LIMIT
        )
        # Those already open are answered as before, again and again.
        for _ in range(3):
            for sock in served:
                sock.sendall(PROBE)
                answer = read_answer(sock, linger=0)
                assert answer.status == 206
                assert answer.body == BODY[:10]
    finally:
        for sock in served + extra:
            sock.close()
    # Once they have gone, new connections are served again.
    deadline = time.monotonic() + 5
    while node.metric("castedge_open_connections", listener="origin") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    again = open_served(node, LIMIT)
    for sock in again:
        sock.close()
    # The refusals said so, once: a full listener must not flood the log either.
    warnings = [line for line in node.stderr().splitlines() if "refusing connections" in line]
    assert len(warnings) == 1
    assert node.alarms() == []


def test_the_limit_is_per_listener(node: Node) -> None:
    served = open_served(node, LIMIT)
    try:
        # The admin listener has its own count: a full media port never locks out /metrics.
        assert node.metric("castedge_open_connections", listener="origin") == LIMIT
    finally:
        for sock in served:
            sock.close()
