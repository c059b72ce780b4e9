"""The edge: course video for holders of short-lived signed URLs (``castedge edge``).

``create_app`` builds the media listener (``/s/<token>/<path>``, public folders,
``/healthz``), ``create_admin_app`` the admin listener shared with the origin's API,
and ``run_edge`` runs both. ``RevocationFile`` is what ``castedge revoke`` changes.
"""

from .app import create_admin_app, create_app
from .errors import EdgeError, RevocationFileError
from .revocations import RevocationFile, RevocationWatcher
from .service import run_edge

__all__ = [
    "EdgeError",
    "RevocationFile",
    "RevocationFileError",
    "RevocationWatcher",
    "create_admin_app",
    "create_app",
    "run_edge",
]
