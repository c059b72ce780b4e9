"""Small real disks for tests: a tmpfs of a chosen size (needs root, as CI runs)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. "16m") on ``mount``; skip the test where we cannot."""
    mount.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot build a small disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, mode: str) -> None:
    """Remount ``mount`` ``ro`` or ``rw``: a disk that fails, or comes back."""
    # A fill may hold a file open there a moment longer; the remount waits for it.
    for _ in range(50):
        done = subprocess.run(
            ["mount", "-o", f"remount,{mode}", str(mount)], capture_output=True, check=False
        )
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"cannot remount {mount} {mode}: {done.stderr!r}")
