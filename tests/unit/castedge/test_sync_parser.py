"""``castedge sync`` runs the daemon, ``castedge sync status`` asks it; --config on either side."""

from __future__ import annotations

import pytest

from castedge.cli import build_parser
from castedge.sync_cli import cmd_sync_status, run_sync_role


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "status", "--config", "/etc/castedge/node.yaml"],
        ["sync", "--config", "/etc/castedge/node.yaml", "status"],
    ],
)
def test_status_takes_the_config_before_or_after_the_verb(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.func is cmd_sync_status
    assert args.config == "/etc/castedge/node.yaml"


def test_no_verb_runs_the_daemon() -> None:
    args = build_parser().parse_args(["sync", "--config", "/etc/castedge/castedge.yaml"])
    assert args.func is run_sync_role
    assert args.config == "/etc/castedge/castedge.yaml"


def test_status_without_config_falls_back_like_every_command() -> None:
    args = build_parser().parse_args(["sync", "status", "--sync", "http://127.0.0.1:9090"])
    assert args.config is None
    assert args.sync == "http://127.0.0.1:9090"
