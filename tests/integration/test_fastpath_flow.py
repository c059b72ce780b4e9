"""The fast path's flow control: a client that reads slowly, or not at all, between requests.

When the answers a connection is owed pile up past the transport's high-water mark
(``pause_writing``), the fast path stops serving that connection until the client takes
them, and cuts it after ``send_timeout`` with no progress. These tests put a connection
in that state at a chosen point without racing the kernel: the client's receive buffer
and the server's send buffer are shrunk to 4 KiB, and a first answer of 60,000 bytes
is left unread, so the transport holds a known amount just under its mark (64 KiB).
The next answers then cross it exactly where each test needs.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config import HttpSettings
from delivery.admin import DELIVERY
from tests.conftest import Bucket, payload
from tests.support.origin import RunningOrigin, origin_settings, start_origin
from tests.support.raw import TCP_CLOSE, TCP_ESTABLISHED, tcp_state

LARGE = "podcast/large.mp3"
BODY = payload(3_000_000, LARGE)
LATER = "podcast/later.mp3"  # in the bucket, not yet cached: aiohttp's to answer
#: Under the fast path's SMALL_BODY: sent through the transport with its headers.
PRIMER = 60_000
HIT = 20_000
#: The transport's high-water mark (uvloop's and asyncio's default).
HIGH_WATER = 64 * 1024
TINY = 4096


def ranged(first: int, last: int, target: str = LARGE) -> bytes:
    return (
        f"GET /{target} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={first}-{last}\r\n\r\n"
    ).encode()


def plain(target: str) -> bytes:
    return f"GET /{target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@dataclass
class Client:
    sock: socket.socket
    conn: Any  # the server's FastConnection for it
    transport: Any  # its transport, aiohttp's protocol's too once handed over
    pending: bytearray

    def _more(self, size: int, pause: float, what: str) -> None:
        chunk = self.sock.recv(size)
        assert chunk, what
        self.pending += chunk
        if pause:
            time.sleep(pause)

    def recv_answer(self, size: int = 65536, pause: float = 0.0) -> tuple[bytes, bytes]:
        """One answer's status line and body (blocking; the socket has a timeout).

        Read ``size`` bytes at a time at most, sleeping ``pause`` after each read.
        """
        while b"\r\n\r\n" not in self.pending:
            self._more(size, pause, "closed before an answer")
        end = self.pending.index(b"\r\n\r\n") + 4
        lines = bytes(self.pending[:end]).decode("latin-1").split("\r\n")
        del self.pending[:end]
        length = next(
            (
                int(line.split(": ", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        while len(self.pending) < length:
            self._more(size, pause, f"closed inside a body, {len(self.pending)} of {length}")
        body = bytes(self.pending[:length])
        del self.pending[:length]
        return lines[0].encode(), body


async def in_thread(call: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, call, *args)


async def settled(conn: Any) -> int:
    """The transport's buffer once the kernel takes no more of it (the client reads nothing)."""
    last, same = -1, 0
    deadline = asyncio.get_running_loop().time() + 10
    while same < 5:
        assert asyncio.get_running_loop().time() < deadline, "the buffer never settled"
        await asyncio.sleep(0.02)
        transport = conn._transport
        size = transport.get_write_buffer_size() if transport is not None else -1
        same = same + 1 if size == last else 0
        last = size
    return last


#: The keep-alive timer the primer's answer arms runs until the test's next request:
#: long enough for any machine to get there first.
HTTP = HttpSettings(header_timeout=2.0, keepalive_timeout=3.0, send_timeout=1.0)


@pytest.fixture
def http() -> HttpSettings:
    """The listener's deadlines (a test parametrizes ``http`` for others)."""
    return HTTP


@pytest.fixture
async def origin(
    fast_server: Any, bucket: Bucket, tmp_path: Path, http: HttpSettings
) -> AsyncIterator[RunningOrigin]:
    bucket.put(LARGE, BODY)
    bucket.put(LATER, b"later\n")
    settings = origin_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    running = await start_origin(functools.partial(fast_server, http=http), settings)
    reader, writer = await asyncio.open_connection(*address(running))
    writer.write(plain(LARGE))
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert await asyncio.wait_for(reader.readexactly(len(BODY)), 10) == BODY
    writer.close()
    await running.wait_cached(1)
    yield running


