"""What every ``castedge`` subcommand shares: settings from --config, logging, running."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any

from config import Settings, config_path_from, load_settings

__all__ = ["load_from_args", "run_service", "setup_logging"]


def load_from_args(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config``, ``$CASTEDGE_CONFIG`` or the default path."""
    return load_settings(config_path_from(args.config, os.environ))


def setup_logging(level: str = "info") -> None:
    """Operational messages to stderr (the journal under systemd)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_service(role: str, main: Coroutine[Any, Any, None]) -> int:
    """Run a service's main coroutine on uvloop (only the CLI installs it).

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
