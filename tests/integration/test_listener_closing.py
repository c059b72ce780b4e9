"""A connection the server has closed is reset when the client never takes what is left.

aiohttp closes a connection after its last response, and a close waits for the bytes
still in the transport's buffer to reach the kernel: with a client that reads nothing
more, for ever. The listener gives that wait ``send_timeout``. In-process, over a real
socket whose buffers are made small, so the response outgrows them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from config import HttpSettings
from runtime.connections import ConnectionMetrics, GuardedRunner
from tests.support.raw import TCP_CLOSE, TCP_ESTABLISHED, tcp_state

SEND_TIMEOUT = 0.5
#: More than the small socket buffers hold, less than the transport's high-water mark
#: (64 KiB), so aiohttp's writer never waits: the rest waits in the close.
BODY = b"x" * 40_000


async def leftover(request: web.Request) -> web.Response:
    transport = request.transport
    assert transport is not None
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    response = web.Response(body=BODY)
    response.force_close()
    return response


@pytest.fixture
async def served() -> AsyncIterator[tuple[tuple[str, int], ConnectionMetrics]]:
    app = web.Application()
    app.router.add_get("/leftover", leftover)
    metrics = ConnectionMetrics()
    runner = GuardedRunner(
        app, guard=metrics.guard("test", HttpSettings(send_timeout=SEND_TIMEOUT))
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    host, port = runner.addresses[0][:2]
    yield (host, port), metrics
    await runner.cleanup()


async def test_the_last_bytes_of_a_closed_connection_get_send_timeout(
    served: tuple[tuple[str, int], ConnectionMetrics],
) -> None:
    address, metrics = served
    loop = asyncio.get_running_loop()
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.setblocking(False)
        await loop.sock_connect(client, address)
        await loop.sock_sendall(client, b"GET /leftover HTTP/1.1\r\nHost: x\r\n\r\n")
        began = loop.time()
        # The client reads nothing; the server has answered and closed its side.
        while tcp_state(client) == TCP_ESTABLISHED:
            assert loop.time() - began < SEND_TIMEOUT + 5, "never cut"
            await asyncio.sleep(0.01)
        held = loop.time() - began
        assert tcp_state(client) == TCP_CLOSE
    assert SEND_TIMEOUT - 0.05 <= held <= SEND_TIMEOUT + 1.0
    sample = metrics.registry.get_sample_value
    assert (
        sample(
            "castedge_connection_timeouts_total", {"listener": "test", "timeout": "send_timeout"}
        )
        == 1
    )
    assert sample("castedge_open_connections", {"listener": "test"}) == 0
