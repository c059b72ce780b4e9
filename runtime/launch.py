"""Starting a node from the command line: logging, the event loop, the supervisor, a worker."""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from config import exposure_warnings, load_settings

from .https import check_tls, tls_warnings
from .roles import check_role, roles_to_run
from .supervisor import Supervisor
from .worker import SUPERVISOR_ENV, roles_of_worker, run_worker

__all__ = ["OWNER_ENV", "run_service", "serve_node", "serve_worker", "setup_logging"]

log = logging.getLogger("castedge")

#: prctl(2): deliver a signal to this process when its parent dies.
_PR_SET_PDEATHSIG = 1

#: Set by a program that starts a node and wants it gone when that program goes
#: (``castedge demo``): the program's pid. The node then gets SIGTERM when its parent
#: dies, even by SIGKILL, and stops as it would under systemd.
OWNER_ENV = "CASTEDGE_OWNER_PID"


def setup_logging(level: str = "info") -> None:
    """Operational messages to stderr (the journal under systemd)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_service(role: str, main: Coroutine[Any, Any, None]) -> int:
    """Run a service's main coroutine on uvloop (only the command line installs it).

    An address already in use or a directory it may not create is an operator's
    problem to fix, said in one line, not a traceback.
    """
    import uvloop

    try:
        uvloop.run(main)
    except OSError as exc:
        print(f"castedge {role}: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def serve_node(config_path: str, *, only: str | None = None) -> int:
    """``castedge serve`` (``only`` None) or ``castedge <role>``: the supervisor."""
    _stop_with_owner()
    settings = load_settings(config_path)
    setup_logging(settings.log_level)
    roles = roles_to_run(settings, only)
    for role in roles:
        check_role(settings, role)
    check_tls(settings, roles)
    for warning in [*exposure_warnings(settings), *tls_warnings(settings, roles, _utcnow())]:
        log.warning("%s", warning)
    name = only or "serve"
    try:
        return Supervisor(config_path=config_path, settings=settings, only=only).run()
    except OSError as exc:
        # Our own messages name the key; the system's alone say what went wrong.
        print(f"castedge {name}: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1


def serve_worker(config_path: str, index: int, *, only: str | None = None) -> int:
    """One worker process, started by the supervisor (``castedge serve --worker N``)."""
    _die_with_parent()
    settings = load_settings(config_path)
    setup_logging(settings.log_level)
    roles = roles_of_worker(settings, roles_to_run(settings, only), index, os.cpu_count() or 1)
    from edge.errors import EdgeError
    from geo.errors import GeoError
    from sync.errors import SyncError

    try:
        return run_service(only or "serve", run_worker(settings, roles, admin=index == 0))
    except (EdgeError, GeoError, SyncError) as exc:
        # A revocation list, a City database or a sync state file that cannot be used:
        # the operator's to fix.
        print(f"castedge {only or 'serve'}: {exc}", file=sys.stderr)
        return 2


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _signal_when_parent_dies(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        return False
    return True


def _die_with_parent() -> None:
    """A worker never outlives its supervisor: SIGKILL when it dies, as with a power cut."""
    if not _signal_when_parent_dies(signal.SIGKILL):
        log.warning("cannot ask to be stopped with the supervisor (prctl unavailable)")
    parent = os.environ.get(SUPERVISOR_ENV)
    if parent is not None and os.getppid() != int(parent):
        # The supervisor died before the request took effect.
        os._exit(1)


def _stop_with_owner() -> None:
    """A supervisor started under ``OWNER_ENV`` stops (SIGTERM) when its parent dies."""
    # Its own workers, whose parent it is, must not take it for theirs.
    owner = os.environ.pop(OWNER_ENV, None)
    if owner is None:
        return
    if not owner.isdigit():
        print(f"castedge: {OWNER_ENV}={owner!r} is not a process id; ignored", file=sys.stderr)
        return
    if not _signal_when_parent_dies(signal.SIGTERM):
        print(f"castedge: cannot honour {OWNER_ENV} (prctl unavailable)", file=sys.stderr)
        return
    if os.getppid() != int(owner):
        # The program that started it died before the request took effect.
        print(f"castedge: the process that started it ({owner}) is gone", file=sys.stderr)
        sys.exit(1)
