"""What every ``castedge`` subcommand shares: settings from --config, the admin listener."""

from __future__ import annotations

import argparse
import os
import ssl
import stat
import sys
from typing import TYPE_CHECKING

from config import (
    DEFAULT_CONFIG_PATH,
    AdminSettings,
    Settings,
    config_path_from,
    load_settings,
    parse_duration,
)
from config.load import CONFIG_PATH_VARIABLE

if TYPE_CHECKING:
    from publish.daemon import SyncDaemon

__all__ = [
    "TOKEN_VARIABLE",
    "admin_token",
    "admin_token_from",
    "admin_url",
    "client_ssl",
    "config_path",
    "duration_arg",
    "load_from_args",
    "settings_hint",
    "sync_daemon",
    "token_file_arg",
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


def admin_url(admin: AdminSettings) -> str:
    """The URL a command on the same machine reaches an admin listener on."""
    listen = admin.listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(listen.host, listen.host)
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if admin.tls is not None else "http"
    return f"{scheme}://{host}:{listen.port}"


def client_ssl(settings: Settings | None, url: str) -> ssl.SSLContext | None:
    """How a command verifies ``url``: None for http; for https, a verifying context.

    The node's own admin listener, reached on a loopback address its certificate
    need not name, is verified against exactly the certificate in ``admin.tls.cert``
    (pinned); any other URL against the system's CAs and ``ca_bundle``.
    """
    if not url.startswith("https://"):
        return None
    from tls.context import client_context

    tls = settings.admin.tls if settings is not None else None
    if settings is not None and tls is not None and url.rstrip("/") == admin_url(settings.admin):
        pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            pinned.load_verify_locations(cafile=str(tls.cert))
        except (OSError, ssl.SSLError):
            # Unreadable here: verify as for any other URL, which fails clearly if need be.
            return client_context(settings.ca_bundle)
        # The certificate itself is the trust anchor, so the name it carries is moot.
        pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        pinned.check_hostname = False
        return pinned
    return client_context(settings.ca_bundle if settings is not None else None)


def admin_token(token_file: str | None, settings: Settings | None) -> str | None:
    """The admin token: ``--token-file``, else $CASTEDGE_ADMIN_TOKEN, else admin.token.

    Raises OSError when the token file cannot be read; the caller names it.
    """
    return admin_token_from(token_file, settings)[0]


def admin_token_from(token_file: str | None, settings: Settings | None) -> tuple[str | None, str]:
    """The admin token and where it came from, in words for a message; see admin_token.

    A token file other users can read is used, with a warning on stderr: the token
    opens every admin endpoint of the fleet.
    """
    if token_file is not None:
        with open(token_file, encoding="utf-8") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            token = file.read().strip() or None
        if mode & 0o077:
            print(
                f"castedge: warning: --token-file {token_file} can be read by other users "
                f"(mode {mode:04o}): chmod 600 {token_file}",
                file=sys.stderr,
            )
        return token, f"read from --token-file {token_file}"
    from_env = os.environ.get(TOKEN_VARIABLE, "").strip()
    if from_env:
        return from_env, f"read from ${TOKEN_VARIABLE}"
    if settings is not None and settings.admin.token is not None:
        return settings.admin.token.reveal(), f"read from admin.token in {settings.source}"
    return None, f"missing: give --token-file FILE, or set ${TOKEN_VARIABLE} or admin.token"


def token_file_arg(p: argparse.ArgumentParser) -> None:
    """Adds ``--token-file`` to an admin command, its help naming what it reads instead."""
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"a file holding the admin token, mode 0600 "
        f"(default: ${TOKEN_VARIABLE}, then admin.token of the settings file)",
    )


def settings_hint(args: argparse.Namespace, source: str) -> str:
    """Where a command looked for a settings file it did not find, and how to give one."""
    if getattr(args, "config", None) == source:
        why = "named by --config"
    elif os.environ.get(CONFIG_PATH_VARIABLE) == source:
        why = f"named by ${CONFIG_PATH_VARIABLE}"
    elif source == DEFAULT_CONFIG_PATH:
        why = f"the default: neither --config nor ${CONFIG_PATH_VARIABLE} was given"
    else:
        why = "named on the command line"
    from importlib import resources

    example = resources.files("castedge") / "data" / "castedge.yaml"
    return (
        f"castedge: no settings file at {source} ({why})\n"
        f"  give one with --config FILE or {CONFIG_PATH_VARIABLE}=FILE\n"
        f"  start from config/example.yaml (this package's copy: {example}),\n"
        f"  or run `castedge install-units`, which puts it at {DEFAULT_CONFIG_PATH}"
    )


def sync_daemon(url: str, token_file: str | None, settings: Settings | None) -> SyncDaemon:
    """A client of the sync daemon at ``url`` with the admin token; ValueError if unusable."""
    from publish.daemon import SyncDaemon

    try:
        token = admin_token(token_file, settings)
    except OSError as exc:
        raise ValueError(f"cannot read --token-file {token_file}: {exc.strerror or exc}") from None
    return SyncDaemon(url, token, ssl_context=client_ssl(settings, url))
