"""``ssl.SSLContext`` objects: the servers' (from TlsSettings and a Pair) and the clients'.

A server context is built once per listener and kept for the listener's life: asyncio
gives each new connection the context the server was created with. A renewal is
loaded *into* that context (``install``): OpenSSL copies the certificate into each
connection when it begins, so connections in flight keep theirs and new ones get the
new one. The pair is always loaded from the checked snapshot's bytes (through an
anonymous memory file, never a copy on disk), so what is installed is what was checked.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

from config import TlsSettings

from .errors import PairMismatch, PairUnreadable, TlsError
from .pair import Pair

__all__ = ["client_context", "install", "memory_files", "server_context"]

_VERSIONS = {"tlsv1.2": ssl.TLSVersion.TLSv1_2, "tlsv1.3": ssl.TLSVersion.TLSv1_3}


@contextlib.contextmanager
def memory_files(*contents: bytes) -> Iterator[list[str]]:
    fds = []
    try:
        for data in contents:
            fd = os.memfd_create("castedge-tls", os.MFD_CLOEXEC)
            fds.append(fd)
            os.write(fd, data)
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)


def install(context: ssl.SSLContext, pair: Pair) -> None:
    """Make ``pair`` the certificate and key of connections ``context`` starts from now."""
    with memory_files(pair.cert_pem, pair.key_pem) as (cert, key):
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            if "mismatch" in str(exc):
                raise PairMismatch(
                    f"key {pair.key_path} does not belong to the certificate in {pair.cert_path}",
                    pair.key_path,
                    "key",
                ) from None
            raise PairUnreadable(
                f"OpenSSL refused {pair.cert_path} with {pair.key_path}: {exc.reason or exc}",
                pair.cert_path,
                "cert",
            ) from None


def server_context(tls: TlsSettings, pair: Pair) -> ssl.SSLContext:
    """A TLS server context serving ``pair``: minimum version, ciphers, ALPN http/1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    try:
        context.set_ciphers(tls.ciphers)
    except ssl.SSLError:
        raise TlsError(
            f"OpenSSL knows none of the ciphers {tls.ciphers!r}", None, "ciphers"
        ) from None
    # HTTP/2 is not spoken here; saying so lets a client that offers h2 fall back at once.
    context.set_alpn_protocols(["http/1.1"])
    # Compression over TLS leaks secrets (CRIME); renegotiation is a DoS lever.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    install(context, pair)
    return context


def client_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, plus ``ca_bundle``'s when given."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise PairUnreadable(
                f"CA bundle {ca_bundle} cannot be used: {getattr(exc, 'strerror', None) or exc}",
                ca_bundle,
                "ca_bundle",
            ) from None
    return context
