"""``castedge demo`` (what ``make demo`` runs): it serves what it prints, counts, and cleans up."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.process import CASTEDGE

pytestmark = pytest.mark.e2e

#: The demo's admin listener is on its origin port + 10.
ADMIN_OFFSET = 10


def free_port() -> int:
    """A free port whose admin twin (+10) is free too, so the demo can bind both."""
    while True:
        with socket.socket() as s, socket.socket() as admin:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
            try:
                admin.bind(("127.0.0.1", port + ADMIN_OFFSET))
            except OSError:
                continue
            return port


@dataclass
class Demo:
    """A running ``castedge demo``: what it has printed so far, and how it ended."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    code: int | None = None

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def workdir(self) -> Path:
        found = re.search(r"cache in (\S+)", self.text)
        assert found is not None, self.text
        return Path(found[1])


@contextlib.contextmanager
def running_demo(*args: str) -> Iterator[Demo]:
    """Start ``castedge demo ARGS``, yield once both listeners are up, then Ctrl-C it."""
    proc = subprocess.Popen(
        [CASTEDGE, "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    demo = Demo(proc)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            demo.lines.append(line)
            if line.startswith("admin listening on"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # It makes its sample episodes first: slow on a busy two-core machine.
        assert ready.wait(180), demo.text
        yield demo
    finally:
        proc.send_signal(signal.SIGINT)
        demo.code = proc.wait(30)
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_demo_serves_the_episodes_it_lists_and_cleans_up() -> None:
    port = free_port()
    with running_demo("--episodes", "2", "--size-mb", "2", "--port", str(port)) as demo:
        text = demo.text
        episodes = re.findall(r"(http://127\.0\.0\.1:\d+/\S+\.mp3)\s+([0-9a-f]{64})", text)
        assert len(episodes) == 2, text
        workdir = demo.workdir
        assert workdir.is_dir()
        for url, digest in episodes:
            with urllib.request.urlopen(url, timeout=30) as resp:
                assert hashlib.sha256(resp.read()).hexdigest() == digest
    assert demo.code == 0
    lines = demo.lines
    assert not workdir.exists(), "Ctrl-C must remove the demo's temporary files"
    # Each episode was fetched whole once, by one listener: one download each, by the
    # one-minute rule (2 MB at 128 kbit/s is two minutes), read from the cached copy.
    table = "".join(lines)
    for url, _ in episodes:
        key = url.split("/", 3)[3]
        row = next((line.split() for line in lines if line.startswith(key)), None)
        assert row is not None and row[1:3] == ["1", "1"], table
    assert "128 kbps (cache)" in table


#: What each ready-to-paste command prints when it worked, told apart by what it asks.
_WORKED = {
    "-w '%{http_code}": "200 2000000 bytes",
    "-r 0-1": "HTTP/1.1 206 Partial Content",
    "-sI": "HTTP/1.1 200 OK",
    "/healthz": '"status": "ok"',
    "-X DELETE": '"removed": 1',
    "/admin/stats": '"since": ',
}


def _paste(command: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run a printed command as an operator's shell would, with no curlrc or CA overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURL_", "SSL_CERT_"))}
    return subprocess.run(  # noqa: S603 - the command is the demo's own output, run on purpose
        ["bash", "-o", "pipefail", "-c", command],  # noqa: S607 - as a pasted line runs
        capture_output=True,
        text=True,
        timeout=30,
        env=env | {"HOME": str(home)},
        check=False,
    )


def test_demo_tls_prints_commands_that_verify_with_its_ca_and_only_with_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    with running_demo("--tls", "--episodes", "1", "--size-mb", "2", "--port", str(port)) as demo:
        text = demo.text
        workdir = demo.workdir
        assert f"origin listening on https://127.0.0.1:{port}\n" in text
        assert f"admin listening on https://127.0.0.1:{port + ADMIN_OFFSET}\n" in text
        # The local S3 server too: the first miss below is filled through it.
        assert "S3-compatible server at https://127.0.0.1:" in text
        ca = workdir / "ca.pem"
        assert (workdir / "key.pem").stat().st_mode & 0o777 == 0o600
        tried = text[text.index("Try:") : text.index("Ctrl-C")]
        # Whole lines, comments and all, as they would be pasted.
        commands = [line.strip() for line in tried.splitlines() if line.strip().startswith("curl ")]
        assert len(commands) == len(_WORKED), tried
        for command in commands:
            # Every curl on the line, the healthz-and-metrics one has two.
            assert command.count("curl ") == command.count(f"curl --cacert {ca} "), command
            assert "http://" not in command, command
            expected = [out for asks, out in _WORKED.items() if asks in command]
            assert len(expected) == 1, command
            pasted = _paste(command, tmp_path)
            assert pasted.returncode == 0, (command, pasted.stderr)
            assert expected[0] in pasted.stdout, (command, pasted.stdout)

        # Without the demo's CA the certificate is not trusted: curl's exit 60 is
        # "peer certificate cannot be authenticated with known CA certificates".
        url = f"https://127.0.0.1:{port}/podcast/episode-001.mp3"
        plain = _paste(f"curl -sS -o /dev/null {url}", tmp_path)
        assert plain.returncode == 60, plain.stderr
        assert "certificate" in plain.stderr
    assert demo.code == 0
    assert not workdir.exists(), "Ctrl-C must remove the demo's CA, certificate and key"
