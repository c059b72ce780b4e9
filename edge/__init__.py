"""The edge: course video for holders of short-lived signed URLs (``castedge edge``).

``create_app`` builds the media listener (``/s/<token>/<path>``, public folders,
``/healthz``), ``admin_part`` its share of the node's admin listener (and
``create_admin_app`` an admin listener for an edge alone); ``runtime`` runs them.
``RevocationFile`` is what ``castedge revoke`` changes.
"""

from .app import admin_part, create_admin_app, create_app
from .errors import EdgeError, RevocationFileError
from .revocations import RevocationFile, RevocationWatcher

__all__ = [
    "EdgeError",
    "RevocationFile",
    "RevocationFileError",
    "RevocationWatcher",
    "admin_part",
    "create_admin_app",
    "create_app",
]
