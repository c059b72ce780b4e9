"""Whether this machine can hand TLS records to the kernel (kTLS), and what a socket got.

With kernel TLS, OpenSSL installs the session keys in the socket after the handshake
(``setsockopt(TCP_ULP, "tls")`` then ``SOL_TLS``), and ``sendfile`` sends encrypted
bytes without a copy through user space, as nginx does with
``ssl_conf_command Options KTLS``. It takes:

* the kernel's ``tls`` upper-layer protocol (the ``tls`` module);
* OpenSSL 3 built with kTLS, asked for it with ``SSL_OP_ENABLE_KTLS`` (a plain option
  bit, which ``SSLContext.options`` passes on; Python names it from 3.12 only);
* OpenSSL doing the socket I/O itself. asyncio's TLS transports (the stock loop's and
  uvloop's) run OpenSSL over memory buffers, so the hand-off listeners
  (``tls.handoff``) do the handshake on the socket instead.

``detect`` looks once, with real loopback sockets: where the kernel has the module, a
handshake with ``SSL_OP_ENABLE_KTLS`` between two loopback sockets shows whether the
keys really reach the kernel, so the answer is this machine's, OpenSSL's build and
cipher choice included. ``offload`` reads from the kernel what one connection got.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import socket
import ssl
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .context import memory_files

__all__ = ["SSL_OP_ENABLE_KTLS", "KernelTls", "Offload", "detect", "offload"]

#: From <netinet/tcp.h>; Python's socket module names it only on some builds.
TCP_ULP = getattr(socket, "TCP_ULP", 31)
#: From <linux/tls.h>: the socket level of kernel TLS, and its two directions.
SOL_TLS = getattr(socket, "SOL_TLS", 282)
TLS_TX = 1
TLS_RX = 2
#: openssl/ssl.h (3.0 and later): ``# define SSL_OP_ENABLE_KTLS SSL_OP_BIT(3)``.
SSL_OP_ENABLE_KTLS: int = getattr(ssl, "OP_ENABLE_KTLS", 1 << 3)
#: Bit 3 is this option from OpenSSL 3.0 on, the first with kTLS on Linux.
OPENSSL_HAS_KTLS_OPTION = ssl.OPENSSL_VERSION_INFO >= (3, 0)


@dataclass(frozen=True)
class Offload:
    """Which directions of one TLS connection the kernel does: sending, receiving."""

    tx: bool
    rx: bool

    @property
    def path(self) -> str:
        """ "kernel" (both), "kernel_tx" (the kernel encrypts, OpenSSL decrypts), "userspace"."""
        if self.tx and self.rx:
            return "kernel"
        return "kernel_tx" if self.tx else "userspace"


def _direction_set(sock: socket.socket, direction: int) -> bool:
    # Asking for the 4-byte header (version, cipher) only: the full struct would copy
    # the session keys into this process for nothing. EBUSY: that direction has none.
    try:
        sock.getsockopt(SOL_TLS, direction, 4)
    except OSError:
        return False
    return True


def offload(sock: socket.socket) -> Offload:
    """What the kernel does of ``sock``'s TLS, asked of the kernel itself."""
    try:
        ulp = sock.getsockopt(socket.IPPROTO_TCP, TCP_ULP, 16).rstrip(b"\0")
    except OSError:
        return Offload(False, False)
    if ulp != b"tls":
        return Offload(False, False)
    return Offload(_direction_set(sock, TLS_TX), _direction_set(sock, TLS_RX))


@dataclass(frozen=True)
class KernelTls:
    """What was found: the kernel's module, OpenSSL's option, and whether kTLS works here."""

    kernel: bool
    openssl: bool
    #: A loopback handshake had at least its sending handed to the kernel.
    works: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"kernel_tls": self.kernel, "works": self.works, "reason": self.reason}


def _kernel_has_tls() -> tuple[bool, str]:
    """Try the tls upper-layer protocol on a connected loopback TCP socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2) as client:
            accepted, _ = server.accept()
            with accepted:
                try:
                    client.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
                except OSError as exc:
                    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    why = (
                        "the kernel has no tls module"
                        if exc.errno == errno.ENOENT
                        else "the kernel refused the tls module"
                    )
                    return False, f"{why} (setsockopt TCP_ULP 'tls': {name})"
    return True, "the kernel has the tls module"


def _throwaway_context() -> ssl.SSLContext:
    """A server context with a certificate made now, for the probe only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "castedge-ktls-probe")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(minutes=10))
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.options |= SSL_OP_ENABLE_KTLS
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with memory_files(cert.public_bytes(serialization.Encoding.PEM), pem) as (cert_file, key_file):
        context.load_cert_chain(cert_file, key_file)
    return context


def _probe() -> tuple[bool, str]:
    """One loopback handshake with SSL_OP_ENABLE_KTLS: did the kernel get the keys?"""
    server_context = _throwaway_context()
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE  # noqa: S503 - our own loopback probe
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.settimeout(5)
        failure: list[BaseException] = []

        def client() -> None:
            try:
                with (
                    socket.create_connection(listening.getsockname(), timeout=5) as raw,
                    client_context.wrap_socket(raw) as tls,
                ):
                    tls.recv(1)
            except OSError as exc:
                failure.append(exc)

        thread = threading.Thread(target=client, name="ktls-probe", daemon=True)
        thread.start()
        accepted, _ = listening.accept()
        accepted.settimeout(5)
        try:
            with server_context.wrap_socket(accepted, server_side=True) as tls:
                found = offload(tls)
                version, cipher = tls.version(), (tls.cipher() or ("?",))[0]
                with contextlib.suppress(OSError):
                    tls.sendall(b"x")
        except OSError as exc:
            return False, f"a loopback handshake failed ({exc})"
        finally:
            thread.join(5)
    if failure:
        return False, f"a loopback handshake failed ({failure[0]})"
    if found.path == "userspace":
        return False, (
            f"OpenSSL ({ssl.OPENSSL_VERSION}) did not hand a {version} {cipher} "
            "connection to the kernel (built without KTLS?)"
        )
    return True, f"OpenSSL handed a {version} {cipher} connection to the kernel ({found.path})"


def detect() -> KernelTls:
    """Look at this machine once (loopback sockets; no traffic leaves it)."""
    try:
        kernel, kernel_why = _kernel_has_tls()
    except OSError as exc:
        kernel, kernel_why = (
            False,
            f"the kernel's tls module could not be tried: {os.strerror(exc.errno or 0)}",
        )
    reasons = [kernel_why]
    if not OPENSSL_HAS_KTLS_OPTION:
        reasons.append(f"{ssl.OPENSSL_VERSION} has no kTLS (OpenSSL 3.0 or later has)")
    elif not kernel:
        reasons.append(f"{ssl.OPENSSL_VERSION} could ask for it (SSL_OP_ENABLE_KTLS)")
    works = False
    if kernel and OPENSSL_HAS_KTLS_OPTION:
        try:
            works, why = _probe()
        except OSError as exc:
            works, why = False, f"the loopback handshake could not be tried: {exc}"
        reasons.append(why)
    return KernelTls(
        kernel=kernel, openssl=OPENSSL_HAS_KTLS_OPTION, works=works, reason="; ".join(reasons)
    )
