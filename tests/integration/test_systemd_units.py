"""The unit files pass systemd's own checker (with ExecStart pointed at this install)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).parents[2] / "systemd").glob("*.service"))
CASTEDGE = str(Path(sys.executable).with_name("castedge"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text().replace("/usr/local/bin/castedge", CASTEDGE)
    assert "Type=notify" in text, "castedge services report readiness with sd_notify"
    copy = tmp_path / unit.name
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "castedge" not in done.stderr, done.stderr


def test_one_unit_runs_the_whole_node() -> None:
    assert [u.name for u in UNITS] == ["castedge.service"]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_every_command_in_a_unit_parses(unit: Path) -> None:
    from castedge.cli import build_parser

    commands = [
        line.split("=", 1)[1].split()
        for line in unit.read_text().splitlines()
        if line.startswith(("ExecStart=", "ExecStartPre="))
    ]
    assert commands, "a unit runs castedge"
    for command in commands:
        assert command[0] == "/usr/local/bin/castedge"
        args = build_parser().parse_args(command[1:])
        assert args.config == "/etc/castedge/castedge.yaml"
    assert commands[-1][1] == "serve"
