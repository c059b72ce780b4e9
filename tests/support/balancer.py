"""The balancer configs of docs/scaling.md, run for real on loopback in front of edges.

The configs are read from the document itself, so what the tests run is what an
operator copies; only addresses and check intervals are put in, and each of those
substitutions must find its line, or the test fails saying which.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCALING = REPO / "docs" / "scaling.md"
HOST = "127.0.0.1"


def shipped(language: str) -> str:
    """The one fenced block of ``language`` (haproxy, nginx) in docs/scaling.md."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", SCALING.read_text(), re.M | re.S)
    assert len(blocks) == 1, f"docs/scaling.md has {len(blocks)} {language} blocks, not one"
    return str(blocks[0])


def substitute(text: str, pattern: str, replacement: str, *, count: int = 1) -> str:
    """``re.sub`` that insists on ``count`` matches: the document must still say it."""
    result, found = re.subn(pattern, replacement, text, flags=re.M)
    assert found == count, f"docs/scaling.md: expected {count} line(s) matching {pattern!r}"
    return result


def free_port() -> int:
    """A port free now; the caller retries if someone takes it before it binds."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def haproxy_config(port: int, edges: list[str], stats: Path) -> str:
    """docs/scaling.md's HAProxy config on ``port``, in front of ``edges`` (host:port)."""
    text = shipped("haproxy")
    text = substitute(text, r"^    bind :8081$", f"    bind {HOST}:{port}")
    # Checks every 100 ms, one failure down: a stopped edge leaves the ring at once.
    text = substitute(text, r"inter 2s fall 3 rise 2", "inter 100ms fall 1 rise 1")
    lines = "\n".join(
        f"    server edge-{chr(ord('a') + n)} {edge} id {n + 1}" for n, edge in enumerate(edges)
    )
    text = substitute(text, r"^    server edge-a .*\n    server edge-b .*$", lines)
    # Debian's global section, less what needs root: the user, the chroot, syslog.
    head = f"global\n    log stderr format short local0 notice\n    stats socket {stats}\n\n"
    return head + text


@dataclass
class HAProxy:
    """``haproxy -db`` with a generated config; stopped by its pid."""

    edges: list[str]
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "haproxy.log"
        self.stats = self.workdir / "haproxy.sock"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 15.0) -> HAProxy:
        command = shutil.which("haproxy") or "/usr/sbin/haproxy"
        for _ in range(5):
            self.port = free_port()
            config = self.workdir / "haproxy.cfg"
            config.write_text(haproxy_config(self.port, self.edges, self.stats))
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [command, "-db", "-f", str(config)], stdout=log, stderr=log
                )
            if self.wait_up(timeout):
                return self
            self.stop()
            if "cannot bind" not in self.log.read_text():
                break
        raise AssertionError(f"haproxy did not start:\n{self.log.read_text()}")

    def wait_up(self, timeout: float) -> bool:
        """Until every edge is UP in HAProxy's own view (its stats socket)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            states = self.states()
            if states and all(state == "UP" for state in states.values()):
                return True
            time.sleep(0.05)
        return False

    def states(self) -> dict[str, str]:
        """Each edge's check status as HAProxy has it (UP, DOWN, ...); {} if it is not up."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.stats))
                sock.sendall(b"show stat\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return {}
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        found = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "castedge_edges" and row.get("svname", "").startswith("edge-"):
                found[row["svname"]] = row.get("status", "")
        return found

    def wait_state(self, edge: str, state: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.states().get(edge) != state:
            assert time.monotonic() < deadline, f"{edge} not {state}: {self.states()}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def nginx_config(port: int, edges: list[str], workdir: Path) -> str:
    """docs/scaling.md's nginx config on ``port`` in front of ``edges``, as a whole file."""
    text = shipped("nginx")
    text = substitute(text, r"^    listen 8081;$", f"    listen {HOST}:{port};")
    lines = "\n".join(f"    server {edge} max_fails=3 fail_timeout=10s;" for edge in edges)
    text = substitute(text, r"^    server 10\.0\.1\.11:.*\n    server 10\.0\.1\.12:.*$", lines)
    return (
        f"pid {workdir}/nginx.pid;\nerror_log {workdir}/nginx-error.log;\n"
        "events {}\n"
        f"http {{\n    access_log off;\n    client_body_temp_path {workdir};\n"
        f"    proxy_temp_path {workdir};\n{text}}}\n"
    )


def nginx_command() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Nginx:
    """nginx in the foreground with docs/scaling.md's config; stopped by its pid."""

    edges: list[str]
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self, config: Path, *extra: str) -> list[str]:
        log = self.workdir / "nginx-error.log"
        return [nginx_command(), "-p", str(self.workdir), "-c", str(config), "-e", str(log), *extra]

    def start(self, timeout: float = 15.0) -> Nginx:
        log = self.workdir / "nginx-error.log"
        for _ in range(5):
            self.port = free_port()
            config = self.workdir / "nginx.conf"
            config.write_text(nginx_config(self.port, self.edges, self.workdir))
            self.proc = subprocess.Popen(
                self.command(config, "-g", "daemon off;"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._answers(timeout):
                return self
            self.stop()
            if "Address already in use" not in log.read_text():
                break
        raise AssertionError(f"nginx did not start:\n{log.read_text()}")

    def _answers(self, timeout: float) -> bool:
        """Until its /healthz, passed to an edge, answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
