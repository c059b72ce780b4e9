"""The ``castedge`` command: one subcommand per role."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from castedge.common import load_from_args, run_service, setup_logging
from castedge.edge_cli import add_edge_commands
from castedge.locator_cli import add_locator_commands
from castedge.switch_cli import add_switch_commands
from config import ConfigError, config_path_from, load_settings

__all__ = ["main"]

log = logging.getLogger("castedge")


def cmd_origin(args: argparse.Namespace) -> int:
    settings = load_from_args(args)
    setup_logging(settings.log_level)
    workers = settings.origin.workers or os.cpu_count() or 1
    if workers > 1 and not args.worker:
        from castedge.supervisor import Supervisor

        return Supervisor(
            role="origin",
            config_path=config_path_from(args.config, os.environ),
            count=workers,
            listens=[("origin", settings.origin.listen), ("admin", settings.admin.listen)],
            drain_timeout=settings.origin.drain_timeout,
        ).run()
    from origin.service import run_origin

    return run_service("origin", run_origin(settings, worker=args.worker))


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or config_path_from(args.config, os.environ)
    settings = load_settings(path)
    where = settings.storage.s3.bucket if settings.storage.s3 else settings.storage.dir
    print(f"{path}: OK (storage {where}, cache {settings.cache.dir})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging("info")
    from castedge.demo import run_demo

    return run_service(
        "demo", run_demo(episodes=args.episodes, size_mb=args.size_mb, port=args.port)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="castedge", description="Self-hosted edge media delivery and caching."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            metavar="FILE",
            help="settings file (default: $CASTEDGE_CONFIG, then /etc/castedge/castedge.yaml)",
        )
        return p

    p = with_config(sub.add_parser("origin", help="run the podcast pull-through cache"))
    # Set by the supervisor on the processes it starts (origin.workers > 1).
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_origin)

    p = with_config(sub.add_parser("check-config", help="validate a settings file and exit"))
    p.add_argument("file", nargs="?", help="the file to check (default: as --config)")
    p.set_defaults(func=cmd_check_config)

    add_switch_commands(sub, with_config)
    add_edge_commands(sub, with_config)
    add_locator_commands(sub, with_config)

    p = sub.add_parser("demo", help="run an origin against a local S3 server with sample media")
    p.add_argument("--episodes", type=int, default=3, help="sample episodes (default 3)")
    p.add_argument("--size-mb", type=int, default=30, help="episode size in MB (default 30)")
    p.add_argument("--port", type=int, default=8080, help="origin port (default 8080)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``castedge`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ConfigError as exc:
        print(f"castedge: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
