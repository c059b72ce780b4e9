"""Whether a client is still taking a response, as the kernel tells it (delivery.deadlines).

A reader that stops still acknowledges what was in flight when it stopped; only bytes
beyond those show it read. These run real TCP connections on loopback.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from delivery.acked import acknowledged, on_the_wire
from delivery.deadlines import Progress


class Bare:
    """What Progress asks of a transport, over a plain socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.fixture
def stalled() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A server socket whose client reads nothing and has a small receive buffer."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        server.setblocking(False)
        with client, server:
            # Until the kernel takes no more: the client's window is shut.
            try:
                while True:
                    server.send(b"x" * 65536)
            except BlockingIOError:
                pass
            yield server, client


def test_a_reader_that_stopped_shows_no_progress(
    stalled: tuple[socket.socket, socket.socket],
) -> None:
    server, _ = stalled
    progress = Progress(Bare(server))  # type: ignore[arg-type]
    # What was in flight is acknowledged by now; it is not a sign of reading.
    time.sleep(0.2)
    assert acknowledged(server) == on_the_wire(server)
    assert not progress.moved()
    time.sleep(0.2)
    assert not progress.moved()


def test_a_reader_that_reads_again_shows_progress(
    stalled: tuple[socket.socket, socket.socket],
) -> None:
    server, client = stalled
    progress = Progress(Bare(server))  # type: ignore[arg-type]
    assert not progress.moved()
    client.recv(65536)
    # Its window opens, the kernel sends more, and the client's TCP acknowledges it.
    deadline = time.monotonic() + 5
    while not progress.moved():
        assert time.monotonic() < deadline, "no progress seen"
        time.sleep(0.01)
    # Once seen, the same bytes are not seen again.
    time.sleep(0.2)
    assert not progress.moved()
