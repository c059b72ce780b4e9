"""The TLS series on /metrics: certificate expiry, renewals, the send path, kernel TLS."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["TlsMetrics"]


class TlsMetrics:
    """One registry per worker's TLS listeners (multiprocess mode adds the workers up)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.expiry = Gauge(
            "castedge_tls_certificate_expiry_timestamp_seconds",
            "When the certificate a TLS listener serves expires (Unix time); alert well before it.",
            ["listener"],
            # The earliest over the live workers: one that missed a renewal shows.
            multiprocess_mode="livemin",
            registry=r,
        )
        self.reloads = Counter(
            "castedge_tls_reloads",
            "Changed certificate files seen, by result: installed, or refused (the old "
            "certificate kept serving).",
            ["listener", "result"],
            registry=r,
        )
        self.ktls = Gauge(
            "castedge_tls_ktls",
            "1 when a TLS listener's hits go out through kernel TLS (sendfile), 0 when "
            "they are encrypted in user space.",
            ["listener"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.ktls_connections = Counter(
            "castedge_tls_ktls_connections",
            "Connections of a kernel-TLS listener (tls.ktls) by what the kernel took: "
            "kernel (both ways), kernel_tx (it encrypts, OpenSSL decrypts), userspace "
            "(it took nothing: a fallback, encrypted and copied through OpenSSL).",
            ["listener", "path"],
            registry=r,
        )
