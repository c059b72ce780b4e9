"""Malformed requests get one short answer, one access line and a count; nothing else.

Before, aiohttp answered what its parser refused with a 400 that quoted the request and
logged an ERROR with a traceback for each, so a client could flood the log at will,
and a request line over its 64 KiB limit got that 400 instead of the 414 shorter ones
get. Every role's listener (and the admin one) answers the same way now; the node is
a real ``castedge serve`` running an origin and an edge, and the requests are written
byte for byte on a bare socket, since client libraries would normalise or refuse them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import payload
from tests.support.process import CastedgeProcess
from tests.support.raw import exchange

from .node import Node

pytestmark = pytest.mark.e2e

#: Written into every request: the answer must never contain it.
MARK = b"EchoedBack"
EPISODE = "podcast/malformed.mp3"


@pytest.fixture(scope="module", params=["fast", "aiohttp"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    root = tmp_path_factory.mktemp(f"malformed-{request.param}")
    media = root / "media"
    (media / "podcast").mkdir(parents=True)
    (media / EPISODE).write_bytes(payload(100_000, "malformed"))
    config = {
        "storage": {"dir": str(media)},
        "cache": {"dir": str(root / "cache"), "max_size": "1GB"},
        "signing": {"keys": {"k1": "k" * 32}, "active": "k1"},
        "origin": {"listen": "127.0.0.1:0", "access_log": "-", "prefixes": ["podcast/"]},
        "edge": {
            "listen": "127.0.0.1:0",
            "access_log": "-",
            "region": "eu-central",
            "prefixes": ["courses/"],
        },
        "admin": {"listen": "127.0.0.1:0"},
        "http": {"fast_path": request.param == "fast"},
    }
    proc = CastedgeProcess("serve", config, Path(root), expect=3).start()
    yield Node(proc)
    assert proc.stop() == 0, proc.stderr()


def line(length: int) -> bytes:
    """A request whose target is ``length`` bytes long."""
    target = b"/podcast/" + MARK + b"a" * (length - len(MARK) - 9)
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def headers(count: int, size: int) -> bytes:
    """A request with ``count`` header lines of about ``size`` bytes each."""
    lines = b"".join(
        b"X-Filler-%d: " % i + MARK + b"v" * (size - len(MARK) - 16) + b"\r\n" for i in range(count)
    )
    return f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + lines + b"\r\n"


# (name, request, status, whether the request could be read, so the connection stays)
CASES = [
    ("target of 10 KB", line(10_000), 414, True),
    ("target of 100 KB", line(100_000), 414, False),
    ("target of 1 MB", line(1_000_000), 414, False),
    ("40 KB of headers", headers(40, 1024), 431, True),
    ("one header line of 60 KB", headers(1, 60_000), 431, False),
    ("200 header lines", headers(200, 40), 431, False),
    ("garbage", b"\x00\x07" + MARK + b" \xff\xfe\r\n\r\n", 400, False),
    (
        "a TLS hello on a plain port",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK,
        400,
        False,
    ),
    ("a header without a colon", b"GET / HTTP/1.1\r\nHost: x\r\n" + MARK + b"\r\n\r\n", 400, False),
    ("a space in the target", b"GET /a " + MARK + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
]
REASON = {400: "bad_request", 414: "request_line_too_long", 431: "headers_too_large"}


def access_lines(node: Node) -> int:
    return len(node.access_lines(r"[^\n]*\" \d{3} "))


def wait_for_lines(node: Node, count: int, timeout: float = 5.0) -> int:
    # The line is written as the answer leaves; the file is read by another process.
    deadline = time.monotonic() + timeout
    while (found := access_lines(node)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


@pytest.mark.parametrize("listener", ["origin", "edge", "admin"])
@pytest.mark.parametrize(
    ("request_bytes", "status", "parsed"),
    [pytest.param(request, status, parsed, id=name) for name, request, status, parsed in CASES],
)
def test_a_malformed_request_gets_its_status_and_nothing_more(
    node: Node, listener: str, request_bytes: bytes, status: int, parsed: bool
) -> None:
    reason = REASON[status]
    counted = node.metric("castedge_bad_requests_total", listener=listener, reason=reason)
    logged = access_lines(node)

    answer = exchange(node.address(listener), request_bytes)

    assert answer.status == status
    assert MARK not in answer.raw
    assert len(answer.body) < 64
    # One that could not be read ends its connection; the rest of it is no request.
    assert answer.closed is not parsed
    after = node.metric("castedge_bad_requests_total", listener=listener, reason=reason)
    assert after == counted + 1
    # The admin listener keeps no access log; the media ones write exactly one line.
    if listener != "admin":
        assert wait_for_lines(node, logged + 1) == logged + 1
        (last,) = node.access_lines(r"[^\n]*\" \d{3} ")[-1:]
        assert f" {status} " in last
        assert MARK.decode() not in last
        if not parsed or status == 414:
            assert '"-"' in last
    assert node.alarms() == []


def test_a_good_request_after_the_malformed_ones_is_served(node: Node) -> None:
    answer = exchange(
        node.address("origin"),
        f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-9\r\n\r\n".encode(),
    )
    assert answer.status == 206
    assert answer.body == payload(100_000, "malformed")[:10]
