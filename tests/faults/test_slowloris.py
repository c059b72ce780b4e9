"""Slow request heads: cut with a 408 at header_timeout, while other clients are served.

A slowloris sends a request head a byte at a time to hold connections open for ever;
nginx answers with client_header_timeout (60 s), and so does castedge's
``http.header_timeout``. The node here uses 1 s, so the attack and its end fit a test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvloop

from tests.conftest import payload
from tests.support.raw import TCP_ESTABLISHED, read_answer, tcp_state

from .node import Node, descriptors, probe, start_origin

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 3.0
EPISODE = "podcast/loris.mp3"
BODY = payload(2_000_000, "loris")
#: A timer on a busy two-core machine may fire this late, and a close take this long.
SLACK = 1.0

HEAD = f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
PROBE = (
    f"GET /{EPISODE} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"
).encode()


#: Slow heads held open at once by the attack.
ATTACKERS = 1000
#: A thousand trickling connections in the attack's one loop, on two busy cores,
#: notice their cuts this much later than the server makes them.
ATTACK_SLACK = 2.0


@pytest.fixture(scope="module", params=["fast", "aiohttp"])
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    root = tmp_path_factory.mktemp(f"slowloris-{request.param}")
    http = {
        "header_timeout": f"{HEADER_TIMEOUT}s",
        "keepalive_timeout": f"{KEEPALIVE_TIMEOUT}s",
        "fast_path": request.param == "fast",
    }
    # A descriptor a connection at each end, and room for the rest.
    with descriptors(ATTACKERS + 1024):
        node = start_origin(root, {EPISODE: BODY}, http=http)
        yield node
        node.stop()


async def slow_head(address: tuple[str, int], every: float) -> tuple[float, float, bytes]:
    """One slowloris connection: a request line, then a header a byte per ``every`` s.

    Returns how long the server kept it open at least and at most, and what it
    answered: its 408, or nothing when a byte of ours reached the server after it
    closed, whose reset then overtook the answer (nginx, which closes on a header
    timeout without answering, resets the same way). Its clock starts at its accept,
    which comes after the connect began and may come before this busy loop gets back
    to the coroutine.
    """
    loop = asyncio.get_running_loop()
    connecting = loop.time()
    reader, writer = await asyncio.open_connection(*address)
    connected = loop.time()
    writer.write(HEAD)
    answered = asyncio.Event()

    async def trickle() -> None:
        for byte in b"X-Slow: " + b"a" * 200:
            await asyncio.sleep(every)
            if answered.is_set() or writer.is_closing():
                return
            writer.write(bytes([byte]))

    dribbling = asyncio.create_task(trickle())
    answer = b""
    try:
        async with asyncio.timeout(HEADER_TIMEOUT + 10):
            while chunk := await reader.read(65536):
                answered.set()
                answer += chunk
    except ConnectionResetError:
        pass
    finally:
        ended = loop.time()
        dribbling.cancel()
        writer.close()
    return ended - connected, ended - connecting, answer


async def attack(
    address: tuple[str, int], connections: int, seconds: float
) -> list[tuple[float, float, bytes]]:
    """``connections`` slowloris connections, each reconnecting when cut, for ``seconds``.

    They start spread over the first header_timeout, as connections from all over
    arrive, so that from then on ``connections`` are open at any moment, and as many
    are cut (and come back) each header_timeout. Returns how each one ended (see
    ``slow_head``).
    """
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds
    cut: list[tuple[float, float, bytes]] = []

    async def attacker(n: int) -> None:
        await asyncio.sleep(HEADER_TIMEOUT * n / connections)
        while loop.time() < ends:
            cut.append(await slow_head(address, every=0.3))

    await asyncio.gather(*(attacker(n) for n in range(connections)))
    return cut


def probing(url: str, stop: threading.Event, found: list[tuple[float, str]]) -> None:
    """Probe every 50 ms until ``stop``, bounded to 200 probes."""
    # Let the whole attack connect before measuring anyone else.
    if stop.wait(HEADER_TIMEOUT):
        return
    while not stop.is_set() and len(found) < 200:
        found.append(probe(url))
        stop.wait(0.05)


def header_timeouts(node: Node) -> tuple[float, float]:
    """Connections cut at header_timeout so far: all of them, and those answered 408
    (the others had sent nothing, and are closed without an answer)."""
    cut = node.metric(
        "castedge_connection_timeouts_total", listener="origin", timeout="header_timeout"
    )
    answered = node.metric(
        "castedge_bad_requests_total", listener="origin", reason="header_timeout"
    )
    return cut, answered


def test_slow_heads_are_cut_with_408_while_others_are_served(node: Node) -> None:
    cut_before, answered_before = header_timeouts(node)
    lines_before = len(node.access_lines('-" 408 '))
    stop = threading.Event()
    probes: list[tuple[float, str]] = []
    prober = threading.Thread(target=probing, args=(node.proc.url(EPISODE), stop, probes))
    prober.start()
    try:
        # uvloop: a thousand trickling connections are too many for asyncio's own loop
        # on two busy cores to notice their cuts in time.
        cut = uvloop.run(attack(node.address(), connections=ATTACKERS, seconds=4.0))
    finally:
        stop.set()
        prober.join()

    # Every slow connection was closed with a 408, at header_timeout and no later. One
    # this busy loop got back to only after its deadline had sent nothing by then, and
    # was closed without an answer, as such a connection is.
    cuts, answered = header_timeouts(node)
    cuts, answered = cuts - cut_before, answered - answered_before
    # Each cut by its header_timeout, and nothing else; at least once each.
    assert cuts == len(cut) >= ATTACKERS
    # A machine busy enough to hold this loop back for a second makes many silent.
    assert answered >= ATTACKERS / 2, f"{cuts - answered} of {cuts} closed silent"
    answers = [answer for _, _, answer in cut if answer]
    statuses = {answer.split(b"\r\n", 1)[0].split(b" ", 1)[1] for answer in answers}
    assert statuses == {b"408 Request Timeout"}
    assert all(answer.endswith(b"\r\n\r\nrequest timeout\n") for answer in answers)
    # The loop's timers are in milliseconds, from a clock read once an iteration.
    assert min(most for _, most, _ in cut) >= HEADER_TIMEOUT - 0.05
    assert max(least for least, _, _ in cut) <= HEADER_TIMEOUT + ATTACK_SLACK

    # Meanwhile a normal client was answered every time, and never as late as a SYN
    # the full queue dropped would make it (retried after a second: RFC 6298 §2.1).
    # How fast is benchmarks/hostile_clients.py's to measure (docs/reliability.md).
    assert len(probes) >= 10
    assert {status for _, status in probes} == {"206"}
    latencies = sorted(seconds for seconds, _ in probes)
    assert latencies[-1] < 1.0, latencies

    # One access line per 408 (those a reset overtook too); nothing alarming on stderr.
    assert len(node.access_lines('-" 408 ')) - lines_before == answered
    assert node.alarms() == []


def test_a_later_head_is_due_header_timeout_after_its_first_byte(node: Node) -> None:
    with socket.create_connection(node.address()) as sock:
        sock.sendall(PROBE.replace(b"Connection: close\r\n", b""))
        assert read_answer(sock).status == 206
        # Idle for longer than header_timeout: between requests keepalive_timeout rules.
        time.sleep(HEADER_TIMEOUT * 1.5)
        assert tcp_state(sock) == TCP_ESTABLISHED
        sock.sendall(HEAD)
        began = time.monotonic()
        answer = read_answer(sock, timeout=HEADER_TIMEOUT + 5)
        held = time.monotonic() - began
    assert answer.status == 408
    assert answer.closed
    assert HEADER_TIMEOUT - 0.05 <= held <= HEADER_TIMEOUT + SLACK
    assert node.alarms() == []


def test_a_head_completed_in_time_is_served(node: Node) -> None:
    with socket.create_connection(node.address()) as sock:
        for part in (HEAD, b"Range: bytes=0-1\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT / 4)
        answer = read_answer(sock)
    assert answer.status == 206
    assert answer.body == BODY[:2]


def wait_closed(sock: socket.socket, within: float, began: float | None = None) -> float:
    """Seconds from ``began`` (now) until the server ends ``sock``, polled without reading."""
    began = time.monotonic() if began is None else began
    while tcp_state(sock) == TCP_ESTABLISHED:
        if time.monotonic() - began > within:
            raise AssertionError(f"still open after {within} s")
        time.sleep(0.01)
    return time.monotonic() - began


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(node: Node) -> None:
    before = node.metric(
        "castedge_connection_timeouts_total", listener="origin", timeout="header_timeout"
    )
    with socket.create_connection(node.address()) as sock:
        held = wait_closed(sock, within=HEADER_TIMEOUT + 5)
        assert sock.recv(100) == b""
    assert HEADER_TIMEOUT - 0.05 <= held <= HEADER_TIMEOUT + SLACK
    after = node.metric(
        "castedge_connection_timeouts_total", listener="origin", timeout="header_timeout"
    )
    assert after == before + 1


def test_an_idle_connection_is_closed_after_keepalive_timeout(node: Node) -> None:
    with socket.create_connection(node.address()) as sock:
        sock.sendall(PROBE.replace(b"Connection: close\r\n", b""))
        # The answer takes a millisecond; the idle time starts with it.
        answered = time.monotonic()
        assert read_answer(sock).status == 206
        held = wait_closed(sock, within=KEEPALIVE_TIMEOUT + 5, began=answered)
        assert sock.recv(100) == b""
    assert KEEPALIVE_TIMEOUT - 0.05 <= held <= KEEPALIVE_TIMEOUT + SLACK


def test_the_admin_listener_cuts_slow_heads_too(node: Node) -> None:
    with socket.create_connection(node.address("admin")) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        began = time.monotonic()
        answer = read_answer(sock, timeout=HEADER_TIMEOUT + 5)
    assert answer.status == 408
    assert time.monotonic() - began <= HEADER_TIMEOUT + SLACK
    assert (
        node.metric("castedge_bad_requests_total", listener="admin", reason="header_timeout") >= 1
    )
