"""Clients of a TLS listener that say what the handshake gave: version, ALPN, certificate.

curl and friends report a failed handshake as an exit status; these report the
protocol details a test asserts on, with Python's ssl module against the real socket.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = ["Handshake", "address_of", "client_context", "handshake", "poll_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class Handshake:
    """What one completed TLS handshake agreed on, and the certificate it was shown."""

    version: str | None
    alpn: str | None
    serial: int


def address_of(url: str) -> tuple[str, int]:
    """(host, port) of an ``https://HOST:PORT`` URL printed by a listener."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


def client_context(
    ca: Path,
    *,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    alpn: list[str] | None = None,
) -> ssl.SSLContext:
    """A verifying client context trusting ``ca``, limited to the versions given.

    Asking for TLS 1.0 or 1.1 is deprecated in Python's ssl module; the warning is the
    point here (the test plays an old client), so it is silenced for this call only.
    """
    context = ssl.create_default_context(cafile=str(ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if ciphers is not None:
            context.set_ciphers(ciphers)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


def handshake(url: str, context: ssl.SSLContext, timeout: float = 5.0) -> Handshake:
    """Open a new connection to the listener at ``url`` and complete a TLS handshake."""
    host, port = address_of(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert()
            assert cert, "the connection was not verified"
            return Handshake(
                tls.version(), tls.selected_alpn_protocol(), int(str(cert["serialNumber"]), 16)
            )


def poll_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    every: float = 0.05,
) -> T:
    """Call ``probe`` until ``done`` holds for its result, failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {result!r} after {timeout} s")
        time.sleep(every)
