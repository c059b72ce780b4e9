"""Whether this machine could hand TLS records to the kernel (kTLS), and why not.

With kernel TLS, OpenSSL installs the session keys in the socket after the handshake
(``setsockopt(TCP_ULP, "tls")`` then ``SOL_TLS``), and ``sendfile`` sends encrypted
bytes without a copy through user space, as nginx does with
``ssl_conf_command Options KTLS``. Three things must all hold:

* the kernel has the ``tls`` upper-layer protocol (the ``tls`` module);
* OpenSSL was built with kTLS, and Python's ``ssl`` module can ask for it
  (``ssl.OP_ENABLE_KTLS``, Python 3.12 and later);
* the socket's OpenSSL object does the socket I/O itself. asyncio's TLS transports
  (the stock loop's and uvloop's) run OpenSSL over memory buffers and write the
  records themselves, so OpenSSL never sees a socket to enable kTLS on.

``detect`` checks the first two with a real loopback socket, so the answer is this
machine's, and reports the third. Every TLS listener then serves hits by copying
through user space (``delivery.sendfile``'s encrypted path); the reason is logged
once at start, shown in ``/healthz`` and exported as ``castedge_tls_ktls``.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass

__all__ = ["KernelTls", "detect"]

#: From <netinet/tcp.h>; Python's socket module names it only on some builds.
TCP_ULP = getattr(socket, "TCP_ULP", 31)


@dataclass(frozen=True)
class KernelTls:
    """What was found: whether kTLS is used, and in words why or why not."""

    kernel: bool
    openssl: bool
    used: bool
    reason: str

    @property
    def path(self) -> str:
        """The send path hits take over TLS: "ktls" or "userspace"."""
        return "ktls" if self.used else "userspace"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "kernel_tls": self.kernel, "reason": self.reason}


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


def detect() -> KernelTls:
    """Look at this machine once (a loopback socket pair; no traffic leaves it)."""
    try:
        kernel, kernel_why = _kernel_has_tls()
    except OSError as exc:
        kernel, kernel_why = (
            False,
            f"the kernel's tls module could not be tried: {os.strerror(exc.errno or 0)}",
        )
    openssl = hasattr(ssl, "OP_ENABLE_KTLS")
    reasons = [kernel_why]
    if not openssl:
        reasons.append(
            f"Python's ssl module ({ssl.OPENSSL_VERSION}) has no OP_ENABLE_KTLS (Python 3.12+)"
        )
    reasons.append("asyncio's TLS transports encrypt in user space over memory buffers")
    return KernelTls(kernel=kernel, openssl=openssl, used=False, reason="; ".join(reasons))
