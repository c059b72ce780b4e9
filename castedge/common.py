"""What every ``castedge`` subcommand shares: settings from --config."""

from __future__ import annotations

import argparse
import os

from config import Settings, config_path_from, load_settings

__all__ = ["config_path", "load_from_args"]


def config_path(args: argparse.Namespace) -> str:
    """The file named by ``--config``, ``$CASTEDGE_CONFIG`` or the default path."""
    return config_path_from(args.config, os.environ)


def load_from_args(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config``, ``$CASTEDGE_CONFIG`` or the default path."""
    return load_settings(config_path(args))
