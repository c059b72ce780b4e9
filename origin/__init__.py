"""The origin: the podcast pull-through cache service (``castedge origin``)."""

from .app import admin_part, create_admin_app, create_app, origin_settings

__all__ = ["admin_part", "create_admin_app", "create_app", "origin_settings"]
