"""The node's supervisor: one process tree for every role a settings file configures.

``castedge serve`` (and ``castedge origin|edge|locator``, the same limited to one
role) is this small supervisor. It opens the admin listening socket itself, bound
without SO_REUSEPORT, so a second castedge on the same file is refused at once; it
reserves each role's media port (bound with SO_REUSEPORT but never listening, so
the kernel hands it no connection); then it starts the workers as fresh
interpreters (``runtime.worker``) and reports ready once every one listens.

- SIGTERM / SIGINT: pass SIGTERM on; each worker stops accepting and lets requests
  in flight finish (its roles' ``drain_timeout``); exit 0 when all are gone.
- SIGHUP: check the settings file again; if it is valid, replace the workers one at
  a time, starting the new one before stopping the old, so no port ever refuses a
  connection. (Roles and listen addresses are kept from the start.)
- A worker that dies is started again after a short pause; a supervisor that dies
  takes its workers with it (PR_SET_PDEATHSIG), as a power cut would. Under a
  systemd watchdog (``WatchdogSec=``) it says ``WATCHDOG=1`` twice per period.

Connections still queued at a retiring worker's media socket, or at one that died (its
listener takes connections until the kernel has closed its files), are handed to a
sibling only with ``net.ipv4.tcp_migrate_req = 1`` (Linux 5.14+;
systemd/castedge-sysctl.conf); without it the kernel resets them, so the supervisor
warns at start. The admin socket is one socket that every generation of worker 0
inherits, so it never has that problem.
"""

from __future__ import annotations

import contextlib
import errno
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
from dataclasses import dataclass, field
from pathlib import Path

from config import ConfigError, Listen, Settings, load_settings

from .https import check_tls
from .listeners import notify_systemd
from .roles import check_role, role_workers, roles_to_run
from .worker import ADMIN_FD_ENV, PORTS_ENV, SUPERVISOR_ENV, redirect_name, roles_of_worker

__all__ = ["AdminAddressInUse", "Supervisor", "WorkerFailed", "reserve_port"]

log = logging.getLogger("castedge.supervisor")

#: A worker that does not listen within this long is taken for broken.
START_TIMEOUT = 30.0
#: Pause before starting a worker again after it died, so a crash loop stays slow.
RESTART_PAUSE = 1.0
#: How long the admin address may stay taken at start: the workers of a supervisor
#: killed a moment ago are still on their way out (PR_SET_PDEATHSIG is asynchronous).
ADMIN_BIND_PATIENCE = 2.0


class WorkerFailed(RuntimeError):
    """A worker exited, or never listened, while it was being started."""

    def __init__(self, index: int, returncode: int | None) -> None:
        how = f"exited with {returncode}" if returncode is not None else "did not listen in time"
        super().__init__(f"worker {index} failed to start ({how})")
        self.returncode = returncode


class AdminAddressInUse(OSError):
    """Another process listens on ``admin.listen``: most likely castedge on the same file."""


