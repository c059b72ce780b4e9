"""The fast path for hits answers byte for byte as aiohttp does, and hands the rest over.

Two origins (and two edges) with the same settings, both on the listener's runner, one
with the fast path off (``http.fast_path: false``: every request through aiohttp's web
layer) and one with it on, get the same raw requests on bare
connections; every answer must be the same but for its Date. Then what only the fast
path does: it keeps a connection while its requests are hits, hands it to aiohttp with
everything not yet answered (pipelined requests included) at the first that is not,
and the connection goes on there.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from delivery.accesslog import CombinedLogFormat, access_logger
from delivery.limits import PARSER_LIMITS
from origin.app import create_app
from tests.conftest import Bucket, payload
from tests.support.edge import PAGE_ORIGIN, RunningEdge, edge_settings, start_edge
from tests.support.origin import RunningOrigin, origin_settings, start_origin

SMALL = "podcast/small.mp3"  # sent with its headers in one write
LARGE = "podcast/large.mp3"  # sent with sendfile
LESSON = "courses/py/ch01/seg-001.ts"
SIZES = {SMALL: 3_000, LARGE: 3_000_000, LESSON: 1_000_000}

Response = tuple[bytes, list[tuple[str, str]], bytes]


async def read_response(reader: asyncio.StreamReader, method: str) -> Response:
    """One response: status line, headers (Date left out) in order, and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = [tuple(line.split(": ", 1)) for line in lines]
    fields = {name.lower(): value for name, value in headers}
    length = int(fields.get("content-length", "0"))
    has_body = method != "HEAD" and not status.split()[1].startswith(("304", "1"))
    body = await asyncio.wait_for(reader.readexactly(length), 10) if has_body else b""
    kept = [(n, v) for n, v in headers if n.lower() != "date"]
    return status.encode(), kept, body  # type: ignore[return-value]


async def ask(url: str, raw: bytes, method: str = "GET") -> tuple[Response, bool]:
    """Send ``raw`` on a new connection; the answer, and whether the server then closed."""
    host, port = url.split("://")[1].split("/")[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        answer = await read_response(reader, method)
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.2) == b""
        except TimeoutError:
            closed = False
        return answer, closed
    finally:
        writer.close()


async def connect(running: RunningOrigin) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A bare connection to the origin's media listener."""
    host, port = running.url(SMALL).split("://")[1].split("/")[0].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


def request(target: str, *lines: str, method: str = "GET", version: str = "1.1") -> bytes:
    head = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1", *lines]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def both_paths(fast_server: Any) -> list[tuple[str, Any]]:
    """The server factories to compare: the fast path off, then on."""
    return [("aiohttp", functools.partial(fast_server, fast_path=False)), ("fast", fast_server)]


@pytest.fixture
async def origins(
    fast_server: Any, bucket: Bucket, tmp_path: Path
) -> tuple[RunningOrigin, RunningOrigin]:
    for key, size in SIZES.items():
        bucket.put(key, payload(size, key))
    both = []
    for name, serve in both_paths(fast_server):
        settings = origin_settings(
            bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path / name
        )
        running = await start_origin(serve, settings)
        for key in (SMALL, LARGE):
            await ask(running.url(key), request("/" + key))
        await running.wait_cached(2)
        both.append(running)
    return both[0], both[1]


def cases(etag: str) -> list[tuple[str, list[str], str]]:
    """(method, header lines, HTTP version) of each request compared."""
    return [
        ("GET", [], "1.1"),
        ("GET", ["Range: bytes=0-1"], "1.1"),
        ("GET", ["Range: bytes=-10"], "1.1"),
        ("GET", ["Range: bytes=100-"], "1.1"),
        ("GET", ["Range: bytes=0-1,5-6"], "1.1"),
        ("GET", ["Range: bytes=999999999-"], "1.1"),
        ("GET", ["Range: bytes=x-y"], "1.1"),
        ("HEAD", [], "1.1"),
        ("HEAD", ["Range: bytes=0-1"], "1.1"),
        ("GET", [f"If-None-Match: {etag}"], "1.1"),
        ("GET", ['If-None-Match: "other"'], "1.1"),
        ("GET", ['If-Match: "other"'], "1.1"),
        ("GET", [f"If-Range: {etag}", "Range: bytes=2-3"], "1.1"),
        ("GET", ['If-Range: "other"', "Range: bytes=2-3"], "1.1"),
        ("GET", ["If-Modified-Since: Tue, 01 Jan 2999 00:00:00 GMT"], "1.1"),
        ("GET", ["If-Unmodified-Since: Tue, 01 Jan 1980 00:00:00 GMT"], "1.1"),
        ("GET", ["Connection: close", "Range: bytes=0-1"], "1.1"),
        ("GET", ["Range: bytes=0-1"], "1.0"),
        ("GET", ["Connection: keep-alive", "Range: bytes=0-1"], "1.0"),
        ("GET", ["User-Agent: Podcasts/1.0", 'Referer: "quoted"'], "1.1"),
    ]


