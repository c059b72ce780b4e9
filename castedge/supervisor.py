"""Several worker processes on one port: start them, watch them, restart them in turn.

``castedge origin`` with ``origin.workers`` above 1 becomes a small supervisor. It
reserves the listening ports (bound with SO_REUSEPORT but never listening, so the
kernel hands it no connection), starts the workers as fresh interpreters that bind
the same ports with SO_REUSEPORT, and reports ready once every worker listens.

- SIGTERM / SIGINT: pass SIGTERM on; each worker stops accepting and lets downloads
  in flight finish (``origin.drain_timeout``); exit 0 when all are gone.
- SIGHUP: check the settings file again; if it is valid, replace the workers one at
  a time, starting the new one before stopping the old, so the port never refuses
  a connection. (Listen addresses are kept from the start.)
- A worker that dies is started again after a short pause.

Connections still queued at a retiring worker's socket are handed to a sibling only
with ``net.ipv4.tcp_migrate_req = 1`` (Linux 5.14+; systemd/castedge-sysctl.conf);
without it the kernel resets them, so the supervisor warns at start.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config import ConfigError, Listen, load_settings

from .runner import notify_systemd

__all__ = ["PORTS_ENV", "Supervisor", "reserve_port"]

log = logging.getLogger("castedge.supervisor")

#: How a worker learns the ports the supervisor reserved: "media,admin".
PORTS_ENV = "CASTEDGE_WORKER_PORTS"
#: A worker that does not listen within this long is taken for broken.
START_TIMEOUT = 30.0
#: Pause before starting a worker again after it died, so a crash loop stays slow.
RESTART_PAUSE = 1.0


def reserve_port(listen: Listen) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket: it keeps the port ours."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((listen.host, listen.port))
    return sock


@dataclass
class Worker:
    proc: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)
    urls: dict[str, str] = field(default_factory=dict)


class Supervisor:
    """Run ``count`` copies of a role's worker and keep them running."""

    def __init__(
        self,
        *,
        role: str,
        config_path: str,
        count: int,
        listens: Sequence[tuple[str, Listen]],
        drain_timeout: float,
    ) -> None:
        self.role = role
        self.config_path = config_path
        self.count = count
        self.listens = list(listens)
        self.drain_timeout = drain_timeout
        self.workers: list[Worker] = []
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._metrics_dir = ""

    def _spawn(self, ports: str) -> Worker:
        env = dict(os.environ)
        env[PORTS_ENV] = ports
        # Readiness is the supervisor's to report (NotifyAccess=main).
        env.pop("NOTIFY_SOCKET", None)
        env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "castedge.cli", self.role, "--config", self.config_path,
             "--worker"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        worker = Worker(proc)

        def watch() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                name, _, rest = line.strip().partition(" listening on ")
                if rest:
                    worker.urls[name] = rest
                    if len(worker.urls) >= len(self.listens):
                        worker.ready.set()

        threading.Thread(target=watch, daemon=True, name=f"worker {proc.pid}").start()
        return worker

    def _start_one(self, ports: str) -> Worker:
        worker = self._spawn(ports)
        deadline = time.monotonic() + START_TIMEOUT
        while not worker.ready.wait(0.1):
            if worker.proc.poll() is not None or time.monotonic() > deadline:
                worker.proc.kill()
                worker.proc.wait()
                raise RuntimeError(f"a {self.role} worker failed to start")
        return worker

    def run(self) -> int:
        """Start the workers, report readiness, supervise until told to stop."""
        _check_migrate_req()
        sockets = [reserve_port(listen) for _, listen in self.listens]
        ports = ",".join(str(s.getsockname()[1]) for s in sockets)
        self._metrics_dir = tempfile.mkdtemp(prefix="castedge-metrics-")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: self._signals.put(signum))
        try:
            self.workers = [self._start_one(ports) for _ in range(self.count)]
            for (name, listen), sock in zip(self.listens, sockets, strict=True):
                host = f"[{listen.host}]" if ":" in listen.host else listen.host
                print(f"{name} listening on http://{host}:{sock.getsockname()[1]}", flush=True)
            log.info("%d %s workers running", len(self.workers), self.role)
            notify_systemd("READY=1")
            return self._supervise(ports)
        finally:
            self._stop_all()
            for sock in sockets:
                sock.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _supervise(self, ports: str) -> int:
        while True:
            try:
                signum = self._signals.get(timeout=0.2)
            except queue.Empty:
                signum = 0
            if signum in (signal.SIGTERM, signal.SIGINT):
                notify_systemd("STOPPING=1")
                log.info("stopping: workers finish the requests in flight")
                return 0
            if signum == signal.SIGHUP:
                self._reload(ports)
            for i, worker in enumerate(self.workers):
                if worker.proc.poll() is not None:
                    log.error(
                        "%s worker %d exited with %s; starting another",
                        self.role, worker.proc.pid, worker.proc.returncode,
                    )  # fmt: skip
                    time.sleep(RESTART_PAUSE)
                    try:
                        self.workers[i] = self._start_one(ports)
                    except RuntimeError as exc:
                        log.error("%s", exc)

    def _reload(self, ports: str) -> None:
        try:
            load_settings(self.config_path)
        except ConfigError as exc:
            log.error("not reloading, the settings file is invalid: %s", exc)
            return
        notify_systemd("RELOADING=1")
        log.info("reloading: replacing %d workers one at a time", len(self.workers))
        for i, old in enumerate(list(self.workers)):
            try:
                self.workers[i] = self._start_one(ports)
            except RuntimeError as exc:
                log.error("reload stopped, keeping the old workers: %s", exc)
                break
            self._retire(old)
        notify_systemd("READY=1")

    def _retire(self, worker: Worker) -> None:
        """Ask one worker to drain and stop, in the background."""
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
        threading.Thread(
            target=self._reap, args=(worker,), daemon=True, name=f"retire {worker.proc.pid}"
        ).start()

    def _reap(self, worker: Worker) -> None:
        try:
            worker.proc.wait(self.drain_timeout + 5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()
        self._mark_dead(worker.proc.pid)

    def _mark_dead(self, pid: int) -> None:
        from prometheus_client import multiprocess

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", self._metrics_dir)
        multiprocess.mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.drain_timeout + 5
        for worker in self.workers:
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in time; killing it", worker.proc.pid)
                worker.proc.kill()
                worker.proc.wait()
            if worker.proc.stdout is not None:
                worker.proc.stdout.close()


def _check_migrate_req() -> None:
    try:
        enabled = Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        enabled = False
    if not enabled:
        log.warning(
            "net.ipv4.tcp_migrate_req is off: a reload (SIGHUP) may reset connections "
            "queued at a retiring worker; install systemd/castedge-sysctl.conf"
        )
