"""The ``castedge`` command: parse the arguments, call a role or a client, print."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from castedge import __version__
from castedge.common import config_path, settings_hint
from castedge.edge_cli import add_edge_commands
from castedge.install_cli import add_install_commands
from castedge.locator_cli import add_locator_commands
from castedge.publish_cli import add_publish_commands
from castedge.stats_cli import add_stats_commands
from castedge.status_cli import add_status_commands
from castedge.switch_cli import add_switch_commands
from castedge.sync_cli import add_sync_commands
from config import (
    CACHING_ROLES,
    ROLES,
    ConfigError,
    Settings,
    exposure_warnings,
    load_settings,
    role_cache,
    role_prefixes,
    roles_in,
)
from config.units import format_size

__all__ = ["main"]

_ROLE_HELP = {
    "origin": "the podcast pull-through cache",
    "edge": "a video edge for signed URLs",
    "locator": "the locator, which sends players to the nearest healthy region",
    "sync": "the replication daemon: every region holds what the bucket holds",
}


def cmd_serve(args: argparse.Namespace) -> int:
    from runtime.launch import serve_node, serve_worker

    only = args.only
    if args.worker is not None:
        return serve_worker(config_path(args), args.worker, only=only)
    return serve_node(config_path(args), only=only)


def cmd_check_config(args: argparse.Namespace) -> int:
    import datetime as dt

    from runtime.https import check_tls, tls_warnings
    from runtime.roles import check_role, roles_to_run

    path = args.file or config_path(args)
    settings = load_settings(path)
    roles = roles_to_run(settings, args.role) if args.role or roles_in(settings) else ()
    for role in roles:
        check_role(settings, role)
    check_tls(settings, roles)
    now = dt.datetime.now(dt.UTC)
    for warning in [*exposure_warnings(settings), *tls_warnings(settings, roles, now)]:
        print(f"warning: {warning}", file=sys.stderr)
    if not roles:
        print(f"{path}: OK, no role to run (a file for the commands that sign and revoke)")
        return 0
    print(f"{path}: OK, roles: {', '.join(roles)}")
    for role in roles:
        print(f"  {role}: {_describe(settings, role)}")
    return 0


def _describe(settings: Settings, role: str) -> str:
    section = getattr(settings, role)
    if role == "sync":
        watched = ", ".join(section.prefixes) or "every key"
        regions = len(settings.regions or ())
        plural = "" if regions == 1 else "s"
        return f"watches {watched} every {section.interval:g} s for {regions} region{plural}"
    parts = [f"listen {'https' if section.tls else 'http'}://{section.listen}"]
    if section.tls is not None and section.tls.redirect_http is not None:
        parts.append(f"redirect http://{section.tls.redirect_http}")
    if role in CACHING_ROLES:
        cache = role_cache(settings, role)
        prefixes = ", ".join(p for p in role_prefixes(settings, role) if p) or "every key"
        parts += [f"serves {prefixes}", f"cache {cache.dir} ({format_size(cache.max_size)})"]
    workers = section.workers or "auto"
    parts.append(f"workers {workers}")
    return "; ".join(parts)


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from castedge.demo import ChildFailed, run_demo
    from runtime.launch import run_service, setup_logging

    setup_logging("warning")
    data = Path(args.data) if args.data else None
    manifest = Path(args.manifest).absolute() if args.manifest else None
    try:
        return run_service("demo", run_demo(data=data, manifest_path=manifest, tls=args.tls))
    except ChildFailed as exc:
        print(f"castedge demo: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="castedge", description="Self-hosted edge media delivery and caching."
    )
    parser.add_argument("--version", action="version", version=f"castedge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            metavar="FILE",
            help="settings file (default: $CASTEDGE_CONFIG, then /etc/castedge/castedge.yaml)",
        )
        return p

    p = with_config(
        sub.add_parser(
            "serve",
            help="run every role the settings file configures, as one node",
            description=(
                "Run every role whose section the file has (origin, edge, locator, sync) "
                "under one supervisor, with one admin listener."
            ),
        )
    )
    # Set by the supervisor on the processes it starts.
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--role", dest="only", choices=ROLES, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_serve)

    for role, what in _ROLE_HELP.items():
        if role == "sync":
            continue
        p = with_config(
            sub.add_parser(
                role,
                help=f"run {what} (castedge serve, this role only)",
                description=(
                    f"Run only the {role} section of the settings file: {what}, under the "
                    "supervisor and with the admin listener, as castedge serve runs it."
                ),
            )
        )
        p.set_defaults(func=cmd_serve, worker=None, only=role)

    p = with_config(
        sub.add_parser(
            "check-config",
            help="validate a settings file and every role it configures, and exit",
        )
    )
    p.add_argument("file", nargs="?", help="the file to check (default: as --config)")
    p.add_argument("--role", choices=ROLES, help="check only this role")
    p.set_defaults(func=cmd_check_config)

    add_switch_commands(sub, with_config)
    add_edge_commands(sub, with_config)
    add_locator_commands(sub, with_config)
    add_publish_commands(sub, with_config)
    add_sync_commands(sub, with_config)
    add_install_commands(sub)
    add_stats_commands(sub, with_config)
    add_status_commands(sub, with_config)

    p = sub.add_parser(
        "demo",
        help="the eight-region fleet on loopback, with a local S3 server and sample media",
        description=(
            "Start a local S3 server with sample media, the origin, an edge per region, the "
            "sync daemon and the locator, each a castedge process on loopback; print where "
            "each listens and commands to try; stop them all on Ctrl-C or SIGTERM."
        ),
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="keep the bucket, caches, settings files and secrets in DIR for the next run "
        "(default: a temporary directory, removed at the end)",
    )
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="write every service's URL and sample signed URLs to FILE as JSON once ready",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS, with a certificate from a local CA made for the demo",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``castedge`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other tools do, and keep
        # Python's flush at exit from failing on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except ConfigError as exc:
        if exc.key is None and exc.line is None and not os.path.lexists(exc.source):
            print(settings_hint(args, exc.source), file=sys.stderr)
        else:
            print(f"castedge: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