@pytest.mark.parametrize("key", [SMALL, LARGE])
async def test_hits_are_answered_the_same_on_both_paths(origins, key: str) -> None:
    slow, fast = origins
    (_, first, _), _ = await ask(slow.url(key), request("/" + key, method="HEAD"), "HEAD")
    etag = dict(first)["ETag"]
    for method, lines, version in cases(etag):
        raw = request("/" + key, *lines, method=method, version=version)
        expected = await ask(slow.url(key), raw, method)
        got = await ask(fast.url(key), raw, method)
        assert got == expected, (method, lines, version)


async def test_an_edge_answers_signed_hits_the_same_on_both_paths(
    fast_server: Any, bucket: Bucket, tmp_path: Path
) -> None:
    bucket.put(LESSON, payload(SIZES[LESSON], LESSON))
    edges: list[RunningEdge] = []
    for name, serve in both_paths(fast_server):
        settings = edge_settings(
            bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path / name
        )
        edges.append(await start_edge(serve, settings))
    answers = []
    for edge in edges:
        url = edge.url(LESSON)
        target = "/" + url.split("/", 3)[3]
        await ask(url, request(target))  # the miss, through aiohttp on both
        seen = []
        for lines in ([], [f"Origin: {PAGE_ORIGIN}", "Range: bytes=0-99"], ["Origin: x"]):
            seen.append(await ask(url, request(target, *lines)))
        seen.append(await ask(url, request("/" + LESSON)))  # no token: aiohttp's 403
        answers.append(seen)
    assert answers[0] == answers[1]
    assert [a[0][0] for a in answers[1]] == [b"HTTP/1.1 200 OK"] + [
        b"HTTP/1.1 206 Partial Content",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 403 Forbidden",
    ]


def fast_connections(running: RunningOrigin) -> tuple[int, int]:
    """Connections open on the fast path, and aiohttp's, on the origin's media server."""
    server = running.media.runner.server  # type: ignore[union-attr]
    return len(server.fast.connections), len(server.connections) - len(server.fast.connections)


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while not check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


async def test_a_connection_stays_on_the_fast_path_until_a_request_is_not_a_hit(
    origins, bucket: Bucket
) -> None:
    _, fast = origins
    bucket.put("podcast/later.mp3", b"later\n")
    reader, writer = await connect(fast)
    try:
        for _ in range(3):
            writer.write(request("/" + SMALL, "Range: bytes=0-1"))
            status, _, body = await read_response(reader, "GET")
            assert (status, body) == (b"HTTP/1.1 206 Partial Content", payload(3_000, SMALL)[:2])
        assert fast_connections(fast) == (1, 0)
        # Pipelined: a hit, a miss, a hit, in one write. The first is answered here,
        # the rest by aiohttp, in order.
        writer.write(
            request("/" + SMALL, "Range: bytes=0-1")
            + request("/podcast/later.mp3")
            + request("/" + LARGE, "Range: bytes=10-19")
        )
        answers = [await read_response(reader, "GET") for _ in range(3)]
        assert [(s, b) for s, _, b in answers] == [
            (b"HTTP/1.1 206 Partial Content", payload(3_000, SMALL)[:2]),
            (b"HTTP/1.1 200 OK", b"later\n"),
            (b"HTTP/1.1 206 Partial Content", payload(3_000_000, LARGE)[10:20]),
        ]
        await until(lambda: fast_connections(fast) == (0, 1), "the connection is aiohttp's")
        # And it stays usable there.
        writer.write(request("/" + SMALL))
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (b"HTTP/1.1 200 OK", payload(3_000, SMALL))
    finally:
        writer.close()


async def test_a_connection_that_was_sent_bodies_here_stays_whole_once_aiohttp_has_it(
    origins, bucket: Bucket
) -> None:
    # The cork works through a socket object of the fast path's own on the connection's
    # descriptor; it must let go of the descriptor, not close it, when aiohttp takes over.
    _, fast = origins
    bucket.put("podcast/handed.mp3", b"handed\n")
    reader, writer = await connect(fast)
    try:
        for span in ("0-99999", "100000-2999999"):
            writer.write(request("/" + LARGE, f"Range: bytes={span}"))
            status, _, body = await read_response(reader, "GET")
            start, end = (int(n) for n in span.split("-"))
            assert (status, body) == (
                b"HTTP/1.1 206 Partial Content",
                payload(SIZES[LARGE], LARGE)[start : end + 1],
            )
        writer.write(request("/podcast/handed.mp3"))  # a miss: aiohttp's from here on
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (b"HTTP/1.1 200 OK", b"handed\n")
        await until(lambda: fast_connections(fast) == (0, 1), "the connection is aiohttp's")
        gc.collect()  # the fast path's objects for the connection are gone now
        for _ in range(2):
            writer.write(request("/" + LARGE, "Range: bytes=0-99999"))
            status, _, body = await read_response(reader, "GET")
            assert (status, body) == (
                b"HTTP/1.1 206 Partial Content",
                payload(SIZES[LARGE], LARGE)[:100_000],
            )
    finally:
        writer.close()