def address(running: RunningOrigin) -> tuple[str, int]:
    host, port = str(running.media.make_url("/")).split("://")[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


@pytest.fixture
async def primed(origin: RunningOrigin) -> AsyncIterator[Client]:
    """A fast connection whose transport holds a 60,000-byte answer, just under its mark."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TINY)
    sock.settimeout(10)
    await in_thread(sock.connect, address(origin))
    server = origin.media.runner.server  # type: ignore[union-attr]
    ours = sock.getsockname()
    conn = None
    deadline = asyncio.get_running_loop().time() + 5
    while conn is None:
        assert asyncio.get_running_loop().time() < deadline, "no fast connection"
        conn = next(
            (c for c in server.fast.connections
             if c._transport is not None and c._transport.get_extra_info("peername") == ours),
            None,
        )  # fmt: skip
        await asyncio.sleep(0.01)
    conn._transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, TINY)
    sock.sendall(ranged(0, PRIMER - 1))
    held = await settled(conn)
    assert 0 < held < HIGH_WATER and held + HIT > HIGH_WATER, held
    client = Client(sock, conn, conn._transport, bytearray())
    try:
        yield client
    finally:
        sock.close()


def read_all_then_closed(
    client: Client, answers: int, wait: float
) -> tuple[list[tuple[bytes, bytes]], float]:
    got = [client.recv_answer() for _ in range(answers)]
    client.sock.settimeout(wait)
    began = time.monotonic()
    try:
        end = client.sock.recv(1)
    except TimeoutError:
        end = None
    assert end == b"", "the connection stayed open"
    return got, time.monotonic() - began


@pytest.mark.parametrize(
    # A send_timeout longer than the body takes: a stall timer left over from the
    # pause (the fault this is about) would still be pending when the body ends.
    "http",
    [HttpSettings(header_timeout=2.0, keepalive_timeout=1.0, send_timeout=5.0)],
)
async def test_a_body_after_answers_that_filled_the_buffer_still_ends_in_keep_alive(
    primed: Client, http: HttpSettings
) -> None:
    # The hit's answer, held for the end of the turn, goes out with the body's head and
    # crosses the mark there, just before the body's task starts.
    primed.sock.sendall(ranged(0, HIT - 1) + ranged(0, 999_999))
    got, waited = await in_thread(read_all_then_closed, primed, 3, 10.0)
    assert got == [
        (b"HTTP/1.1 206 Partial Content", BODY[:PRIMER]),
        (b"HTTP/1.1 206 Partial Content", BODY[:HIT]),
        (b"HTTP/1.1 206 Partial Content", BODY[:1_000_000]),
    ]
    # Closed for keepalive_timeout after the last answer, not held open.
    assert waited < http.keepalive_timeout + 3


async def test_a_connection_handed_to_aiohttp_while_blocked_is_still_flow_controlled(
    primed: Client,
) -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    # The hit's answer crosses the mark as the miss is handed over.
    primed.sock.sendall(ranged(0, HIT - 1) + plain(LATER))
    await asyncio.sleep(0.2)
    got = await in_thread(lambda: [primed.recv_answer() for _ in range(3)])
    assert got == [
        (b"HTTP/1.1 206 Partial Content", BODY[:PRIMER]),
        (b"HTTP/1.1 206 Partial Content", BODY[:HIT]),
        (b"HTTP/1.1 200 OK", b"later\n"),
    ]
    assert errors == []


async def test_aiohttp_cuts_a_connection_handed_over_blocked_that_reads_nothing(
    primed: Client,
) -> None:
    # Requests whose answers it never reads, the first handed over as the hit's answer
    # crosses the mark. 405s: aiohttp writes them and waits for room only while it
    # knows the transport is full (a body sent from a file waits by itself).
    refused = f"DELETE /{LARGE} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() * 20
    primed.sock.sendall(ranged(0, HIT - 1) + refused)
    # Held to what the buffers take, and cut.
    began = time.monotonic()
    primed.sock.settimeout(0.05)
    closed = False
    while not closed and time.monotonic() - began < HTTP.send_timeout * 2 + 5:
        try:
            await in_thread(primed.sock.send, refused)
        except TimeoutError:
            pass  # no room: the server reads no more either
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        await asyncio.sleep(0.02)
        # What the server holds for it stays bounded (aiohttp waits for room, too).
        assert primed.transport.get_write_buffer_size() < 1 << 20
    assert closed, "never cut"


async def test_a_pipeline_read_slowly_but_steadily_is_not_cut(primed: Client) -> None:
    # Ten hits, 200 kB more, read 4 KiB every 50 ms: several send_timeouts in all.
    primed.sock.sendall(b"".join(ranged(0, HIT - 1) for _ in range(10)))
    began = time.monotonic()
    got = await in_thread(lambda: [primed.recv_answer(TINY, 0.05) for _ in range(11)])
    assert (
        got
        == [(b"HTTP/1.1 206 Partial Content", BODY[:PRIMER])]
        + [(b"HTTP/1.1 206 Partial Content", BODY[:HIT])] * 10
    )
    assert time.monotonic() - began > 2 * HTTP.send_timeout  # it did take that long


STALL = 3.0


@pytest.mark.parametrize(
    "http", [HttpSettings(header_timeout=2.0, keepalive_timeout=5.0, send_timeout=STALL * 2)]
)
async def test_a_stall_does_not_restart_the_clock_of_a_head_still_arriving(
    primed: Client, http: HttpSettings
) -> None:
    # A hit (its answer crosses the mark at the end of the turn) and the start of a head.
    primed.sock.sendall(ranged(0, HIT - 1) + f"GET /{LARGE} HTTP/1.1\r\nHost: x\r\n".encode())
    # The head is due header_timeout from its first byte; the client reads nothing
    # for longer than that (less than send_timeout), then everything.
    await asyncio.sleep(STALL)
    began = time.monotonic()
    got = await in_thread(lambda: [primed.recv_answer() for _ in range(3)])
    assert [status for status, _ in got[:2]] == [b"HTTP/1.1 206 Partial Content"] * 2
    # Its time was up during the stall: refused as soon as serving resumes, not
    # header_timeout later.
    assert got[2][0].split(b" ", 1)[1] == b"408 Request Timeout"
    assert time.monotonic() - began < http.header_timeout / 2


async def test_a_file_that_cannot_be_read_closes_the_connection_and_lets_go_of_the_file(
    origin: RunningOrigin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = origin.media.app[DELIVERY].store
    held = store.lookup(LARGE)
    assert held is not None
    refs = held.refs
    real = os.pread

    def failing(fd: int, length: int, offset: int) -> bytes:
        if length == 7:  # the probe below: the disk fails under it
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, length, offset)

    monkeypatch.setattr(os, "pread", failing)
    reader, writer = await asyncio.open_connection(*address(origin))
    try:
        writer.write(ranged(0, 6))
        # Nothing of it could be sent: the connection ends without an answer.
        assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        writer.close()
    monkeypatch.undo()
    assert held.refs == refs, "the file is still pinned by the failed answer"
    store.release(held)
    assert "cannot read it" in caplog.text and "Traceback" not in caplog.text
    # The next client gets its answer.
    reader, writer = await asyncio.open_connection(*address(origin))
    try:
        writer.write(ranged(0, 6))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
        assert await asyncio.wait_for(reader.readexactly(7), 10) == BODY[:7]
    finally:
        writer.close()


async def test_a_disk_error_under_a_body_ends_it_short_and_says_why(
    primed: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(out: int, in_: int, offset: int | None, count: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    # The transport still holds the first answer, so this body goes from its task.
    monkeypatch.setattr(os, "sendfile", failing)
    primed.sock.sendall(ranged(0, 999_999))

    def answers() -> tuple[bytes, bytes, bytes]:
        first = primed.recv_answer()
        while b"\r\n\r\n" not in primed.pending:
            primed._more(65536, 0.0, "closed before the head")
        head, _, rest = bytes(primed.pending).partition(b"\r\n\r\n")
        while chunk := primed.sock.recv(65536):
            rest += chunk
        return first[0], head, rest

    first, head, rest = await in_thread(answers)
    assert first == b"HTTP/1.1 206 Partial Content"
    assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert b"Content-Length: 1000000" in head and len(rest) < 1_000_000  # closed short
    assert "closing GET podcast/large.mp3 short: [Errno 5] Input/output error" in caplog.text


@pytest.mark.parametrize(
    "http", [HttpSettings(header_timeout=2.0, keepalive_timeout=1.0, send_timeout=1.0)]
)
async def test_a_connection_closed_with_answers_its_client_never_takes_is_cut(
    primed: Client, http: HttpSettings
) -> None:
    # The primer's answer waits in the transport, under the mark, and the client reads
    # nothing: at keepalive_timeout the server closes, and a close waits for the
    # buffer to drain, which it never does. It is cut send_timeout later.
    began = time.monotonic()
    bound = http.keepalive_timeout + http.send_timeout + 5
    # Cut: the client's end is reset, and the server has let go of the connection.
    while tcp_state(primed.sock) == TCP_ESTABLISHED or primed.conn._transport is not None:
        assert time.monotonic() - began < bound, "held open"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    # A keep-alive far longer than the bound: the half-close is what closes.
    "http",
    [HttpSettings(header_timeout=2.0, keepalive_timeout=60.0, send_timeout=1.0)],
)
async def test_a_client_that_half_closes_and_never_takes_its_answer_is_cut(
    primed: Client, http: HttpSettings
) -> None:
    # The client says it will send no more and reads nothing: the server closes once
    # the primer's answer has gone, which it never does. It is cut send_timeout later.
    primed.sock.shutdown(socket.SHUT_WR)
    began = time.monotonic()
    bound = http.send_timeout + 5
    # Cut: the client's end is reset (closed, not left waiting for the server's FIN),
    # and the server has let go of the connection.
    while tcp_state(primed.sock) != TCP_CLOSE or primed.conn._transport is not None:
        assert time.monotonic() - began < bound, "held open"
        await asyncio.sleep(0.05)
