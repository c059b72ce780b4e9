"""What every ``castedge`` subcommand shares: settings from --config, the admin listener."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from config import Listen, Settings, config_path_from, load_settings, parse_duration

if TYPE_CHECKING:
    from publish.daemon import SyncDaemon

__all__ = [
    "TOKEN_VARIABLE",
    "admin_token",
    "admin_url",
    "config_path",
    "duration_arg",
    "load_from_args",
    "sync_daemon",
]

#: The environment variable the client commands read the admin token from.
TOKEN_VARIABLE = "CASTEDGE_ADMIN_TOKEN"  # noqa: S105 - a variable's name, not a token


def config_path(args: argparse.Namespace) -> str:
    """The file named by ``--config``, ``$CASTEDGE_CONFIG`` or the default path."""
    return config_path_from(args.config, os.environ)


def load_from_args(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config``, ``$CASTEDGE_CONFIG`` or the default path."""
    return load_settings(config_path(args))


def duration_arg(text: str) -> float:
    """An option's duration (``2h``, ``10m``, ``30s``) in seconds, greater than 0."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration greater than 0, got {text!r}")
    return seconds


def admin_url(listen: Listen) -> str:
    """The URL a command on the same machine reaches an admin listener on."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{listen.port}"


def admin_token(token_file: str | None, settings: Settings | None) -> str | None:
    """The admin token: ``--token-file``, else $CASTEDGE_ADMIN_TOKEN, else admin.token.

    Raises OSError when the token file cannot be read; the caller names it.
    """
    if token_file is not None:
        with open(token_file, encoding="utf-8") as file:
            return file.read().strip() or None
    from_env = os.environ.get(TOKEN_VARIABLE, "").strip()
    if from_env:
        return from_env
    if settings is not None and settings.admin.token is not None:
        return settings.admin.token.reveal()
    return None


def sync_daemon(url: str, token_file: str | None, settings: Settings | None) -> SyncDaemon:
    """A client of the sync daemon at ``url`` with the admin token; ValueError if unusable."""
    from publish.daemon import SyncDaemon

    try:
        token = admin_token(token_file, settings)
    except OSError as exc:
        raise ValueError(f"cannot read --token-file {token_file}: {exc.strerror or exc}") from None
    return SyncDaemon(url, token)
