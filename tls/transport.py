"""asyncio transports for connections whose handshake OpenSSL did on the socket itself.

A hand-off listener (``tls.handoff``) shakes hands on an ``ssl.SSLSocket``, so that
OpenSSL can give the session keys to the kernel. What the kernel then does decides
the transport the connection's protocol (aiohttp's) gets:

* both directions (``KernelTlsTransport``): the socket speaks plaintext both ways, and
  the loop's own TCP transport carries it; this wrapper only says the connection is
  HTTPS (``sslcontext``, so aiohttp's ``request.scheme`` is ``https``) and that the
  kernel encrypts (``kernel_tls_tx``, so ``delivery.sendfile`` sends hits with
  ``sendfile``);
* sending only, or nothing (``SocketTlsTransport``): OpenSSL goes on reading records
  (and writing them too, without the kernel) through the ``SSLSocket``, driven by the
  loop's readiness callbacks. With the sending in the kernel, hits still go out by
  ``sendfile`` once what OpenSSL was given has left.

``SocketTlsTransport`` keeps asyncio's contract: flow control both ways (the
protocol is paused above the high-water mark; ``pause_reading`` stops reading),
``close`` sends what is buffered and a close_notify, ``abort`` drops it, EOF goes to
``eof_received``, and OpenSSL's want-read / want-write are waited for as the loop's
reader and writer. OpenSSL writes without partial writes (CPython does not set
``SSL_MODE_ENABLE_PARTIAL_WRITE``): a write it began and could not finish is given
again, the same bytes, when the socket is writable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from typing import Any, cast

__all__ = ["KernelTlsTransport", "SocketTlsTransport"]

log = logging.getLogger("castedge.tls")

#: Plaintext asked of OpenSSL per read: more than one record (16 KiB) holds, and
#: below malloc's mmap threshold (128 KiB), as each read allocates this much first.
READ_SIZE = 32 * 1024
#: Reads per readiness callback before other connections get the loop.
READS_PER_WAKE = 16
#: asyncio's defaults for a TLS transport's writing (sslproto's high-water mark).
HIGH_WATER = 64 * 1024


def _tls_extra(sock: ssl.SSLSocket) -> dict[str, Any]:
    """What asyncio's TLS transports say about a connection, for ``get_extra_info``."""
    return {
        "sslcontext": sock.context,
        "ssl_object": sock,
        "peercert": sock.getpeercert(),
        "cipher": sock.cipher(),
        "compression": sock.compression(),
    }


