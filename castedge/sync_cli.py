"""``castedge sync``: run the sync daemon, or (``castedge sync status``) ask it how far it is."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from castedge.common import (
    TOKEN_VARIABLE,
    admin_token_from,
    admin_url,
    config_path,
    load_from_args,
    sync_daemon,
)
from config import Settings

__all__ = ["add_sync_commands", "run_sync_role"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def run_sync_role(args: argparse.Namespace) -> int:
    """``castedge sync --config FILE``: the file's sync daemon alone, as ``castedge serve``."""
    from runtime.launch import serve_node

    return serve_node(config_path(args), only="sync")


def cmd_sync_status(args: argparse.Namespace) -> int:
    from publish.errors import DaemonError, DaemonRefused, DaemonUnreachable
    from publish.sync_table import status_lines

    # With --sync and a token from elsewhere, no settings file is needed.
    token_known = args.token_file is not None or bool(os.environ.get(TOKEN_VARIABLE, "").strip())
    settings: Settings | None = None
    if args.sync is None or not token_known:
        settings = load_from_args(args)
    url = (args.sync or admin_url(settings.admin)) if settings else args.sync
    try:
        daemon = sync_daemon(url, args.token_file, settings)
    except ValueError as exc:
        print(f"castedge sync status: {exc}", file=sys.stderr)
        return 2
    try:
        status = daemon.status()
    except DaemonUnreachable as exc:
        reason = exc.reason.removeprefix("unreachable: ")
        print(
            f"castedge sync status: no sync daemon answered at {exc.url} ({reason})",
            file=sys.stderr,
        )
        return 1
    except DaemonError as exc:
        print(f"castedge sync status: {exc}", file=sys.stderr)
        if isinstance(exc, DaemonRefused):
            where = admin_token_from(args.token_file, settings)[1]
            print(f"castedge sync status: the admin token was {where}", file=sys.stderr)
        return 1
    for line in status_lines(status, time.time()):
        print(line)
    return 0


def add_sync_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds ``castedge sync`` and ``castedge sync status`` to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "sync",
            help="run the sync daemon (castedge serve, this role only), or ask it how far it is",
            description=(
                "Without a verb, run the file's sync daemon: it gets every region to hold "
                "every object of the main bucket. 'castedge sync status' asks a running one."
            ),
        )
    )
    p.set_defaults(func=run_sync_role)
    verbs = p.add_subparsers(dest="verb", metavar="[status]")
    status = verbs.add_parser(
        "status",
        help="a table of every region: healthy, held, pending, last error, last success",
        description=(
            "Ask the running sync daemon for each region's progress and print it as a table. "
            "Exits 1 when no daemon answers."
        ),
    )
    # SUPPRESS: given before the verb ("castedge sync --config F status") it still counts.
    status.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (default: $CASTEDGE_CONFIG, then /etc/castedge/castedge.yaml)",
    )
    status.add_argument(
        "--sync",
        metavar="URL",
        help="the sync daemon's admin listener (default: the file's admin.listen)",
    )
    status.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"a file holding the admin token (default: ${TOKEN_VARIABLE}, then admin.token)",
    )
    status.set_defaults(func=cmd_sync_status)
