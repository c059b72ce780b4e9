"""HTTPS on a node's listeners: checking the pairs, building contexts, renewals, health.

``check_tls`` runs at ``check-config``, at start and before a reload, and turns a
missing file or a key that is not the certificate's into a ConfigError naming the
key path (``edge.tls.key``). ``Secured`` holds a worker's TLS listeners once they are
built: their contexts and watchers, what ``/healthz`` shows of them, their metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from config import ConfigError, Settings, TlsSettings
from tls import (
    CertificateWatcher,
    KernelTls,
    Pair,
    TlsError,
    client_context,
    detect,
    expiry_note,
    server_context,
)
from tls.handoff import PATHS, Handoff
from tls.metrics import TlsMetrics

__all__ = ["Secured", "check_tls", "listener_tls", "tls_warnings"]

log = logging.getLogger("castedge.tls")


def listener_tls(settings: Settings, roles: tuple[str, ...]) -> Iterator[tuple[str, TlsSettings]]:
    """Each listener among ``roles`` and the admin one that speaks TLS, with its settings."""
    for name in (*roles, "admin"):
        section = getattr(settings, name, None)
        tls = getattr(section, "tls", None)
        if tls is not None:
            yield name, tls


def _refuse(settings: Settings, name: str, exc: TlsError) -> ConfigError:
    return ConfigError(settings.source, f"{name}.tls.{exc.field or 'cert'}", str(exc))


def _pair(settings: Settings, name: str, tls: TlsSettings) -> Pair:
    try:
        return Pair.read(tls.cert, tls.key)
    except TlsError as exc:
        raise _refuse(settings, name, exc) from None


def check_tls(settings: Settings, roles: tuple[str, ...]) -> None:
    """Refuse what would not serve: unreadable files, a foreign key, unknown ciphers, CAs."""
    for name, tls in listener_tls(settings, roles):
        pair = _pair(settings, name, tls)
        try:
            server_context(tls, pair)
        except TlsError as exc:
            raise ConfigError(
                settings.source, f"{name}.tls.{exc.field or 'cert'}", str(exc)
            ) from None
    bundles = [("ca_bundle", settings.ca_bundle)]
    if settings.storage is not None and settings.storage.s3 is not None:
        bundles.append(("storage.s3.ca_bundle", settings.storage.s3.ca_bundle))
    for key, bundle in bundles:
        if bundle is not None:
            try:
                client_context(bundle)
            except TlsError as exc:
                raise ConfigError(settings.source, key, str(exc)) from None


def tls_warnings(settings: Settings, roles: tuple[str, ...], now: dt.datetime) -> list[str]:
    """Certificates expired, expiring within 14 days, or not yet valid (run check_tls first)."""
    warnings = []
    for name, tls in listener_tls(settings, roles):
        note = expiry_note(_pair(settings, name, tls), now)
        if note is not None:
            warnings.append(f"{name}.tls: {note}")
    return warnings


@dataclass
class Secured:
    """One worker's TLS listeners: a context and a watcher each, and kernel TLS's verdict.

    A media listener whose ``tls.ktls`` is ``on``, or ``auto`` where ``detect`` found
    kernel TLS working, gets a ``Handoff`` (``tls.handoff``): its handshakes are done on
    the socket and each connection given to the kernel when it takes it. The others,
    and the admin listener, keep asyncio's TLS, which encrypts in user space.
    """

    metrics: TlsMetrics = field(default_factory=TlsMetrics)
    watchers: dict[str, CertificateWatcher] = field(default_factory=dict)
    ktls: KernelTls | None = None
    handoffs: dict[str, Handoff] = field(default_factory=dict)

    def context(self, settings: Settings, name: str, tls: TlsSettings) -> ssl.SSLContext:
        """The server context of listener ``name``, watched for renewals from now on."""
        if self.ktls is None:
            self.ktls = detect()
        pair = _pair(settings, name, tls)
        try:
            context = server_context(tls, pair)
        except TlsError as exc:
            raise ConfigError(
                settings.source, f"{name}.tls.{exc.field or 'cert'}", str(exc)
            ) from None
        self.watchers[name] = CertificateWatcher(
            name,
            tls,
            context,
            pair,
            on_change=lambda new: self._installed(name, new),
            on_refused=lambda _: self.metrics.reloads.labels(name, "refused").inc(),
        )
        self._show(name, pair)
        self.metrics.ktls.labels(name).set(0)
        # Both series exist from the start, so increase() sees the first refusal.
        for result in ("installed", "refused"):
            self.metrics.reloads.labels(name, result)
        if name == "admin":
            log.info("admin.tls: asyncio's TLS, encrypted in user space (no hits to send)")
        return context

    def handoff(self, name: str) -> Handoff | None:
        """Listener ``name``'s kernel-TLS hand-off, or None: asyncio's TLS (said in the log)."""
        watcher = self.watchers[name]
        assert self.ktls is not None, "context() first"
        mode = watcher.tls.ktls
        if mode == "off" or (mode == "auto" and not self.ktls.works):
            log.info(
                "%s.tls: hits are encrypted in user space by asyncio's TLS (tls.ktls %s): %s",
                name,
                mode,
                "kernel TLS is not asked for" if mode == "off" else self.ktls.reason,
            )
            return None
        counter = self.metrics.ktls_connections
        for path in PATHS:
            counter.labels(name, path)
        handoff = Handoff(
            name, watcher.context, on_connection=lambda path: counter.labels(name, path).inc()
        )
        self.handoffs[name] = handoff
        self.metrics.ktls.labels(name).set(1 if self.ktls.works else 0)
        if self.ktls.works:
            log.info(
                "%s.tls: hits are sent by kernel TLS (sendfile), each connection handed to "
                "the kernel after its handshake (tls.ktls %s): %s",
                name,
                mode,
                self.ktls.reason,
            )
        else:
            log.info(
                "%s.tls: handshakes on the socket for kernel TLS (tls.ktls on), but this "
                "machine cannot take it: %s; connections are encrypted in user space",
                name,
                self.ktls.reason,
            )
        return handoff

    def _show(self, name: str, pair: Pair) -> None:
        self.metrics.expiry.labels(name).set(pair.not_after.timestamp())

    def _installed(self, name: str, pair: Pair) -> None:
        self.metrics.reloads.labels(name, "installed").inc()
        self._show(name, pair)

    def _ktls_of(self, name: str) -> dict[str, Any]:
        handoff = self.handoffs.get(name)
        if handoff is None:
            mode = "off" if name == "admin" else self.watchers[name].tls.ktls
            return {"mode": mode, "handoff": False, "path": "userspace"}
        works = self.ktls is not None and self.ktls.works
        return {
            "mode": self.watchers[name].tls.ktls,
            "handoff": True,
            "path": "ktls" if works else "userspace",
            "connections": dict(handoff.connections),
        }

    def status(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """What /healthz shows: the send path and each listener's certificate and kernel TLS."""
        now = now or dt.datetime.now(dt.UTC)
        listeners = {
            name: {
                "serial": f"{w.pair.serial:x}",
                "subject": w.pair.subject,
                "not_after": w.pair.not_after.isoformat(),
                "expires_in_days": round(w.expires_in(now) / 86400, 1),
                "min_version": w.tls.min_version,
                "ktls": self._ktls_of(name),
            }
            for name, w in self.watchers.items()
        }
        ktls = self.ktls.as_dict() if self.ktls is not None else {}
        used = any(self._ktls_of(name)["path"] == "ktls" for name in self.watchers)
        return {"path": "ktls" if used else "userspace", **ktls, "listeners": listeners}
