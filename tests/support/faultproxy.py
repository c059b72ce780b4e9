"""A TCP proxy that misbehaves on purpose, between castedge and the S3 server.

It forwards bytes both ways and, on the answers coming back from S3, can add a round
trip of latency, limit the bandwidth, stall, cut the stream short (FIN) or reset it
(RST) after a number of bytes. Faults apply to the first ``faulty`` connections only
(all by default), so a test can break one fetch and watch the retry succeed. It runs
its own event loop in a thread, so synchronous and asynchronous tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

CHUNK = 64 * 1024


@dataclass
class FaultProxy:
    """Forward 127.0.0.1:<port> to ``target``; set the fault fields at any time."""

    target: tuple[str, int]
    #: Seconds added before the first byte of each answer (after each request sent).
    latency: float = 0.0
    #: Bytes a second from S3 to castedge; None is unlimited.
    rate: float | None = None
    #: After this many answer bytes on a connection: stop forwarding and keep it open.
    stall_after: int | None = None
    #: ... close the connection to castedge (a clean FIN, a body cut short).
    cut_after: int | None = None
    #: ... reset it (RST).
    reset_after: int | None = None
    #: Faults hit only the first this many connections (None: every one).
    faulty: int | None = None
    connections: int = 0
    #: Answer bytes forwarded to castedge, over every connection.
    forwarded: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _release: asyncio.Event | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._release = asyncio.Event()
            server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fault proxy did not start")
        return self

    def release(self) -> None:
        """End every stall: the stalled connections are closed."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one connection --------------------------------------------------------------

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        faulty = self.faulty is None or index < self.faulty
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        asked = asyncio.Event()
        requests = asyncio.create_task(self._pump_requests(client_r, up_w, asked))
        try:
            await self._pump_answers(up_r, client_w, asked, faulty)
        finally:
            requests.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await requests
            up_w.close()
            with contextlib.suppress(OSError):
                client_w.close()

    async def _pump_requests(
        self, client_r: asyncio.StreamReader, up_w: asyncio.StreamWriter, asked: asyncio.Event
    ) -> None:
        while data := await client_r.read(CHUNK):
            asked.set()
            up_w.write(data)
            await up_w.drain()
        up_w.write_eof()

    async def _pump_answers(
        self,
        up_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        asked: asyncio.Event,
        faulty: bool,
    ) -> None:
        sent = 0
        while True:
            data = await up_r.read(CHUNK if self.rate is None else max(1, int(self.rate / 20)))
            if not data:
                return
            if faulty and asked.is_set() and self.latency:
                await asyncio.sleep(self.latency)
            asked.clear()
            limit = self._limit() if faulty else None
            if limit is not None and sent + len(data) >= limit:
                data = data[: max(0, limit - sent)]
                await self._forward(client_w, data)
                sent += len(data)
                await self._misbehave(client_w)
                return
            await self._forward(client_w, data)
            sent += len(data)
            if faulty and self.rate:
                await asyncio.sleep(len(data) / self.rate)

    def _limit(self) -> int | None:
        limits = [x for x in (self.stall_after, self.cut_after, self.reset_after) if x is not None]
        return min(limits) if limits else None

    async def _forward(self, client_w: asyncio.StreamWriter, data: bytes) -> None:
        if data:
            client_w.write(data)
            await client_w.drain()
            self.forwarded += len(data)

    async def _misbehave(self, client_w: asyncio.StreamWriter) -> None:
        limit = self._limit()
        if limit == self.stall_after:
            assert self._release is not None
            await self._release.wait()
            return
        if limit == self.reset_after:
            sock = client_w.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client_w.transport.abort()
            return
        client_w.close()
