"""Renewal without a restart: watch a listener's certificate and key, install a good new pair.

Every ``reload_interval`` the two files are ``stat``-ed; when either changed, both
are read as one snapshot and checked (parse, key matches certificate) before the
snapshot is installed in the listener's live context. A pair that fails is refused
with one log line (one per distinct state of the files, not one per poll) and the
old certificate keeps serving; an ACME client that writes the certificate a moment
before the key is seen as refused once, then installed when the key lands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from config import TlsSettings

from .context import install
from .errors import TlsError
from .pair import Pair, Signature, signature

__all__ = ["CertificateWatcher"]

log = logging.getLogger("castedge.tls")


def _key_kind(pair: Pair) -> str:
    return type(x509.load_pem_x509_certificate(pair.cert_pem).public_key()).__name__


@dataclass
class CertificateWatcher:
    """The pair one listener serves, and the polling that renews it."""

    name: str
    tls: TlsSettings
    context: ssl.SSLContext
    pair: Pair
    #: Called after each install with the pair now served (metrics, health).
    on_change: Callable[[Pair], None] | None = None
    #: Called once per refused state of the files, with the reason.
    on_refused: Callable[[TlsError], None] | None = None
    _seen: tuple[Signature | None, Signature | None] = field(init=False)
    _refused: tuple[Signature | None, Signature | None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._seen = self._signatures()

    def _signatures(self) -> tuple[Signature | None, Signature | None]:
        return signature(self.tls.cert), signature(self.tls.key)

    def check(self) -> bool:
        """Look at the files once; install a changed, good pair. True when one was installed."""
        now = self._signatures()
        if now == self._seen:
            return False
        try:
            pair = Pair.read(self.tls.cert, self.tls.key)
            if _key_kind(pair) != _key_kind(self.pair):
                # OpenSSL keeps one certificate per key type: installing an ECDSA pair
                # over an RSA one would serve both, the old one to some clients.
                raise TlsError(
                    f"the key type changed ({_key_kind(self.pair)} to {_key_kind(pair)}), "
                    "which needs the workers replaced: systemctl reload castedge"
                )
            install(self.context, pair)
        except TlsError as exc:
            if self._refused != now:
                log.warning(
                    "%s.tls: refused the new certificate files: %s; still serving %s",
                    self.name,
                    exc,
                    self.pair.describe(),
                )
                if self.on_refused is not None:
                    self.on_refused(exc)
            self._refused = now
            return False
        # Files that change again while being read are seen as changed on the next poll.
        self._seen = now
        self._refused = None
        self.pair = pair
        log.info("%s.tls: new connections get %s", self.name, pair.describe())
        if self.on_change is not None:
            self.on_change(pair)
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.tls.reload_interval)
            try:
                self.check()
            except Exception:  # a watcher that dies would leave an expiring certificate
                log.exception("%s.tls: checking the certificate files failed", self.name)

    def expires_in(self, now: dt.datetime) -> float:
        """Seconds until the served certificate expires (negative once it has)."""
        return (self.pair.not_after - now).total_seconds()
