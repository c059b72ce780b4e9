"""HTTP over a bare socket, for tests that send what no client library would send.

Client libraries normalise paths, refuse long lines and read whole bodies; a hostile
client does none of that. These helpers write exactly the given bytes and read one
response as it arrived, and tell how a connection ended (``tcp_state``) without
reading from it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from dataclasses import dataclass

__all__ = [
    "TCP_CLOSE",
    "TCP_ESTABLISHED",
    "Answer",
    "exchange",
    "read_answer",
    "tcp_state",
]

# include/net/tcp_states.h
TCP_ESTABLISHED = 1
TCP_CLOSE = 7


@dataclass(frozen=True)
class Answer:
    """One response as it came off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes
    #: The whole response, status line and headers included.
    raw: bytes
    #: Whether the server closed the connection after it (EOF or a reset).
    closed: bool


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (``TCP_ESTABLISHED``, ``TCP_CLOSE``, ...)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    state: int = struct.unpack_from("B", info)[0]
    return state


def read_answer(sock: socket.socket, *, timeout: float = 5.0, linger: float = 0.2) -> Answer:
    """Read one response (headers, then Content-Length bytes), then whether it was the last.

    The server's close may follow the answer by a moment: ``linger`` is how long to
    look for it (0: only what has already arrived).
    """
    deadline = time.monotonic() + timeout
    data = b""
    closed = False

    def more() -> bool:
        nonlocal data, closed
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete response within {timeout} s: {data[:200]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            closed = True
        data += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError(f"closed before a response's head: {data[:200]!r}")
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        if not more():
            break
        rest = data.partition(b"\r\n\r\n")[2]
    if not closed:
        # Closed after the answer? Look without waiting for a byte that never comes.
        sock.setblocking(False)
        readable, _, _ = select.select([sock], [], [], linger)
        if readable:
            try:
                closed = sock.recv(1) == b""
            except (ConnectionResetError, BlockingIOError):
                closed = True
        sock.setblocking(True)
    return Answer(int(status_line.split()[1]), headers, rest[:length], data, closed)


def exchange(address: tuple[str, int], request: bytes, *, timeout: float = 10.0) -> Answer:
    """Send ``request`` on a new connection and read the one answer to it.

    A server may answer before it has read everything (a refused request line); the
    part it never takes is given up on, and whatever it answered is still read.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_answer(sock, timeout=timeout)
