"""schemathesis against the live admin listener: no input makes it answer 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import CastedgeProcess

pytestmark = pytest.mark.e2e

SCHEMA = Path(__file__).parents[2] / "docs" / "admin-openapi.yaml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
TOKEN = "fuzz-admin-token-0123456789"


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
@pytest.mark.parametrize("auth", ["token", "none"])
def test_admin_api_never_answers_5xx(tmp_path: Path, auth: str) -> None:
    media = tmp_path / "srv"
    (media / "podcast").mkdir(parents=True)
    (media / "podcast" / "a.mp3").write_bytes(b"a" * 1000)
    proc = CastedgeProcess(
        "origin",
        {
            "storage": {"dir": str(media)},
            "cache": {"dir": str(tmp_path / "cache"), "max_size": "100MB"},
            "origin": {"listen": "127.0.0.1:0", "access_log": None},
            "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        },
        tmp_path,
    ).start()
    headers = ["-H", f"Authorization: Bearer {TOKEN}"] if auth == "token" else []
    checks = "not_a_server_error" if auth == "token" else "not_a_server_error,ignored_auth"
    try:
        done = subprocess.run(
            [
                str(SCHEMATHESIS), "run", str(SCHEMA), "--url", proc.urls["admin"], *headers,
                "--checks", checks, "--max-examples", "15", "--seed", "1",
                "--max-time", "20", "--request-timeout", "10", "--workers", "2",
                "--phases", "examples,coverage,fuzzing",
            ],
            capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )  # fmt: skip
        report = done.stdout[-4000:] + done.stderr[-2000:]
        assert done.returncode == 0, report
        assert "No issues found" in done.stdout or "passed" in done.stdout.lower(), report
    finally:
        assert proc.stop() == 0
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
