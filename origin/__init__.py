"""The origin: the podcast pull-through cache service (``castedge origin``)."""

from .app import create_admin_app, create_app

__all__ = ["create_admin_app", "create_app"]