class SocketTlsTransport(asyncio.Transport):
    """One connection whose records OpenSSL reads, and writes where the kernel does not."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: ssl.SSLSocket,
        protocol: asyncio.Protocol,
        *,
        kernel_tx: bool,
    ) -> None:
        extra = _tls_extra(sock)
        extra.update(
            socket=sock,
            sockname=sock.getsockname(),
            peername=sock.getpeername(),
            kernel_tls_tx=kernel_tx,
        )
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        #: Plaintext waiting for OpenSSL; the first one may be a write it began.
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._high = HIGH_WATER
        self._low = HIGH_WATER // 4
        self._protocol_paused = False
        self._reading = True
        self._closing = False
        self._closed = False
        #: OpenSSL's reading waits for the socket to take bytes (a TLS 1.3 key update
        #: answered), or its writing waits for bytes to arrive.
        self._read_wants_write = False
        self._write_wants_read = False
        self._reader_on = False
        self._writer_on = False

    def start(self) -> None:
        """Tell the protocol it is connected and begin reading."""
        self._protocol.connection_made(self)
        if not self._closing:
            self._watch()
            self._read_pending_soon()

    # -- readiness ---------------------------------------------------------------

    def _watch(self) -> None:
        """Register with the loop exactly for what is waited on now."""
        if self._closed:
            return
        reader = (self._reading and not self._closing and not self._read_wants_write) or (
            self._write_wants_read
        )
        writer = bool(self._chunks and not self._write_wants_read) or self._read_wants_write
        if reader != self._reader_on:
            if reader:
                self._loop.add_reader(self._fd, self._readable)
            else:
                self._loop.remove_reader(self._fd)
            self._reader_on = reader
        if writer != self._writer_on:
            if writer:
                self._loop.add_writer(self._fd, self._writable)
            else:
                self._loop.remove_writer(self._fd)
            self._writer_on = writer

    def _readable(self) -> None:
        if self._write_wants_read:
            self._write_wants_read = False
            self._send()
        if self._reading and not self._closing:
            self._receive()

    def _writable(self) -> None:
        if self._read_wants_write:
            self._read_wants_write = False
            self._receive()
        if not self._closed:
            self._send()

    def _read_pending_soon(self) -> None:
        # Bytes OpenSSL already decrypted wake no reader: the socket has none left.
        if self._sock.pending():
            self._loop.call_soon(self._receive)

    # -- reading -----------------------------------------------------------------

    def _receive(self) -> None:
        for _ in range(READS_PER_WAKE):
            if self._closed or self._closing or not self._reading:
                return
            try:
                data = self._sock.recv(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLWantWriteError:
                self._read_wants_write = True
                break
            except ssl.SSLZeroReturnError:
                data = b""
            except OSError as exc:  # ssl.SSLError among them: a bad record, a reset
                self._fail(exc)
                return
            if not data:
                self._end_of_stream()
                return
            self._protocol.data_received(data)
        else:
            # Still more: let the other connections have the loop first.
            self._loop.call_soon(self._receive)
        self._watch()

    def _end_of_stream(self) -> None:
        # TLS has no half-close: a client's end (close_notify or a FIN) ends it all.
        self._reading = False
        keep_open = self._protocol.eof_received()
        if not keep_open:
            self.close()
        else:
            self._watch()

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._closing or self._closed:
            return
        self._chunks.append(bytes(data))
        self._buffered += len(data)
        if not self._writer_on and not self._write_wants_read:
            self._send()
        self._pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _send(self) -> None:
        while self._chunks:
            chunk = self._chunks[0]
            try:
                sent = self._sock.send(chunk)
            except ssl.SSLWantWriteError:
                break
            except ssl.SSLWantReadError:
                self._write_wants_read = True
                break
            except OSError as exc:
                self._fail(exc)
                return
            self._buffered -= sent
            if sent < len(chunk):
                self._chunks[0] = chunk[sent:]
            else:
                self._chunks.popleft()
        self._watch()
        self._resume_protocol()
        if self._closing and not self._chunks:
            self._finish()

    def _pause_protocol(self) -> None:
        if not self._protocol_paused and self._buffered > self._high:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _resume_protocol(self) -> None:
        if self._protocol_paused and self._buffered <= self._low:
            self._protocol_paused = False
            self._protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._pause_protocol()

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close")

    # -- flow control of reading -------------------------------------------------

    def pause_reading(self) -> None:
        self._reading = False
        self._watch()

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._watch()
        self._read_pending_soon()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    # -- the end -----------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Send what is buffered, then a close_notify, then close."""
        if self._closing:
            return
        self._closing = True
        self._watch()
        if not self._chunks:
            self._finish()

    def abort(self) -> None:
        """Close at once, dropping what is buffered."""
        self._closing = True
        self._teardown(None)

    def _fail(self, exc: Exception) -> None:
        log.debug("TLS connection from %s ended: %s", self.get_extra_info("peername"), exc)
        self._closing = True
        self._teardown(exc)

    def _finish(self) -> None:
        # close_notify, best effort: a peer that sends no close_notify back leaves
        # OpenSSL waiting to read one (SSLWantReadError), which is not waited for.
        with contextlib.suppress(OSError, ValueError):
            self._sock.unwrap()
        self._teardown(None)

    def _teardown(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._reading = False
        self._chunks.clear()
        self._buffered = 0
        self._read_wants_write = self._write_wants_read = False
        self._watch()
        self._closed = True
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = cast(asyncio.Protocol, protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol


class KernelTlsTransport(asyncio.Transport):
    """The loop's TCP transport of a connection whose TLS the kernel does both ways.

    Everything is the loop's own transport's; only what the connection is differs:
    HTTPS, its records written by the kernel (see the module's doc).
    """

    def __init__(
        self, transport: asyncio.Transport, protocol: asyncio.BaseProtocol, tls: dict[str, Any]
    ) -> None:
        super().__init__()
        self._about = {**tls, "kernel_tls_tx": True}
        self._transport = transport
        self._protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._about:
            return self._about[name]
        return self._transport.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        # A FIN under kernel TLS would end the stream without a close_notify.
        return False

    def abort(self) -> None:
        self._transport.abort()

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol
