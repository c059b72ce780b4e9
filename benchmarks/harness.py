"""What the benchmark scripts share: servers under test, CPU accounting, wrk, the report.

Each script in this folder measures one scenario; this module holds the parts they all
need and that must behave the same in each, so their figures can be compared:

* starting nginx and ``castedge`` subcommands pinned to a core, over HTTP or HTTPS,
  waiting until they listen, and stopping them (and their workers) again;
* CPU time from ``/proc``: the server's processes, the load generator's, and the rest
  of the machine's (a run during which other work used more than a few tenths of a
  core is *disturbed* and re-run);
* running wrk with a Lua script that ends in :data:`WRK_DONE`, and parsing its totals;
* describing the machine, and the Markdown table lines of the reports;
* a temporary workspace and the ``main`` flow that removes every process and file on
  exit, Ctrl-C and SIGTERM included.

Scripts import it as ``harness`` (they run as ``python benchmarks/<script>.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import yaml

HOST = "127.0.0.1"
MB = 1_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Pause before re-running a disturbed measurement.
RETRY_PAUSE_S = 5.0

# wrk calls done() once at the end: print its own totals on one line run_wrk can parse.
WRK_DONE = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d"
    .. " timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

# wrk runs request() for every request: rotate over the files (PATHS, a Lua list's
# items) so each is read.
ROTATE_SCRIPT = (
    """\
local paths = {PATHS}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
"""
    + WRK_DONE
)


NGINX_CONF = """\
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    # aiohttp never closes a keep-alive connection after N requests; nginx's default
    # of 1000 would make wrk reconnect and charge nginx for handshakes castedge skips.
    keepalive_requests 1000000;
    types {{ {types}; }}
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {host}:{port}{reuseport}{ssl};
        root {root};{tls}{access}
    }}
}}
"""


@dataclass(frozen=True)
class NginxTls:
    """HTTPS for :func:`start_nginx`: the certificate pair and what may be negotiated.

    Without kTLS (``ssl_conf_command Options KTLS`` and the kernel's tls module) nginx
    ignores ``sendfile on`` over TLS and copies each file through ``SSL_write`` in
    ``ssl_buffer_size`` (16k) records.
    """

    cert: Path
    key: Path
    protocols: str = "TLSv1.2 TLSv1.3"
    #: TLS 1.2 suites in OpenSSL's syntax (nginx's default list when None). TLS 1.3's
    #: are left at OpenSSL's defaults: castedge has no setting for them either.
    ciphers: str | None = None

    def directives(self) -> str:
        lines = [
            f"ssl_certificate {self.cert};",
            f"ssl_certificate_key {self.key};",
            f"ssl_protocols {self.protocols};",
        ]
        if self.ciphers is not None:
            lines.append(f"ssl_ciphers {self.ciphers};")
        return "".join(f"\n        {line}" for line in lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- processes -------------------------------------------------------------------------


@dataclass
class Server:
    """A server under test: its process, base URL, and whether its children serve."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    children_serve: bool = False  # a master's (supervisor's) workers do the serving
    admin_url: str | None = None
    workers: int = 1

    def pids(self) -> list[int]:
        """The processes whose CPU time is the server's."""
        return [self.proc.pid, *(children_of(self.proc.pid) if self.children_serve else [])]

    def stop(self) -> None:
        workers = children_of(self.proc.pid) if self.children_serve else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in workers:  # orphaned only if the master had to be killed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def have(tool: str) -> bool:
    return shutil.which(tool) is not None or os.path.exists(f"/usr/sbin/{tool}")


def missing_tools(tools: Sequence[str]) -> list[str]:
    return [tool for tool in tools if not have(tool)]


def nginx_command() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def castedge_command() -> str:
    """The ``castedge`` beside this interpreter (the venv's), else the one on PATH."""
    exe = Path(sys.executable).with_name("castedge")
    return str(exe) if exe.exists() else (shutil.which("castedge") or "castedge")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpu: int | None) -> list[str]:
    """The taskset prefix that runs a command on ``cpu`` (none when it is None)."""
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def choose_cpus(
    no_pin: bool, server: int | None = None, client: int | None = None
) -> tuple[int | None, int | None]:
    """The servers' core and the load generator's, apart; (None, None) when not pinning.

    ``server`` and ``client`` are preferences, used when this process may run there.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if no_pin or len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    server_cpu = server if server in allowed else allowed[0]
    client_cpu = client if client in allowed else allowed[-1]
    if client_cpu == server_cpu:
        client_cpu = next(c for c in allowed if c != server_cpu)
    return server_cpu, client_cpu


def wait_listening(server: Server, port: int, timeout: float = 20.0) -> None:
    """Poll until the port accepts connections, failing early if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} not listening after {timeout:g} s")
        time.sleep(0.05)