async def test_a_head_that_arrives_in_pieces_is_awaited_and_answered_on_the_fast_path(
    origins,
) -> None:
    _, fast = origins
    reader, writer = await connect(fast)
    try:
        raw = request("/" + SMALL, "Range: bytes=5-9")
        for piece in (raw[:7], raw[7:30], raw[30:-1]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
            # A head still arriving costs no aiohttp connection.
            assert fast_connections(fast) == (1, 0)
        writer.write(raw[-1:])
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (b"HTTP/1.1 206 Partial Content", payload(3_000, SMALL)[5:10])
        assert fast_connections(fast) == (1, 0)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "start",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello's start
        b"GET /podcast/small.mp3 HTTP/1.1\r\nBad Header\r\n",
        b"G@T /",
    ],
)
async def test_the_start_of_a_head_that_cannot_be_a_request_is_refused_at_once(
    origins, start: bytes
) -> None:
    _, fast = origins
    reader, writer = await connect(fast)
    try:
        writer.write(start)
        await writer.drain()
        # Not held for header_timeout: aiohttp's parser refuses it now.
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    finally:
        writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"GET /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        # llhttp stops at a head asking for a change of protocol (its own exception).
        b"GET /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\n\r\n",
        b"GET /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n",
        b"GET /podcast/../podcast/small.mp3 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://x/podcast/small.mp3 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /podcast/small.mp3 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /podcast/small.mp3 HTTP/2.0\r\nHost: x\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_anything_unusual_is_answered_by_aiohttp_as_before(origins, raw: bytes) -> None:
    slow, fast = origins
    method = raw.split(b" ", 1)[0].decode()
    expected = await ask(slow.url(SMALL), raw, method)
    got = await ask(fast.url(SMALL), raw, method)
    assert got == expected


