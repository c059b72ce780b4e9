"""``castedge install-units`` puts a node's files in place, from a checkout and from a build."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from castedge.install_units import PLACEMENTS
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
    # The files to edit are the ones just placed; the rest runs where they are /etc.
    etc = tmp_path / "etc/castedge"
    assert f"next: edit {etc}/castedge.yaml and {etc}/castedge.env, then\n" in done.stdout
    assert "on the machine that runs from it:\n" in done.stdout


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


def _checkout_copy(tree: Path) -> None:
    """The files git knows (committed or not), links kept as links, as a clean clone has."""
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


def test_the_wheel_installs_and_runs_from_a_fresh_venv(tmp_path: Path) -> None:
    """``python -m build`` makes a wheel that carries every file install-units places.

    The wheel goes into a new venv with --no-deps; the dependencies come from this
    venv's site-packages (by a .pth line, which loads no .pth of its own, so the
    checkout's editable install stays out), and nothing of the checkout is on the path.
    """
    tree = tmp_path / "src"
    _checkout_copy(tree)
    assert (tree / "castedge/data/castedge.service").is_symlink()
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
         str(tree)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    (wheel,) = dist.glob("castedge-*.whl")
    assert wheel.name.startswith(f"castedge-{version}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        # Files, not links: a wheel keeps no symbolic link.
        shipped = archive.read("castedge/data/castedge.service")
    assert {f"castedge/data/{p.source}" for p in PLACEMENTS} <= names
    assert "castedge/data/grafana-dashboard.json" in names
    assert shipped == (ROOT / "systemd/castedge.service").read_bytes()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)  # fmt: skip
    python = venv / "bin/python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    ours = next(p for p in map(Path, sys.path) if (p / "aiohttp").is_dir())
    (Path(site) / "castedge-test-deps.pth").write_text(f"{ours}\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    castedge = venv / "bin/castedge"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CASTEDGE_CONFIG")}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(castedge), *args], cwd=tmp_path, env=env | extra,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    done = run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"castedge {version}\n"
    where = subprocess.run(
        [python, "-c", "import castedge; print(castedge.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv))

    root = tmp_path / "root"
    done = run("install-units", "--prefix", str(root))
    assert done.returncode == 0, done.stderr
    assert files_under(root) == {name: mode for name, (_, mode) in EXPECTED.items()}
    unit = (root / "etc/systemd/system/castedge.service").read_text()
    assert f"ExecStart={castedge} serve" in unit
    assert "/usr/local/bin/castedge" not in unit
    assert f"the units run {castedge}" in done.stdout

    # The example it placed is a whole node, once its secrets are given.
    secrets = {
        "CASTEDGE_ADMIN_TOKEN": "an-admin-token-0123456789",
        "CASTEDGE_SIGNING_KEY_2025A": "a" * 43,
        "CASTEDGE_SIGNING_KEY_2025B": "b" * 43,
    }
    settings = root / "etc/castedge/castedge.yaml"
    done = run("check-config", str(settings), **secrets)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{settings}: OK, roles: origin, edge, locator\n")
