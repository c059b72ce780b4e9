"""The balancer configs docs/scaling.md ships are valid for the HAProxy and nginx Debian has.

tests/e2e/test_scaling.py runs both in front of real edges; these checks say which
line is wrong, faster, and without a warning either.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.balancer import haproxy_config, nginx_command, nginx_config

EDGES = ["127.0.0.1:18081", "127.0.0.1:18082"]


def test_haproxy_accepts_the_shipped_config(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(18080, EDGES, tmp_path / "haproxy.sock"))
    done = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # Neither a warning: HAProxy prints one for a directive it ignores.
    assert "WARNING" not in done.stdout + done.stderr


def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    config.write_text(nginx_config(18080, EDGES, tmp_path))
    done = subprocess.run(
        [nginx_command(), "-t", "-p", str(tmp_path), "-c", str(config)]
        + ["-e", str(tmp_path / "nginx-error.log")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "[warn]" not in done.stderr
