"""Running a node: the roles a settings file configures, as one supervised process tree.

``supervisor.Supervisor`` is ``castedge serve``: it owns the listening sockets and
starts the worker processes (``worker.run_worker``), each of which serves one or
more roles (``roles.build_role``) with ``listeners.serve_forever``; the first worker
also serves the node's one admin listener (``admin.create_node_admin``).
``launch`` is what the command line calls.
"""

from .admin import AdminPart, bearer_auth, create_node_admin
from .listeners import Listener, notify_systemd, serve_forever

__all__ = [
    "AdminPart",
    "Listener",
    "bearer_auth",
    "create_node_admin",
    "notify_systemd",
    "serve_forever",
]
