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


def test_there_is_a_unit_for_the_origin() -> None:
    assert "castedge-origin.service" in [u.name for u in UNITS]
