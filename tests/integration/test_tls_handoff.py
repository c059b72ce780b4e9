"""The last step of kernel TLS (``tls.handoff``): a connection the kernel took, served.

Once the kernel does a connection's TLS both ways, what castedge holds is a socket
that speaks plaintext, and it is carried by the loop's own TCP transport, marked as
HTTPS. That step needs no kernel TLS to be tried: here the socket is a loopback one,
given to the same hand-off code, and a real curl asks for a file. Whether a real
kernel takes a real session is the e2e suite's (``test_https_handoff``), which skips
where the kernel has no ``tls`` module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web

from delivery.sendfile import send_range
from tls.handoff import _Starting

BODY = os.urandom(3_000_000)


async def served(tmp_path: Path) -> None:
    media = tmp_path / "episode.mp3"
    media.write_bytes(BODY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    async def episode(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"X-Scheme": request.scheme})
        response.content_length = len(BODY)
        await response.prepare(request)
        fd = os.open(media, os.O_RDONLY)
        try:
            # No ``write``: over a transport that encrypts in user space this raises
            # (TypeError), so only the sendfile path can send the body.
            assert request.transport is not None
            await send_range(request.transport, fd, 0, len(BODY))
        finally:
            os.close(fd)
        return response

    app = web.Application()
    app.router.add_get("/episode.mp3", episode)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    server = runner.server
    loop = asyncio.get_running_loop()
    listening = socket.create_server(("127.0.0.1", 0))
    listening.setblocking(False)
    port = listening.getsockname()[1]
    tls = {"sslcontext": context, "peercert": None, "cipher": None, "compression": None}

    async def accept() -> None:
        conn, _ = await loop.sock_accept(listening)
        await loop.connect_accepted_socket(lambda: _Starting(server(), tls), conn)

    accepting = asyncio.create_task(accept())
    try:
        curl = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-f", "--max-time", "20", "-D", "-", "-o", str(tmp_path / "got"),
            f"http://127.0.0.1:{port}/episode.mp3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(curl.communicate(), 30)
        assert curl.returncode == 0, err.decode()
        headers = out.decode().lower()
        assert "x-scheme: https" in headers
        got = (tmp_path / "got").read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(BODY).digest()
    finally:
        accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        listening.close()
        await runner.cleanup()


# castedge's workers run uvloop, whose TCP transport is not an asyncio.Transport.
@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_connection_the_kernel_took_is_https_and_its_hits_go_by_sendfile(
    run: Any, tmp_path: Path
) -> None:
    run(served(tmp_path))
