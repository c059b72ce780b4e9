"""The roles a node can run, each as its media listener and its share of the admin listener.

``build_role`` makes one role's apps from the settings; ``check_role`` runs the same
checks without starting anything, so ``castedge check-config`` refuses what
``castedge serve`` would. The role packages are imported here only when a role is
built, so a node that runs no locator never loads GeoIP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from config import ROLES, ConfigError, Listen, Settings, roles_in
from delivery.accesslog import CombinedLogFormat

from .admin import AdminPart

__all__ = ["RoleApp", "build_role", "check_role", "role_workers", "roles_to_run"]

#: Loggers that may quote a request line (and so a token or a grant): aiohttp's, and
#: the listeners' note of a refused request (at debug).
_QUOTING_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "castedge.connections")


@dataclass(frozen=True)
class RoleApp:
    """One role, built: its media app, where it listens, how it logs, its admin part."""

    role: str
    app: web.Application
    #: None for a role with no listener of its own (the sync daemon).
    listen: Listen | None
    access_log: str | None
    log_format: type[CombinedLogFormat]
    admin: AdminPart
    drain_timeout: float


def roles_to_run(settings: Settings, only: str | None = None) -> tuple[str, ...]:
    """The roles to start: those the file configures, or ``only`` (which it must configure)."""
    if only is None:
        found = roles_in(settings)
        if not found:
            raise ConfigError(
                settings.source,
                None,
                f"no role to run; give one or more of the sections {', '.join(ROLES)}",
            )
        return found
    if getattr(settings, only) is None:
        raise ConfigError(settings.source, only, f"missing; castedge {only} needs it")
    return (only,)


def role_workers(settings: Settings, role: str, cpus: int) -> int:
    """How many worker processes serve ``role``: its ``workers``, ``auto`` being ``cpus``.

    The sync daemon is one process: two would list and transfer everything twice.
    """
    if role == "sync":
        return 1
    section = getattr(settings, role)
    workers: int | None = section.workers
    return workers or cpus


def check_role(settings: Settings, role: str) -> None:
    """The checks a role makes before it starts, beyond the file's own; raises ConfigError."""
    if role == "origin":
        from origin.app import origin_settings

        origin_settings(settings)
    elif role == "edge":
        from edge.app import edge_settings

        edge_settings(settings)
    elif role == "locator":
        from locator.settings import locator_settings

        locator_settings(settings)
    elif role == "sync":
        from sync.app import sync_settings

        sync_settings(settings)
    else:
        raise ConfigError(settings.source, None, f"no such role {role!r}")


def build_role(settings: Settings, role: str) -> RoleApp:
    """The role's media app (not started) and its admin part."""
    if role == "origin":
        from origin.app import admin_part, create_app, origin_settings

        origin = origin_settings(settings)
        app = create_app(settings)
        return RoleApp(
            role,
            app,
            origin.listen,
            origin.access_log,
            CombinedLogFormat,
            admin_part(app),
            origin.drain_timeout,
        )
    if role == "edge":
        from edge.accesslog import EdgeLogFormat, TokenRedactor
        from edge.app import admin_part as edge_admin
        from edge.app import create_app as create_edge
        from edge.app import edge_settings

        edge, _ = edge_settings(settings)
        _redact(TokenRedactor())
        app = create_edge(settings)
        return RoleApp(
            role,
            app,
            edge.listen,
            edge.access_log,
            EdgeLogFormat,
            edge_admin(app),
            edge.drain_timeout,
        )
    if role == "locator":
        from locator.app import admin_part as locator_admin
        from locator.app import create_app as create_locator
        from locator.logs import GrantRedactor, LocatorLogFormat
        from locator.settings import locator_settings

        locator, _, _ = locator_settings(settings)
        _redact(GrantRedactor())
        app = create_locator(settings)
        return RoleApp(
            role,
            app,
            locator.listen,
            locator.access_log,
            LocatorLogFormat,
            locator_admin(app),
            locator.drain_timeout,
        )
    if role == "sync":
        from sync.app import admin_part as sync_admin
        from sync.app import create_app as create_sync

        app = create_sync(settings)
        return RoleApp(role, app, None, None, CombinedLogFormat, sync_admin(app), 30.0)
    raise ConfigError(settings.source, None, f"no such role {role!r}")


def _redact(redactor: logging.Filter) -> None:
    for name in _QUOTING_LOGGERS:
        logging.getLogger(name).addFilter(redactor)
