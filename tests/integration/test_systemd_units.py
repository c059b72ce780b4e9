"""The unit files pass systemd's own checker (with ExecStart pointed at this install)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parents[2] / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer"))
#: The units that run castedge itself; the others keep the GeoIP database current.
CASTEDGE_UNITS = [unit for unit in UNITS if unit.name.startswith("castedge")]
CASTEDGE = str(Path(sys.executable).with_name("castedge"))


def stand_in(tmp_path: Path, name: str) -> str:
    """An executable that does nothing, for a command this machine does not have."""
    found = shutil.which(name)
    if found is not None:
        return found
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    if unit in CASTEDGE_UNITS:
        assert "Type=notify" in unit.read_text(), "castedge services report readiness"
    # A timer is checked with the service it starts, as systemd loads them.
    group = [unit, unit.with_suffix(".service")] if unit.suffix == ".timer" else [unit]
    copies = []
    for each in group:
        text = each.read_text().replace("/usr/local/bin/castedge", CASTEDGE)
        text = text.replace("/usr/bin/geoipupdate", stand_in(tmp_path, "geoipupdate"))
        copy = tmp_path / each.name
        copy.write_text(text)
        copies.append(str(copy))
    # --man=no: the geoipupdate package brings the man pages its unit names.
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert unit.stem not in done.stderr, done.stderr


def test_one_unit_runs_the_whole_node_and_a_timer_keeps_geoip_current() -> None:
    assert [u.name for u in UNITS] == [
        "castedge.service",
        "geoipupdate.service",
        "geoipupdate.timer",
    ]


def test_the_timer_runs_weekly_with_a_random_delay() -> None:
    timer = (SYSTEMD / "geoipupdate.timer").read_text()
    assert "OnCalendar=Wed *-*-* 04:00:00" in timer
    assert "RandomizedDelaySec=6h" in timer
    service = (SYSTEMD / "geoipupdate.service").read_text()
    # The locator reloads the file itself: nothing restarts castedge after an update.
    commands = [line for line in service.splitlines() if line.startswith("Exec")]
    assert [c.split("=", 1)[1].split()[0] for c in commands] == ["/usr/bin/geoipupdate"]


@pytest.mark.parametrize("unit", CASTEDGE_UNITS, ids=[u.name for u in CASTEDGE_UNITS])
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


LOGROTATE = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if Path("/usr/sbin/logrotate").exists() else None
)


@pytest.mark.skipif(LOGROTATE is None, reason="logrotate not installed")
def test_after_logrotate_moves_the_log_castedge_writes_to_the_new_file(tmp_path: Path) -> None:
    from delivery.accesslog import access_logger

    logs = tmp_path / "log"
    logs.mkdir()
    config = tmp_path / "castedge.logrotate"
    text = (SYSTEMD / "castedge.logrotate").read_text()
    config.write_text(text.replace("/var/log/castedge/", f"{logs}/"))
    log = logs / "access.log"
    logger = access_logger(str(log))
    try:
        logger.info("before the rotation")
        assert LOGROTATE is not None
        done = subprocess.run(
            [LOGROTATE, "--force", "--state", str(tmp_path / "state"), str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        logger.info("after the rotation")
    finally:
        access_logger(None)
        logging.getLogger("castedge.access").disabled = False
    # `create` made the new file; the moved one is kept as it was (delaycompress).
    assert (logs / "access.log.1").read_text() == "before the rotation\n"
    assert log.read_text() == "after the rotation\n"
    assert oct(log.stat().st_mode & 0o777) == "0o640"
