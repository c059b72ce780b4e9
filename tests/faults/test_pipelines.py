"""Pipelined requests on a real ``castedge origin``: every answer, in order, and bounded.

A client may send many requests before it reads an answer (HTTP/1.1 pipelining). The
node must answer each in order however it reads them, including when the client shuts
its sending side right after the last; and a client that sends requests but never reads
the answers must not make the worker hold them all in memory: it is held to what the
socket and a little buffer take, then cut at ``send_timeout`` as a stalled reader is.
Both the fast path ("fast") and aiohttp ("aiohttp") serve the same node's hits.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import payload
from tests.support.raw import TCP_ESTABLISHED, tcp_state

from .node import Node, start_origin

pytestmark = pytest.mark.e2e

SEND_TIMEOUT = 1.0
EPISODE = "podcast/pipelined.mp3"
BODY = payload(20_000_000, "pipelined")
PROBE = 64 * 1024  # the largest answer sent with its headers in one write
#: A timer on a busy two-core machine may fire late.
SLACK = 1.0


@pytest.fixture(scope="module", params=["fast", "aiohttp"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    root = tmp_path_factory.mktemp(f"pipelines-{request.param}")
    http = {"send_timeout": f"{SEND_TIMEOUT}s", "fast_path": request.param == "fast"}
    node = start_origin(root, {EPISODE: BODY}, http=http)
    yield node
    node.stop()


def head(*lines: str, method: str = "GET") -> bytes:
    return "\r\n".join(
        [f"{method} /{EPISODE} HTTP/1.1", "Host: 127.0.0.1", *lines, "", ""]
    ).encode()


def ranged(i: int) -> bytes:
    return head(f"Range: bytes={i * PROBE}-{(i + 1) * PROBE - 1}")


def read_answer(sock: socket.socket, pending: bytearray) -> tuple[bytes, bytes]:
    """One answer's status line and body from ``sock`` (``pending``: bytes read ahead)."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "closed before an answer"
        pending += chunk
    end = pending.index(b"\r\n\r\n") + 4
    lines = bytes(pending[:end]).decode("latin-1").split("\r\n")
    del pending[:end]
    length = next(
        (
            int(v)
            for n, _, v in (line.partition(": ") for line in lines)
            if n.lower() == "content-length"
        ),
        0,
    )
    return lines[0].encode(), _body(sock, pending, length)


def _body(sock: socket.socket, pending: bytearray, length: int) -> bytes:
    while len(pending) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside a body"
        pending += chunk
    body = bytes(pending[:length])
    del pending[:length]
    return body


def pipeline_of(total: int) -> list[bytes]:
    """HEAD requests, the last padded, that add up to exactly ``total`` bytes."""
    one = head(method="HEAD")
    count = total // len(one) - 1
    pad = total - count * len(one) - len(head("X-Pad: ", method="HEAD"))
    return [one] * count + [head("X-Pad: " + "p" * pad, method="HEAD")]


@pytest.mark.parametrize("total", [2_000, 256_000])
def test_a_client_that_half_closes_after_its_requests_gets_every_answer(
    node: Node, total: int
) -> None:
    # 256,000 bytes are what uvloop reads at a time: a read that fills its buffer is
    # followed at once by another, which finds the end of the stream in the same turn
    # as the requests whose answers are still waiting to be written.
    requests = pipeline_of(total)
    with socket.create_connection(node.address()) as sock:
        sock.settimeout(10)
        sock.sendall(b"".join(requests))
        sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := sock.recv(1 << 20):
            got += chunk
    assert got.count(b"HTTP/1.1 200 OK\r\n") == len(requests)


@pytest.mark.parametrize("bursts", [1, 3])
def test_a_half_close_right_after_the_last_request_loses_no_answer(node: Node, bursts: int) -> None:
    # The end of the stream comes in the read after the last request, while that
    # request is being answered (or about to be) and nothing else is queued.
    with socket.create_connection(node.address()) as sock:
        sock.settimeout(10)
        for i in range(bursts):
            if i:
                time.sleep(0.05)  # each burst read by itself, the last the closest to EOF
            sock.sendall(head())
        sock.shutdown(socket.SHUT_WR)
        pending = bytearray()
        for _ in range(bursts):
            status, body = read_answer(sock, pending)
            assert (status, body) == (b"HTTP/1.1 200 OK", BODY)
        assert sock.recv(1) == b"", "then closed"


def test_a_half_close_behind_a_body_and_a_miss_gets_both_answers_then_the_close(
    node: Node,
) -> None:
    # On the fast path the miss is handed to aiohttp after the end of the stream came
    # in, while the body was still going out; aiohttp must be told, or it would hold
    # the connection for its keep-alive timeout (75 s) after the answer.
    with socket.create_connection(node.address()) as sock:
        sock.settimeout(10)
        sock.sendall(head() + head().replace(EPISODE.encode(), b"podcast/missing.mp3"))
        sock.shutdown(socket.SHUT_WR)
        pending = bytearray()
        assert read_answer(sock, pending) == (b"HTTP/1.1 200 OK", BODY)
        status, _ = read_answer(sock, pending)
        assert status == b"HTTP/1.1 404 Not Found"
        assert sock.recv(1) == b"", "then closed"


def test_a_pipeline_read_slowly_gets_every_answer_in_order(node: Node) -> None:
    count = len(BODY) // PROBE  # 305 answers of 64 KiB, 20 MB in all
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(node.address())
        sock.settimeout(10)
        sock.sendall(b"".join(ranged(i) for i in range(count)))
        pending = bytearray()
        for i in range(count):
            status, body = read_answer(sock, pending)
            assert status == b"HTTP/1.1 206 Partial Content"
            assert body == BODY[i * PROBE : (i + 1) * PROBE], f"answer {i}"
            if i % 50 == 0:
                time.sleep(0.05)  # the server's socket fills, and it waits for room


def test_a_client_that_pipelines_and_never_reads_costs_little_and_is_cut(node: Node) -> None:
    # 3,000 requests for 64 KiB each: 196 MB of answers for 250 KB of requests.
    cut_before = node.metric(
        "castedge_connection_timeouts_total", listener="origin", timeout="send_timeout"
    )
    idle = node.rss()
    peak = idle
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(node.address())
        sock.settimeout(5)
        with contextlib.suppress(TimeoutError):  # the server stopped reading: fine
            sock.sendall(b"".join(ranged(i % 300) for i in range(3000)))
        began = time.monotonic()
        while tcp_state(sock) == TCP_ESTABLISHED:
            peak = max(peak, node.rss())
            assert time.monotonic() - began < SEND_TIMEOUT * 2 + SLACK + 5, "never cut"
            time.sleep(0.02)
        held = time.monotonic() - began
    assert (peak - idle) < 24 * 2**20, f"the worker grew by {(peak - idle) / 2**20:.0f} MiB"
    assert held <= SEND_TIMEOUT * 2 + SLACK
    after = node.metric(
        "castedge_connection_timeouts_total", listener="origin", timeout="send_timeout"
    )
    assert after == cut_before + 1
    assert node.alarms() == []