def reserve_port(listen: Listen) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket: it keeps the port ours."""
    sock = socket.socket(_family(listen), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((listen.host, listen.port))
    return sock


def _reserve(role: str, listen: Listen) -> socket.socket:
    try:
        return reserve_port(listen)
    except OSError as exc:
        # Name the key to change, as a settings error would.
        key = (
            f"{role.removesuffix('_redirect')}.tls.redirect_http"
            if role.endswith("_redirect")
            else f"{role}.listen"
        )
        raise OSError(exc.errno, f"{key} {listen}: {exc.strerror}") from None


def _family(listen: Listen) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in listen.host else socket.AF_INET


def open_admin_socket(listen: Listen, source: str) -> socket.socket:
    """The admin listener, bound exclusively: a second node on the address is refused."""
    deadline = time.monotonic() + ADMIN_BIND_PATIENCE
    while True:
        sock = socket.socket(_family(listen), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((listen.host, listen.port))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise AdminAddressInUse(
                errno.EADDRINUSE,
                f"admin.listen {listen} in {source} is in use, most likely by another "
                "castedge on this file; run every role of a node as one "
                f"'castedge serve --config {source}'",
            ) from None
        sock.listen(1024)
        sock.set_inheritable(True)
        return sock


def _listens(settings: Settings, role: str) -> bool:
    """Whether the role has a listener of its own (the sync daemon has none)."""
    return getattr(getattr(settings, role), "listen", None) is not None


def _url(listen: Listen, port: int, *, tls: bool = False) -> str:
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    return f"{'https' if tls else 'http'}://{host}:{port}"


def _listeners(settings: Settings, roles: tuple[str, ...]) -> list[tuple[str, Listen, bool]]:
    """Every media listener of ``roles`` (redirects included): name, address, whether TLS."""
    found = []
    for role in roles:
        if not _listens(settings, role):
            continue
        section = getattr(settings, role)
        found.append((role, section.listen, section.tls is not None))
        if section.tls is not None and section.tls.redirect_http is not None:
            found.append((redirect_name(role), section.tls.redirect_http, False))
    return found


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[str]
    expects: frozenset[str]
    ready: threading.Event = field(default_factory=threading.Event)
    urls: dict[str, str] = field(default_factory=dict)


class Supervisor:
    """Run a node's workers and keep them running."""

    def __init__(
        self,
        *,
        config_path: str,
        settings: Settings,
        only: str | None = None,
        cpus: int | None = None,
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        self.only = only
        self.cpus = cpus or os.cpu_count() or 1
        self.roles = roles_to_run(settings, only)
        self.workers: list[Worker] = []
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._metrics_dir = ""
        self._ports = ""
        self._admin: socket.socket | None = None
        self._watchdog = _watchdog_interval()
        self._petted = 0.0
        #: Workers asked to drain by a reload, not yet gone.
        self._retiring: list[Worker] = []

    # -- starting workers ---------------------------------------------------------

    def _count(self, settings: Settings) -> int:
        return max(role_workers(settings, role, self.cpus) for role in self.roles)

    def _spawn(self, index: int, settings: Settings) -> Worker:
        assert self._admin is not None
        env = dict(os.environ)
        env[PORTS_ENV] = self._ports
        env[SUPERVISOR_ENV] = str(os.getpid())
        # Readiness is the supervisor's to report (NotifyAccess=main).
        env.pop("NOTIFY_SOCKET", None)
        env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        expects = {
            name
            for name, _, _ in _listeners(
                settings, roles_of_worker(settings, self.roles, index, self.cpus)
            )
        }
        pass_fds: tuple[int, ...] = ()
        if index == 0:
            env[ADMIN_FD_ENV] = str(self._admin.fileno())
            pass_fds = (self._admin.fileno(),)
            expects.add("admin")
        else:
            env.pop(ADMIN_FD_ENV, None)
        # -P: the working directory is not put on the import path, so a folder there
        # named like one of castedge's packages (config/, tls/) cannot shadow it.
        command = [sys.executable, "-P", "-m", "castedge.cli", "serve",
                   "--config", self.config_path, "--worker", str(index)]  # fmt: skip
        if self.only is not None:
            command += ["--role", self.only]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            command, stdout=subprocess.PIPE, text=True, env=env, pass_fds=pass_fds
        )
        worker = Worker(index, proc, frozenset(expects))

        def watch() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                name, _, rest = line.strip().partition(" listening on ")
                if rest:
                    worker.urls[name] = rest
                    if worker.expects <= worker.urls.keys():
                        worker.ready.set()

        threading.Thread(target=watch, daemon=True, name=f"worker {proc.pid}").start()
        return worker

    def _wait_ready(self, worker: Worker) -> Worker:
        deadline = time.monotonic() + START_TIMEOUT
        while not worker.ready.wait(0.1):
            self._pet_watchdog()
            if worker.proc.poll() is not None or time.monotonic() > deadline:
                returncode = worker.proc.poll()
                if returncode is None:
                    worker.proc.kill()
                worker.proc.wait()
                raise WorkerFailed(worker.index, returncode)
        return worker

    def _start(self, indices: range, settings: Settings) -> list[Worker]:
        # Start them together: each spends most of a second importing.
        spawned = [self._spawn(index, settings) for index in indices]
        try:
            return [self._wait_ready(worker) for worker in spawned]
        except RuntimeError:
            for worker in spawned:
                if worker.proc.poll() is None:
                    worker.proc.kill()
                    worker.proc.wait()
            raise

    # -- running ----------------------------------------------------------------------

    def run(self) -> int:
        """Start the workers, report readiness, supervise until told to stop."""
        settings = self.settings
        self._admin = open_admin_socket(settings.admin.listen, self.config_path)
        listens = _listeners(settings, self.roles)
        reserved = [_reserve(role, listen) for role, listen, _ in listens]
        self._ports = ",".join(
            f"{role}={sock.getsockname()[1]}"
            for (role, _, _), sock in zip(listens, reserved, strict=True)
        )
        self._metrics_dir = tempfile.mkdtemp(prefix="castedge-metrics-")
        if self._count(settings) > 1:
            _check_migrate_req()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: self._signals.put(signum))
        try:
            try:
                self.workers = self._start(range(self._count(settings)), settings)
            except WorkerFailed as exc:
                # The worker has said why on stderr; its exit code says what kind.
                log.error("%s", exc)
                return exc.returncode or 1
            for (role, listen, tls), sock in zip(listens, reserved, strict=True):
                url = _url(listen, sock.getsockname()[1], tls=tls)
                print(f"{role} listening on {url}", flush=True)
            admin = settings.admin.listen
            url = _url(admin, self._admin.getsockname()[1], tls=settings.admin.tls is not None)
            print(f"admin listening on {url}", flush=True)
            log.info("%s running in %d worker processes", ", ".join(self.roles), len(self.workers))
            notify_systemd("READY=1")
            return self._supervise()
        finally:
            self._stop_all()
            for sock in reserved:
                sock.close()
            self._admin.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _pet_watchdog(self) -> None:
        # systemd restarts a node whose supervisor stops saying this (WatchdogSec=); a
        # reload that starts workers one after another must keep saying it too.
        if self._watchdog is not None and time.monotonic() - self._petted >= self._watchdog:
            notify_systemd("WATCHDOG=1")
            self._petted = time.monotonic()

    def _supervise(self) -> int:
        while True:
            self._pet_watchdog()
            try:
                signum = self._signals.get(timeout=0.2)
            except queue.Empty:
                signum = 0
            if signum in (signal.SIGTERM, signal.SIGINT):
                notify_systemd("STOPPING=1")
                log.info("stopping: workers finish the requests in flight")
                return 0
            if signum == signal.SIGHUP:
                self._reload()
            for i, worker in enumerate(self.workers):
                if worker.proc.poll() is not None:
                    log.error(
                        "worker %d (pid %d) exited with %s; starting another",
                        worker.index, worker.proc.pid, worker.proc.returncode,
                    )  # fmt: skip
                    self._mark_dead(worker.proc.pid)
                    time.sleep(RESTART_PAUSE)
                    try:
                        self.workers[i] = self._wait_ready(self._spawn(worker.index, self.settings))
                    except RuntimeError as exc:
                        log.error("%s", exc)

    def _reload(self) -> None:
        try:
            settings = load_settings(self.config_path)
            roles = roles_to_run(settings, self.only)
            for role in roles:
                check_role(settings, role)
            check_tls(settings, roles)
        except ConfigError as exc:
            log.error("not reloading, the settings file is invalid: %s", exc)
            return
        if roles != self.roles:
            log.error(
                "not reloading: the file now configures %s instead of %s; restart to change roles",
                ", ".join(roles), ", ".join(self.roles),
            )  # fmt: skip
            return
        notify_systemd("RELOADING=1")
        _check_migrate_req()
        count = self._count(settings)
        log.info("reloading: replacing %d workers one at a time", len(self.workers))
        old = list(self.workers)
        fresh: list[Worker] = []
        for index in range(count):
            try:
                fresh.append(self._wait_ready(self._spawn(index, settings)))
            except RuntimeError as exc:
                log.error("reload stopped, keeping the old workers: %s", exc)
                fresh.extend(old[len(fresh) :])
                break
            if index < len(old):
                self._retire(old[index])
        else:
            for worker in old[count:]:
                self._retire(worker)
            self.settings = settings
        self.workers = fresh
        notify_systemd("READY=1")

    def _retire(self, worker: Worker) -> None:
        """Ask one worker to drain and stop, in the background."""
        self._retiring.append(worker)
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
        threading.Thread(
            target=self._reap, args=(worker,), daemon=True, name=f"retire {worker.proc.pid}"
        ).start()

    def _drain_timeout(self) -> float:
        sections = [getattr(self.settings, role) for role in self.roles]
        return max(float(getattr(section, "drain_timeout", 30.0)) for section in sections)

    def _reap(self, worker: Worker) -> None:
        try:
            worker.proc.wait(self._drain_timeout() + 5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()
        self._mark_dead(worker.proc.pid)
        with contextlib.suppress(ValueError):
            self._retiring.remove(worker)
        if worker.proc.stdout is not None:
            worker.proc.stdout.close()

    def _mark_dead(self, pid: int) -> None:
        from prometheus_client import multiprocess

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", self._metrics_dir)
        multiprocess.mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._drain_timeout() + 5
        # Workers a reload retired are still draining: their downloads finish too.
        for worker in [*self.workers, *self._retiring]:
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in time; killing it", worker.proc.pid)
                worker.proc.kill()
                worker.proc.wait()
            if worker.proc.stdout is not None:
                worker.proc.stdout.close()


def _watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (``$WATCHDOG_USEC``), as sd_watchdog_enabled(3) advises."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2


def _check_migrate_req() -> None:
    try:
        enabled = Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        enabled = False
    if not enabled:
        log.warning(
            "net.ipv4.tcp_migrate_req is off: a reload (SIGHUP) or a worker's crash may "
            "reset connections queued at that worker; install systemd/castedge-sysctl.conf"
        )
