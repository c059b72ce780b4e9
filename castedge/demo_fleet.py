"""The demo's services as child processes of the real ``castedge`` command.

Each service is ``castedge <role> --config FILE`` in a process group of its own (its
supervisor and workers), so one signal reaches all of it, and Ctrl-C at the terminal
reaches the demo alone, which then stops every group in turn. Its "listening on"
lines say where it listens; its ``/healthz`` says when it is ready; everything else
it prints goes to its log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import aiohttp
import yaml

__all__ = ["Child", "ChildFailed", "stop_all", "wait_healthy", "write_settings"]

#: How long a service may take to say where it listens: eleven interpreters start at
#: once on what may be a two-core laptop.
START_TIMEOUT = 120.0
#: After SIGTERM, how long a service has to finish before its group is killed.
STOP_TIMEOUT = 10.0


def _open_log(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")  # noqa: SIM115 - closed by the caller's with


def write_settings(path: Path, document: Mapping[str, object]) -> None:
    """Write a settings file, 0600: it holds the admin token and the signing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(dict(document), f, sort_keys=False)


class ChildFailed(RuntimeError):
    """A service exited, or never said it was listening; the message says which, and why."""


@dataclass
class Child:
    """One service of the fleet: its name, region, command, and once started, its URLs."""

    name: str
    role: str
    config: Path
    log: Path
    region: str = "-"
    #: The listeners it says it listens on: its role's and its admin one (the sync
    #: daemon has only the admin one).
    expects: tuple[str, ...] = ()
    #: Listener name ("edge", "admin", ...) to URL, from its "listening on" lines.
    urls: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None
    _listening: asyncio.Event = field(default_factory=asyncio.Event)

    def write_config(self, document: Mapping[str, object]) -> None:
        write_settings(self.config, document)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def url(self) -> str:
        """Its role's listener ("-" for the sync daemon, which has only the admin one)."""
        return self.urls.get(self.role, "-")

    @property
    def admin_url(self) -> str:
        return self.urls["admin"]

    async def launch(self, env: Mapping[str, str]) -> None:
        """Start it; ``listening()`` waits for its URLs."""
        log = _open_log(self.log)
        with log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-P", "-m", "castedge.cli", self.role, "--config", str(self.config),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=dict(env),
                start_new_session=True,
            )  # fmt: skip
        self._reader = asyncio.create_task(self._read(_open_log(self.log)), name=self.name)

    async def _read(self, log: BinaryIO) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with log:
            async for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                name, marker, url = raw.decode(errors="replace").strip().partition(" listening on ")
                if marker and url:
                    self.urls[name] = url
                    if all(name in self.urls for name in self.expects or (self.role, "admin")):
                        self._listening.set()

    async def listening(self, patience: float = START_TIMEOUT) -> None:
        """Until it has said where its listener and its admin listener are."""
        assert self.proc is not None
        waiter = asyncio.create_task(self._listening.wait())
        exited = asyncio.create_task(self.proc.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, exited}, timeout=patience, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            exited.cancel()
        if waiter not in done or not waiter.result():
            raise ChildFailed(self._why("did not start"))

    def _why(self, what: str) -> str:
        code = self.proc.returncode if self.proc is not None else None
        exited = f" (exit status {code})" if code is not None else ""
        tail = ""
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").splitlines()
            tail = "".join(f"\n  {line}" for line in lines[-8:])
        return f"{self.name} {what}{exited}; the end of {self.log}:{tail}"

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to its supervisor and workers, if any of them is left."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    async def stop(self, patience: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the group (SIGCONT too, in case it is frozen), then SIGKILL if need be."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.signal_group(signal.SIGTERM)
            self.signal_group(signal.SIGCONT)
            try:
                await asyncio.wait_for(self.proc.wait(), patience)
            except TimeoutError:
                self.signal_group(signal.SIGKILL)
                await self.proc.wait()
        # Workers outlive a supervisor killed in the meantime only until their own
        # parent-death signal; a group with no process left answers ESRCH.
        self.signal_group(signal.SIGKILL)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)


async def stop_all(children: Iterable[Child]) -> None:
    """Stop every service at once, and wait for each."""
    await asyncio.gather(*(child.stop() for child in children))


async def wait_healthy(
    children: Iterable[Child], ssl_context: ssl.SSLContext | None, patience: float = START_TIMEOUT
) -> None:
    """Poll each service's admin ``/healthz`` until it answers 200."""
    connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else False)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=2)
    ) as session:
        await asyncio.gather(*(_healthy(session, child, patience) for child in children))


async def _healthy(session: aiohttp.ClientSession, child: Child, patience: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    url = child.admin_url + "/healthz"
    while True:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url) as response:
                if response.status == 200:
                    return
        if child.proc is not None and child.proc.returncode is not None:
            raise ChildFailed(child._why("exited"))
        if loop.time() > deadline:
            raise ChildFailed(child._why(f"was not healthy within {patience:g} s at {url}"))
        await asyncio.sleep(0.1)
