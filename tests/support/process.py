"""Running the real ``castedge`` command as a subprocess, the way an operator would."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

CASTEDGE = str(Path(sys.executable).with_name("castedge"))
_LISTENING = re.compile(r"^(\w+) listening on (https?://\S+)$")


class CastedgeProcess:
    """``castedge <role> --config FILE`` with its stdout watched for listening lines."""

    def __init__(
        self,
        role: str,
        config: dict[str, Any],
        workdir: Path,
        *,
        expect: int = 2,
        env: dict[str, str] | None = None,
        ca: Path | None = None,
    ):
        self.role = role
        self.config_path = workdir / f"{role}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.workdir = workdir
        self.expect = expect
        self.urls: dict[str, str] = {}
        self.proc: subprocess.Popen[str] | None = None
        self.stderr_path = workdir / f"{role}.stderr.log"
        self.extra_env = env or {}
        #: The CA an https admin listener's certificate is verified with.
        self.context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
        self._ready = threading.Event()

    def start(self, timeout: float = 20.0) -> CastedgeProcess:
        self.launch()
        return self.await_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (start several, then await each)."""
        self.urls = {}
        env = dict(os.environ) | self.extra_env
        with open(self.stderr_path, "a") as stderr:
            self.proc = subprocess.Popen(
                [CASTEDGE, self.role, "--config", str(self.config_path)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                # Its own process group: the supervisor and its workers, to freeze together.
                start_new_session=True,
            )
        ready = self._ready = threading.Event()

        def watch() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                m = _LISTENING.match(line.strip())
                if m:
                    self.urls[m[1]] = m[2]
                    if len(self.urls) >= self.expect:
                        ready.set()

        threading.Thread(target=watch, daemon=True).start()

    def await_ready(self, timeout: float = 20.0) -> CastedgeProcess:
        """Wait for the listening lines, then for /healthz to answer 200."""
        if not self._ready.wait(timeout):
            self.stop()
            raise AssertionError(f"{self.role} did not start:\n{self.stderr()}")
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        url = self.urls["admin"] + "/healthz"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2, context=self.context) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never became healthy:\n{self.stderr()}")
            time.sleep(0.05)

    def admin_json(self, path: str) -> Any:
        """GET ``path`` on the admin listener and decode its JSON, whatever the status."""
        try:
            with urllib.request.urlopen(
                self.urls["admin"] + path, timeout=5, context=self.context
            ) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def reload(self) -> None:
        """SIGHUP, as ``systemctl reload`` sends it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def url(self, key: str) -> str:
        return f"{self.urls[self.role]}/{key}"

    def freeze(self) -> None:
        """SIGSTOP to the whole node (supervisor and workers): a wedged or cut-off host."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT to the whole node."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def workers(self) -> list[int]:
        """The process ids of the supervisor's workers."""
        assert self.proc is not None
        listing = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(pid) for pid in listing.stdout.split()]

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, like a power cut to the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""
