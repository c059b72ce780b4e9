"""A command that needs a settings file and finds none says where it looked and how to give one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from castedge.cli import main
from tests.support.process import CASTEDGE

pytestmark = pytest.mark.e2e

#: Each subcommand that reads the settings, with the arguments it needs to get that far.
COMMANDS = [
    ["serve"],
    ["origin"],
    ["edge"],
    ["locator"],
    ["sync"],
    ["sync", "status"],
    ["check-config"],
    ["status"],
    ["sign", "courses/py/ch01/a.mp4"],
    ["grant", "courses/py/", "--subject", "student-7"],
    ["revoke", "--subject", "student-7"],
    ["locate", "203.0.113.7"],
    ["fallback", "status"],
    ["maintenance", "status"],
    ["publish", "episode.mp3", "--prefix", "podcast/"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_each_command_says_where_it_looked_for_settings(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # In this process, for speed: main() is the console script's entry point itself.
    missing = tmp_path / "nowhere" / "castedge.yaml"
    monkeypatch.setenv("CASTEDGE_CONFIG", str(missing))
    monkeypatch.delenv("CASTEDGE_ADMIN_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exited:
        main(command)

    stderr = capsys.readouterr().err
    assert exited.value.code == 2, stderr
    assert stderr.startswith(
        f"castedge: no settings file at {missing} (named by $CASTEDGE_CONFIG)\n"
    ), stderr
    assert "give one with --config FILE or CASTEDGE_CONFIG=FILE" in stderr
    assert "config/example.yaml" in stderr


@pytest.mark.parametrize(
    ("args", "env", "why"),
    [
        (["--config", "{missing}"], {}, "named by --config"),
        ([], {"CASTEDGE_CONFIG": ""}, "the default: neither --config nor $CASTEDGE_CONFIG"),
    ],
)
def test_the_message_says_which_setting_named_the_file(
    tmp_path: Path, args: list[str], env: dict[str, str], why: str
) -> None:
    missing = str(tmp_path / "absent.yaml")
    full = {k: v for k, v in os.environ.items() if k != "CASTEDGE_CONFIG"} | env
    done = subprocess.run(
        [CASTEDGE, "status", *[a.format(missing=missing) for a in args]],
        env=full, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    if "--config" in args:
        assert done.stderr.startswith(f"castedge: no settings file at {missing} ({why})\n")
    elif not Path("/etc/castedge/castedge.yaml").exists():
        assert done.stderr.startswith(
            f"castedge: no settings file at /etc/castedge/castedge.yaml ({why}"
        ), done.stderr


def test_a_file_that_exists_but_is_wrong_is_named_with_its_key(tmp_path: Path) -> None:
    settings = tmp_path / "castedge.yaml"
    settings.write_text("origin:\n  listen: 127.0.0.1:80800\n")
    done = subprocess.run(
        [CASTEDGE, "status", "--config", str(settings)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"castedge: {settings}: origin.listen: ")
    assert "no settings file" not in done.stderr