def start_nginx(
    workdir: Path,
    root: Path,
    cpu: int | None,
    servers: list[Server],
    *,
    types: str,
    workers: int = 1,
    tls: NginxTls | None = None,
    access_log: Path | None = None,
) -> Server:
    """nginx serving ``root`` from disk with sendfile; ``types`` as in its types block.

    With ``tls`` it listens for HTTPS only, and its url is ``https://``. With
    ``access_log`` it writes a combined-format line per request to that file, as an
    operator runs it (the default here is ``access_log off``).
    """
    conf_dir = workdir / f"nginx-{workers}"
    conf_dir.mkdir()
    port = free_port()
    # A master started as root switches its workers to "nobody", who could not read
    # a root-owned temporary directory; keep them root (loopback only, for a benchmark).
    user = "user root;\n" if os.geteuid() == 0 else ""
    # Several workers get a listening socket each (SO_REUSEPORT), as castedge's do, so
    # the kernel spreads wrk's connections over both servers' workers the same way.
    reuseport = " reuseport" if workers > 1 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user=user,
            workers=workers,
            dir=conf_dir,
            types=types,
            host=HOST,
            port=port,
            reuseport=reuseport,
            root=root,
            ssl=" ssl" if tls is not None else "",
            tls=tls.directives() if tls is not None else "",
            access=f"\n        access_log {access_log} combined;" if access_log else "",
        )
    )
    log_path = conf_dir / "stderr.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [*pinned(cpu), nginx_command(), "-p", str(conf_dir), "-c", str(conf)]
            + ["-e", str(log_path), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    scheme = "https" if tls is not None else "http"
    server = Server(
        "nginx", proc, f"{scheme}://{HOST}:{port}", log_path, children_serve=True, workers=workers
    )
    servers.append(server)
    wait_listening(server, port)
    return server


def start_castedge(
    subcommand: str,
    config: dict[str, Any],
    config_path: Path,
    cpu: int | None,
    servers: list[Server],
    *,
    name: str,
    workers: int = 1,
    timeout: float = 30.0,
) -> Server:
    """``castedge <subcommand>``, ready once it has printed where it and admin listen.

    Its listeners bind port 0, so their "<what> listening on http(s)://…" lines are the
    only way to learn the ports. The server's url is the ``subcommand`` listener's
    (``https://`` when its section has ``tls``).
    """
    config_path.write_text(yaml.safe_dump(config))
    log_path = config_path.with_suffix(".stderr.log")
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [*pinned(cpu), castedge_command(), subcommand, "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    urls: dict[str, str] = {}
    ready = threading.Event()

    def watch() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = re.match(r"(\w+) listening on (https?://\S+)", raw.decode(errors="replace"))
            if m:
                urls[m[1]] = m[2]
                if {subcommand, "admin"} <= urls.keys():
                    ready.set()

    threading.Thread(target=watch, daemon=True).start()
    # castedge always runs under its supervisor: the workers are what serve.
    server = Server(name, proc, "", log_path, children_serve=True, workers=workers)
    servers.append(server)
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"castedge {subcommand} did not report its listeners:\n{server.log_tail()}"
            )
    server.url, server.admin_url = urls[subcommand], urls["admin"]
    return server


def http_get(
    url: str,
    headers: dict[str, str] | None = None,
    timeout: float = 300,
    *,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """GET a whole ``http(s)://host:port/path`` URL; the status and the body.

    ``context`` verifies an ``https://`` server (the default context when None).
    """
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    elif scheme == "http":
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    else:
        raise ValueError(f"not an http(s) URL: {url}")
    try:
        conn.request("GET", "/" + path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- CPU accounting --------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat from field 3 (state) on; the name may hold spaces."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if _stat_fields(int(entry))[1] == str(pid):
                    found.append(int(entry))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU seconds of the processes (all their threads) so far."""
    return sum(cpu_split(pids))


def cpu_split(pids: Sequence[int]) -> tuple[float, float]:
    """User and system CPU seconds of the processes (all their threads) so far.

    User time is the server's own code; system time is the kernel working for it, which
    on loopback includes part of the client's TCP work (see ``hitpath.py``). Where the
    kernel accounts CPU time at its timer tick (``CONFIG_TICK_CPU_ACCOUNTING``, 250 Hz
    here) the split is sampled: over a few seconds the user part of a server that is
    mostly in the kernel rests on a few dozen samples.
    """
    user = system = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            user += int(fields[11])  # utime, stime: fields 14 and 15
            system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and iowait, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def process_ticks() -> dict[int, tuple[str, int]]:
    """Every process now: a short label from its command line, and its CPU ticks so far."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(int(entry))
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            # Kernel threads have no command line; their name is in /proc/<pid>/comm.
            # Options dropped: "python -P -m pytest" says more as "python pytest".
            words = [argv[0], *(a for a in argv[1:] if not a.startswith("-"))] if argv else []
            label = " ".join(Path(a).name if "/" in a else a for a in words[:3])[:60]
            if not label:
                label = "[" + Path(f"/proc/{entry}/comm").read_text().strip() + "]"
            found[int(entry)] = (label, int(fields[11]) + int(fields[12]))
    return found


def other_processes(
    before: dict[int, tuple[str, int]],
    after: dict[int, tuple[str, int]],
    exclude: Sequence[int] = (),
    at_least_s: float = 0.05,
) -> list[tuple[str, float]]:
    """CPU seconds each other process used between two :func:`process_ticks`, busiest first.

    Processes that began and ended in between are not seen: the machine-wide background
    figure (:class:`CpuMeter`) counts them, this names the ones still running.
    """
    skip = {os.getpid(), *exclude}
    used: dict[str, float] = {}
    for pid, (label, ticks) in after.items():
        if pid in skip:
            continue
        start = before.get(pid)
        # A pid not seen before began in between: all its time is new. (A kernel
        # worker's name changes with its work item, so match on the pid alone.)
        delta = ticks - (start[1] if start is not None else 0)
        used[label] = used.get(label, 0.0) + delta / CLK_TCK
    return sorted(((k, v) for k, v in used.items() if v >= at_least_s), key=lambda kv: -kv[1])


def tcp_active_opens() -> int:
    """TCP connections this machine has opened (connect) since boot, from /proc/net/snmp.

    Machine-wide: across a run it bounds how often the load generator reconnected.
    """
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def machine_irq_seconds() -> float:
    """CPU seconds all cores spent in interrupts and softirqs (loopback's network work)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (values[5] + values[6]) / CLK_TCK


def children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children: wrk, curl."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children: a load generated here."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class CpuUse:
    """CPU used during a stretch of time, by the server, the client and anything else."""

    server_s: float
    client_s: float
    background_cores: float
    #: Of ``server_s``, the time in user mode.
    server_user_s: float = 0.0


class CpuMeter:
    """Measures :class:`CpuUse` from ``start()`` to ``stop(elapsed)``.

    Background is the machine's busy time that neither the server's processes nor the
    client used, per second: other jobs, and loopback softirq work no process is
    charged for.
    """

    def __init__(
        self, pids: Sequence[int], client: Callable[[], float] = children_cpu_seconds
    ) -> None:
        self.pids, self.client = pids, client
        self._start = (0.0, 0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float, float]:
        user, system = cpu_split(self.pids)
        return user, user + system, self.client(), machine_busy_seconds()

    def start(self) -> None:
        self._start = self._now()

    def stop(self, elapsed: float) -> CpuUse:
        (user0, server0, client0, busy0) = self._start
        (user1, server1, client1, busy1) = self._now()
        server, client = server1 - server0, client1 - client0
        background = max(0.0, (busy1 - busy0 - server - client) / elapsed)
        return CpuUse(server, client, background, server_user_s=user1 - user0)


# -- wrk -------------------------------------------------------------------------------


@dataclass
class WrkRun:
    """One wrk run's totals, with the CPU both sides and the rest of the machine used."""

    requests: int
    bytes: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    wrk_cpu_s: float
    background_cores: float
    #: Of ``server_cpu_s``, the time in user mode.
    server_user_s: float = 0.0

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s


def run_wrk(
    what: str,
    server: Server,
    url: str,
    script: Path,
    *,
    connections: int,
    duration: int,
    cpu: int | None,
    headers: Sequence[str] = (),
    request_timeout_s: int = 30,
    client: Callable[[], float] = children_cpu_seconds,
    env: Mapping[str, str] | None = None,
) -> WrkRun:
    """One thread of wrk with ``script`` (which ends in :data:`WRK_DONE`) against ``url``.

    ``client`` reads the CPU seconds that count as the load generator's (see CpuMeter).
    ``env`` is added to wrk's environment (``OPENSSL_CONF`` to pin what it offers over
    TLS).
    """
    cmd = [*pinned(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    cmd += ["--timeout", f"{request_timeout_s}s"]
    for header in headers:
        cmd += ["-H", header]
    cmd += ["-s", str(script), url]
    meter = CpuMeter(server.pids(), client)
    meter.start()
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    m = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk against {what} failed:\n{out.stdout}\n{out.stderr}")
    v = {key: int(val) for key, val in (pair.split("=") for pair in m[1].split())}
    duration_s = v["duration_us"] / 1e6
    use = meter.stop(duration_s)
    return WrkRun(
        requests=v["requests"],
        bytes=v["bytes"],
        duration_s=duration_s,
        errors={k: v[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=v["p50_us"] / 1000,
        p99_ms=v["p99_us"] / 1000,
        server_cpu_s=use.server_s,
        wrk_cpu_s=use.client_s,
        background_cores=use.background_cores,
        server_user_s=use.server_user_s,
    )


def wait_quiet(cores: float, max_wait_s: float, interval_s: float = 1.0) -> float:
    """Wait until the machine was busy for at most ``cores`` over ``interval_s``.

    Gives up after ``max_wait_s`` (the run then goes ahead, and is judged disturbed or
    not by what it saw). Returns the cores busy in the last interval looked at.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        busy0 = machine_busy_seconds()
        time.sleep(interval_s)
        busy = (machine_busy_seconds() - busy0) / interval_s
        if busy <= cores or time.monotonic() >= deadline:
            return busy


R = TypeVar("R", bound=WrkRun)


def until_undisturbed(measure: Callable[[], R], *, retries: int, warn_cores: float) -> list[R]:
    """Run ``measure`` again while other work disturbed it, at most ``retries`` times.

    A run is disturbed when it saw more than ``warn_cores`` of other work. Returns every
    run made, the disturbed ones first.
    """
    runs: list[R] = []
    for retry in range(retries + 1):
        run = measure()
        runs.append(run)
        if run.background_cores <= warn_cores or retry == retries:
            break
        # Someone else's job is using the machine; give it a moment to pass.
        log(f"  disturbed; running it again in {RETRY_PAUSE_S:g} s")
        time.sleep(RETRY_PAUSE_S)
    return runs


def undisturbed(runs: list[dict[str, Any]], warn_cores: float) -> list[dict[str, Any]]:
    """The runs that saw at most ``warn_cores`` of other work; all of them if none did."""
    return [r for r in runs if r["background_cores"] <= warn_cores] or runs


# -- the report ------------------------------------------------------------------------


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def machine(*, nginx: bool = True) -> dict[str, Any]:
    """The machine and the software versions a figure depends on."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    doc: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": metadata.version("uvloop"),
    }
    if nginx:
        out = subprocess.run([nginx_command(), "-v"], capture_output=True, text=True, check=False)
        doc["nginx"] = out.stderr.strip().removeprefix("nginx version: ")
    if have("wrk"):
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        doc["wrk"] = (wrk.stdout + wrk.stderr).split("[")[0].strip().removeprefix("wrk ")
    doc["loadavg"] = loadavg()
    return doc


def machine_line(m: dict[str, Any], *, load_after: bool) -> str:
    """The report's first line, from :func:`machine`'s dict."""
    tools = [f"aiohttp {m['aiohttp']}", f"uvloop {m['uvloop']}"]
    tools += [m["nginx"]] if "nginx" in m else []
    tools += [f"wrk {m['wrk']}"] if "wrk" in m else []
    after = f", after {' '.join(m['loadavg_after'])}" if load_after else ""
    return (
        f"Machine: {m['nproc']} × {m['cpu']}, Linux {m['kernel']}, Python {m['python']}, "
        f"{', '.join(tools)}; load average before {' '.join(m['loadavg'])}{after}."
    )


def table_row(cells: Sequence[str]) -> str:
    return f"| {' | '.join(cells)} |"


def table_head(heads: Sequence[str], align: str) -> list[str]:
    """A Markdown table's heading and rule; ``align`` is l or r for each column."""
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return [table_row(heads), rule]


# -- workspace and entry point ---------------------------------------------------------


def bound(args: argparse.Namespace, **limits: tuple[float, float]) -> None:
    """Clamp each named option into its (low, high) range.

    Bounded runs: a typo must not load the machine for an hour.
    """
    for name, (low, high) in limits.items():
        setattr(args, name, min(max(getattr(args, name), low), high))


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace(prefix: str, parent: Path | None = None) -> Iterator[tuple[Path, list[Server]]]:
    """A temporary directory and the servers started in it, both gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    servers: list[Server] = []
    try:
        yield workdir, servers
    except Exception:
        for server in servers:
            tail = server.log_tail()
            if tail.strip():
                log(f"--- {server.name} log ---\n{tail}")
        raise
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # one stuck server must not leave the others running
                log(f"could not stop {server.name} (pid {server.proc.pid}): {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


def run_and_report(
    benchmark: Callable[[Path, list[Server]], dict[str, Any]],
    report: Callable[[dict[str, Any]], tuple[str, bool]],
    *,
    prefix: str,
    tmpdir: Path | None = None,
    json_path: Path | None = None,
) -> int:
    """Measure in a workspace, print the report, keep the raw numbers; the exit status.

    0 when every target was met, 1 when one was missed, 130 on Ctrl-C. SIGTERM raises
    SystemExit, so the workspace is cleaned up then too.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with workspace(prefix, tmpdir) as (workdir, servers):
            doc = benchmark(workdir, servers)
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temporary files removed")
        return 130
    table, met = report(doc)
    doc["table"] = table
    print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"raw numbers saved to {json_path}")
    return 0 if met else 1
