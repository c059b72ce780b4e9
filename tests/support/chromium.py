"""Headless Chromium driven over the DevTools protocol, with aiohttp's websocket client.

No browser automation library: the protocol is JSON messages over one websocket
(https://chromedevtools.github.io/devtools-protocol/), and the tests need three calls
of it: open a page, evaluate a script, read the answer. The browser may only resolve
127.0.0.1, so a test never reaches the network whatever the page asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

__all__ = ["CHROMIUM", "Browser", "Page", "chromium_or_none", "launch"]

CHROMIUM = "/usr/bin/chromium"
_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")

FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in a container, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    # Every host name but loopback fails to resolve: no test traffic leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_or_none() -> str | None:
    """The Chromium binary, or None where it is not installed."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    return found


class Page:
    """One tab, attached through a DevTools session; ``events`` holds what it reported."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        #: Protocol events received so far (``Network.*`` once ``Network.enable`` was called).
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and wait (at most ``timeout`` s) for its result."""
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        async with asyncio.timeout(timeout):
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"DevTools websocket closed: {message.type}")
                doc = json.loads(message.data)
                if "method" in doc:
                    self.events.append(doc)
                elif doc.get("id") == message_id:
                    if "error" in doc:
                        raise AssertionError(f"{method}: {doc['error']}")
                    result: dict[str, Any] = doc["result"]
                    return result
        raise AssertionError(f"DevTools websocket closed while waiting for {method}")

    async def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate JavaScript in the page (awaiting a promise) and return its JSON value."""
        result = await self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str, timeout: float = 30.0) -> None:
        """Open ``url`` and wait until its document has loaded."""
        await self.call("Page.navigate", url=url)
        await self.evaluate(
            "new Promise(r => document.readyState === 'complete' ? r(true)"
            " : addEventListener('load', () => r(true)))",
            timeout=timeout,
        )


class Browser:
    """A running headless Chromium and its DevTools HTTP endpoint."""

    def __init__(
        self, proc: asyncio.subprocess.Process, endpoint: str, session: aiohttp.ClientSession
    ):
        self.proc = proc
        self.endpoint = endpoint
        self.session = session

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        """A fresh tab, closed afterwards."""
        async with self.session.put(f"{self.endpoint}/json/new?about:blank") as resp:
            target = await resp.json()
        try:
            async with self.session.ws_connect(
                target["webSocketDebuggerUrl"], max_msg_size=0
            ) as ws:
                yield Page(ws)
        finally:
            async with self.session.get(f"{self.endpoint}/json/close/{target['id']}"):
                pass


@contextlib.asynccontextmanager
async def launch(binary: str, *, timeout: float = 30.0) -> AsyncIterator[Browser]:
    """Start headless Chromium with a throwaway profile; stop it and remove the profile."""
    profile = tempfile.mkdtemp(prefix="castedge-chromium-")
    proc = await asyncio.create_subprocess_exec(
        binary,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    seen = b""
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(timeout):
            while (found := _LISTENING.search(seen)) is None:
                line = await proc.stderr.readline()
                if not line:
                    raise AssertionError(f"chromium exited early:\n{seen.decode(errors='replace')}")
                seen += line
        ws_url = found[1].decode()
        endpoint = "http://" + ws_url.removeprefix("ws://").split("/", 1)[0]
        drain = asyncio.create_task(_drain(proc.stderr))
        async with aiohttp.ClientSession() as session:
            yield Browser(proc, endpoint, session)
        drain.cancel()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _drain(stream: asyncio.StreamReader) -> None:
    # Chromium's stderr must be read, or a full pipe would stall the browser.
    while await stream.readline():
        pass
