"""HTTPS for every listener: certificate pairs, contexts, renewal, redirects, kernel TLS.

``Pair`` is a certificate chain and key read as one checked snapshot;
``server_context`` builds a listener's context from it; ``CertificateWatcher``
installs a renewed pair without a restart; ``redirect_app`` answers plain HTTP with a
301 to HTTPS and serves ACME challenges; ``detect`` says whether kernel TLS works
here, and ``tls.handoff`` gives a listener's connections to it after the handshake.
"""

from __future__ import annotations

from .context import client_context, install, server_context
from .errors import PairMismatch, PairUnreadable, TlsError
from .ktls import KernelTls, detect
from .pair import EXPIRY_WARNING_DAYS, Pair, expiry_note
from .reload import CertificateWatcher

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "CertificateWatcher",
    "KernelTls",
    "Pair",
    "PairMismatch",
    "PairUnreadable",
    "TlsError",
    "client_context",
    "detect",
    "expiry_note",
    "install",
    "server_context",
]