def server_end(running: RunningOrigin, client: socket.socket) -> Any:
    """The origin's socket of ``client``'s connection (None while there is none)."""
    server = running.media.runner.server  # type: ignore[union-attr]
    ours = client.getsockname()
    fast = server.fast.connections if server.fast is not None else ()
    for conn in [*server.connections, *fast]:
        transport = getattr(conn, "transport", None) or getattr(conn, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.fileno() >= 0 and sock.getpeername() == ours:
            return sock
    return None


def corked(running: RunningOrigin, client: socket.socket) -> bool:
    """Whether the origin holds partial segments back on that connection (``TCP_CORK``)."""
    sock = server_end(running, client)
    return sock is not None and bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


@pytest.mark.parametrize("path", ["aiohttp", "fast"])
async def test_a_large_hit_leaves_in_whole_segments_and_nothing_is_held_back_after_it(
    origins, path: str
) -> None:
    running = dict(zip(("aiohttp", "fast"), origins, strict=True))[path]
    host, port = running.url(LARGE).split("://")[1].split("/")[0].rsplit(":", 1)
    client = socket.socket()
    # Small buffers both ends, as on a slow link: the 3 MB body cannot all be with the
    # kernels while the client does not read, so its sending waits midway.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=client)
    try:
        await until(lambda: server_end(running, client) is not None, "the origin has it")
        server_end(running, client).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        writer.write(request("/" + LARGE))
        await until(lambda: corked(running, client), "the body is sent corked")
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (b"HTTP/1.1 200 OK", payload(SIZES[LARGE], LARGE))
        await until(lambda: not corked(running, client), "uncorked after the body")
        # A span that the kernel takes at once (the fast path's first sendfile) too.
        writer.write(request("/" + LARGE, "Range: bytes=0-99999"))
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (
            b"HTTP/1.1 206 Partial Content",
            payload(SIZES[LARGE], LARGE)[:100_000],
        )
        await until(lambda: not corked(running, client), "uncorked after the span")
        # And the next answer on the connection is not held back.
        writer.write(request("/" + SMALL, "Range: bytes=0-1"))
        status, _, body = await read_response(reader, "GET")
        assert (status, body) == (b"HTTP/1.1 206 Partial Content", payload(SIZES[SMALL], SMALL)[:2])
    finally:
        writer.close()


def data_segments_in(sock: socket.socket) -> int:
    """Segments with data this socket has received (``tcpi_data_segs_in``, Linux 4.6)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("=I", info, 152)[0])


async def test_answers_to_the_hits_read_in_one_turn_leave_together(origins) -> None:
    _, fast = origins
    reader, writer = await connect(fast)
    try:
        writer.write(b"".join(request("/" + SMALL, f"Range: bytes={i}-{i}") for i in range(10)))
        answers = [await read_response(reader, "GET") for _ in range(10)]
        assert [(s, b) for s, _, b in answers] == [
            (b"HTTP/1.1 206 Partial Content", payload(SIZES[SMALL], SMALL)[i : i + 1])
            for i in range(10)
        ]
        # Written once, at the end of the turn that read them: one segment, not ten.
        assert data_segments_in(writer.get_extra_info("socket")) == 1
    finally:
        writer.close()


async def test_answers_kept_for_the_end_of_a_turn_go_before_a_body_sent_at_once(
    origins,
) -> None:
    _, fast = origins
    reader, writer = await connect(fast)
    try:
        writer.write(
            request("/" + SMALL, "Range: bytes=0-1")
            + request("/" + LARGE, method="HEAD")
            + request("/" + LARGE)
            + request("/" + SMALL, "Range: bytes=2-3", "Connection: close")
        )
        answers = [await read_response(reader, m) for m in ("GET", "HEAD", "GET", "GET")]
        body = payload(SIZES[LARGE], LARGE)
        small = payload(SIZES[SMALL], SMALL)
        assert [(s, b) for s, _, b in answers] == [
            (b"HTTP/1.1 206 Partial Content", small[:2]),
            (b"HTTP/1.1 200 OK", b""),
            (b"HTTP/1.1 200 OK", body),
            (b"HTTP/1.1 206 Partial Content", small[2:4]),
        ]
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # then closed, as asked
    finally:
        writer.close()


async def test_a_client_that_has_its_answers_finds_their_lines_in_the_access_log(
    fast_server: Any, bucket: Bucket, tmp_path: Path
) -> None:
    bucket.put(SMALL, payload(SIZES[SMALL], SMALL))
    settings = origin_settings(
        bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path / "cache"
    )
    log = tmp_path / "access.log"
    media = await fast_server(
        create_app(settings),
        access_log=access_logger(str(log)),
        access_log_class=CombinedLogFormat,
        **PARSER_LIMITS,
    )
    running = RunningOrigin(media, media, settings)
    try:
        await ask(running.url(SMALL), request("/" + SMALL))  # the miss fills the cache
        await running.wait_cached(1)
        reader, writer = await connect(running)
        try:
            writer.write(b"".join(request("/" + SMALL, "Range: bytes=0-1") for _ in range(10)))
            for _ in range(10):
                status, _, _ = await read_response(reader, "GET")
                assert status == b"HTTP/1.1 206 Partial Content"
            # No waiting: the lines were written before the answers left.
            probes = [
                line
                for line in log.read_text().splitlines()
                if '"GET /podcast/small.mp3 HTTP/1.1" 206 2 ' in line
            ]
            assert len(probes) == 10
        finally:
            writer.close()
    finally:
        access_logger(None)
        logging.getLogger("castedge.access").disabled = False


async def test_an_access_log_that_cannot_be_written_costs_lines_not_answers(
    fast_server: Any, bucket: Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bucket.put(SMALL, payload(SIZES[SMALL], SMALL))
    settings = origin_settings(
        bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path / "cache"
    )
    media = await fast_server(
        create_app(settings),
        # /dev/full refuses every write with ENOSPC, as a full disk does.
        access_log=access_logger("/dev/full"),
        access_log_class=CombinedLogFormat,
        **PARSER_LIMITS,
    )
    running = RunningOrigin(media, media, settings)
    try:
        with caplog.at_level(logging.ERROR, logger="castedge.serve"):
            await ask(running.url(SMALL), request("/" + SMALL))  # the miss, on aiohttp
            await running.wait_cached(1)
            reader, writer = await connect(running)
            try:
                writer.write(b"".join(request("/" + SMALL, "Range: bytes=0-1") for _ in range(3)))
                writer.write(request("/" + SMALL, method="HEAD"))
                for method in ("GET", "GET", "GET", "HEAD"):
                    # Within read_response's 10 s, not at the keep-alive timeout's 75.
                    status, _, _ = await read_response(reader, method)
                    assert status.startswith(b"HTTP/1.1 20")
            finally:
                writer.close()
        said = [r.getMessage() for r in caplog.records if "/dev/full" in r.getMessage()]
        assert said and "cannot be written" in said[0]
    finally:
        access_logger(None)
        logging.getLogger("castedge.access").disabled = False
