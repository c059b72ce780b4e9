"""Clients that behave as some real players do, where curl cannot be made to."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit


def read_then_leave(url: str, count: int) -> int:
    """GET ``url`` on a small receive buffer, read ``count`` body bytes, close: a reset."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    with socket.socket() as sock:
        # A small window, as a phone on a slow link has: what the kernel buffers for
        # the client then stays far below the episode's size.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        body = len(received.split(b"\r\n\r\n", 1)[1])
        while body < count:
            chunk = sock.recv(min(65536, count - body))
            assert chunk, "the origin closed first"
            body += len(chunk)
        # Unread data in the receive buffer: close() sends a reset, as a killed app does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return body


def aria2c(url: str, dest: Path, *, cacert: str) -> subprocess.CompletedProcess[str]:
    """aria2c fetching ``url`` in eight segments over eight connections, into ``dest``."""
    return subprocess.run(
        [
            "aria2c", "-q", "-x8", "-s8", "-k1M", f"--ca-certificate={cacert}",
            "--allow-overwrite=true", "--auto-file-renaming=false",
            "-d", str(dest.parent), "-o", dest.name, url,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
