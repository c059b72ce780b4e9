"""How much of a response a client really received when it went away in the middle.

When a client resets the connection, what it was sent is not what the server wrote:
the kernel's send buffer (megabytes, with autotuning) and the bytes in flight are
thrown away. Linux counts the bytes the client's TCP acknowledged
(``tcpi_bytes_acked``, RFC 4898's HCThruOctetsAcked, in ``struct tcp_info`` since
Linux 4.1), and ``SIOCOUTQ`` tells what is written but not yet acknowledged; with both,
taken when the body starts and again after the reset, the body bytes that reached the
client are known. The client's own receive buffer is counted as received (its TCP
acknowledged it), which is as close as a server can see.

Anywhere this cannot be read (another OS, a socket already closed), ``None``: the
caller keeps the count of bytes written.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
import termios
from typing import Any

__all__ = ["acknowledged", "on_the_wire", "stream_offset"]

# struct tcp_info (include/uapi/linux/tcp.h): tcpi_bytes_acked is the __u64 after
# tcpi_total_retrans, tcpi_pacing_rate and tcpi_max_pacing_rate; tcpi_notsent_bytes
# (Linux 4.6) the __u32 after tcpi_bytes_received, tcpi_segs_out and tcpi_segs_in.
_BYTES_ACKED = 120
_NOTSENT_BYTES = 144
_INFO_SIZE = 256


def acknowledged(sock: Any) -> int | None:
    """Bytes of this connection the peer's TCP has acknowledged so far."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_SIZE)
    except (OSError, AttributeError, ValueError):
        return None
    if len(info) < _BYTES_ACKED + 8:
        return None
    acked: int = struct.unpack_from("=Q", info, _BYTES_ACKED)[0]
    return acked


def on_the_wire(sock: Any) -> int | None:
    """Bytes of this connection TCP has sent to the peer so far, acknowledged or in flight.

    A peer that has stopped reading still acknowledges what was in flight when it
    stopped; only acknowledgements beyond this count show it took more.
    """
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_SIZE)
        queued = array.array("i", [0])
        # SIOCOUTQ: written but not yet acknowledged, in flight or not yet sent.
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, queued)
    except (OSError, AttributeError, ValueError):
        return None
    if len(info) < _NOTSENT_BYTES + 4:
        return None
    acked: int = struct.unpack_from("=Q", info, _BYTES_ACKED)[0]
    unsent: int = struct.unpack_from("=I", info, _NOTSENT_BYTES)[0]
    return acked + queued[0] - unsent


def stream_offset(sock: Any) -> int | None:
    """Bytes written to this connection so far, acknowledged or not: where the next begins."""
    acked = acknowledged(sock)
    if acked is None:
        return None
    queued = array.array("i", [0])
    try:
        # SIOCOUTQ (the same number as TIOCOUTQ): written but not yet acknowledged.
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, queued)
    except (OSError, AttributeError, ValueError):
        return None
    return acked + queued[0]
