"""``castedge install-units`` puts a node's files in place, from a checkout and from a build."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import CASTEDGE

ROOT = Path(__file__).parents[2]

#: Where each shipped file goes, and its mode.
EXPECTED = {
    "etc/systemd/system/castedge.service": (ROOT / "systemd/castedge.service", 0o644),
    "etc/systemd/system/geoipupdate.service": (ROOT / "systemd/geoipupdate.service", 0o644),
    "etc/systemd/system/geoipupdate.timer": (ROOT / "systemd/geoipupdate.timer", 0o644),
    "etc/logrotate.d/castedge": (ROOT / "systemd/castedge.logrotate", 0o644),
    "etc/sysctl.d/60-castedge.conf": (ROOT / "systemd/castedge-sysctl.conf", 0o644),
    "etc/castedge/castedge.yaml": (ROOT / "config/example.yaml", 0o644),
    "etc/castedge/castedge.env": (ROOT / "systemd/castedge.env", 0o600),
}


def install_units(
    *args: str, command: list[str] | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(command or [CASTEDGE]), "install-units", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def files_under(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_every_file_goes_in_place_with_its_mode(tmp_path: Path) -> None:
    done = install_units("--prefix", str(tmp_path))

    assert done.returncode == 0, done.stderr
    assert files_under(tmp_path) == {name: mode for name, (_, mode) in EXPECTED.items()}
    for name, (source, _) in EXPECTED.items():
        installed = (tmp_path / name).read_text()
        if name.endswith("castedge.service"):
            # The unit runs the castedge that installed it, wherever pip put it.
            assert installed == source.read_text().replace("/usr/local/bin/castedge", CASTEDGE)
        else:
            assert installed == source.read_text(), name
        assert f"installed {tmp_path / name}" in done.stdout
    assert f"the units run {CASTEDGE}" in done.stdout
    assert "systemctl daemon-reload && systemctl enable --now castedge" in done.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_installed_unit_verifies(tmp_path: Path) -> None:
    assert install_units("--prefix", str(tmp_path)).returncode == 0
    unit = tmp_path / "etc/systemd/system/castedge.service"
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_second_run_keeps_the_operators_files_and_restores_the_units(tmp_path: Path) -> None:
    assert install_units("--prefix", str(tmp_path)).returncode == 0
    settings = tmp_path / "etc/castedge/castedge.yaml"
    secrets = tmp_path / "etc/castedge/castedge.env"
    unit = tmp_path / "etc/systemd/system/geoipupdate.timer"
    settings.write_text("origin: {listen: 0.0.0.0:8080}\n")
    secrets.write_text("CASTEDGE_ADMIN_TOKEN=the-real-one-0123456789\n")
    unit.write_text("[Timer]\nOnCalendar=hourly\n")

    done = install_units("--prefix", str(tmp_path))

    assert done.returncode == 0, done.stderr
    assert settings.read_text() == "origin: {listen: 0.0.0.0:8080}\n"
    assert secrets.read_text() == "CASTEDGE_ADMIN_TOKEN=the-real-one-0123456789\n"
    assert f"kept {settings} (yours, left as it is)" in done.stdout
    assert f"kept {secrets} (yours, left as it is)" in done.stdout
    assert unit.read_text() == (ROOT / "systemd/geoipupdate.timer").read_text()
    assert f"updated {unit}" in done.stdout
    assert f"unchanged {tmp_path / 'etc/logrotate.d/castedge'}" in done.stdout
    assert "the-real-one" not in done.stdout + done.stderr


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    done = install_units("--prefix", str(tmp_path), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
    assert f"would install {tmp_path / 'etc/castedge/castedge.env'}" in done.stdout


def test_a_place_it_cannot_write_is_one_line_naming_it(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    done = install_units("--prefix", str(blocked))
    assert done.returncode == 1
    unit = blocked / "etc/systemd/system/castedge.service"
    assert done.stderr == f"castedge install-units: cannot write {unit}: Not a directory\n"


def test_a_built_package_carries_the_files_and_installs_them(tmp_path: Path) -> None:
    """What a wheel holds is what build_py copies: files, where the checkout has links."""
    tree = tmp_path / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in a commit
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, tree / name, follow_symlinks=False)
    assert (tree / "castedge/data/castedge.service").is_symlink()
    built = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
         "build_py", "--build-lib", str(built)],
        cwd=tree, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    data = built / "castedge/data"
    assert not (data / "castedge.service").is_symlink()
    assert (data / "castedge.service").read_text() == (
        ROOT / "systemd/castedge.service"
    ).read_text()

    # Run it from the build alone: another directory, nothing of the checkout on the path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(built)}
    python = [sys.executable, "-m", "castedge.cli"]
    where = subprocess.run(
        [sys.executable, "-c", "import castedge.install_units as m; print(m.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(built))
    root = tmp_path / "root"
    done = subprocess.run(
        [*python, "install-units", "--prefix", str(root)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert files_under(root) == {name: mode for name, (_, mode) in EXPECTED.items()}
