"""A relay: one body in a bounded window, read by every waiter at its own pace."""

from __future__ import annotations

import asyncio

import pytest

from delivery.errors import FillFailed
from delivery.relay import Detached, Relay, Seat

KIB = 1024


def relay(size: int, *, window: int = 64 * KIB, grace: float = 5.0) -> Relay:
    r = Relay(window=window, grace=grace, clock=asyncio.get_running_loop().time)
    r.begin(0, size)
    return r


async def read_all(seat: Seat, start: int, end: int, *, pause: float = 0.0) -> bytes:
    seat.position(start)
    got = bytearray()
    while start + len(got) < end:
        got += await seat.read(end - start - len(got))
        if pause:
            await asyncio.sleep(pause)
    seat.close()
    return bytes(got)


async def produce(r: Relay, body: bytes, chunk: int = 8 * KIB) -> bool:
    for i in range(0, len(body), chunk):
        if not await r.put(body[i : i + chunk]):
            return False
    r.finish(None)
    return True


async def test_every_reader_gets_the_whole_body_and_memory_stays_within_the_window() -> None:
    body = bytes(range(256)) * 2048  # 512 KiB through a 64 KiB window
    r = relay(len(body))
    seats = [r.seat() for _ in range(10)]
    most = 0

    async def watch() -> None:
        nonlocal most
        while not r.done:
            most = max(most, r.held)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    readers = [read_all(s, 0, len(body), pause=0.001 * (i % 3)) for i, s in enumerate(seats)]
    results = await asyncio.gather(produce(r, body), *readers)
    await watcher
    assert results[0] is True
    assert all(got == body for got in results[1:])
    assert most <= r.window + 8 * KIB
    assert r.detached == 0


async def test_the_last_byte_waits_until_the_body_checked_out() -> None:
    r = relay(10)
    seat = r.seat()
    seat.position(0)
    await r.put(b"0123456789")
    assert bytes(await seat.read(100)) == b"012345678"
    pending = asyncio.create_task(seat.read(100))
    await asyncio.sleep(0.01)
    assert not pending.done(), "the last byte must wait for finish()"
    r.finish(None)
    assert bytes(await pending) == b"9"


async def test_a_failed_body_never_reaches_a_reader_whole() -> None:
    r = relay(10)
    seat = r.seat()
    seat.position(0)
    await r.put(b"0123456789")
    await seat.read(100)
    r.finish(FillFailed("k", "MD5 does not match"))
    with pytest.raises(FillFailed, match="MD5"):
        await seat.read(100)


async def test_a_reader_that_stops_is_detached_after_the_grace_and_the_others_go_on() -> None:
    body = bytes(200 * KIB)
    r = relay(len(body), window=32 * KIB, grace=0.2)
    stuck, fast = r.seat(), r.seat()
    stuck.position(0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    _, got = await asyncio.gather(produce(r, body), read_all(fast, 0, len(body)))
    assert got == body
    # The stream waited for the stuck reader for its grace, once, then went on.
    assert 0.2 <= loop.time() - began < 2.0
    assert r.detached == 1
    with pytest.raises(Detached) as caught:
        await stuck.read(10)
    assert (caught.value.pos, caught.value.reason) == (0, "slow")


async def test_a_reader_after_the_bytes_it_needs_left_is_told_it_is_behind() -> None:
    body = bytes(128 * KIB)
    r = relay(len(body), window=16 * KIB)
    first = r.seat()
    reader = asyncio.create_task(read_all(first, 0, len(body)))
    for i in range(0, 64 * KIB, 8 * KIB):
        await r.put(body[i : i + 8 * KIB])
    while first.pos is not None and first.pos < 64 * KIB - 8 * KIB:
        await asyncio.sleep(0)
    late = r.seat()
    assert not r.holds(0)
    with pytest.raises(Detached) as caught:
        late.position(0)
    assert caught.value.reason == "behind"
    # A reader joining where the window still is reads from it.
    joining = r.seat()
    here = r.base
    tail = asyncio.create_task(read_all(joining, here, len(body)))
    await produce_rest(r, body, 64 * KIB)
    assert await reader == body
    assert await tail == body[here:]


async def produce_rest(r: Relay, body: bytes, start: int) -> None:
    for i in range(start, len(body), 8 * KIB):
        await r.put(body[i : i + 8 * KIB])
    r.finish(None)


async def test_the_producer_is_told_when_nobody_is_left_to_read() -> None:
    r = relay(100 * KIB, window=16 * KIB)
    seat = r.seat()
    seat.position(0)
    assert await r.put(bytes(8 * KIB))
    seat.close()
    assert not await r.put(bytes(8 * KIB))
    assert len(r) == 0


async def test_a_stream_that_begins_where_a_file_stopped_counts_from_there() -> None:
    r = Relay(window=64 * KIB, clock=asyncio.get_running_loop().time)
    parked = r.seat()  # a waiter still sending the part on disk
    r.begin(1000, 1010)
    await r.put(b"abcdefghij")
    r.finish(None)
    assert r.holds(1000) and not r.holds(999)
    assert await read_all(parked, 1000, 1010) == b"abcdefghij"


async def test_a_reader_that_comes_late_starts_at_byte_0_while_the_window_holds_it() -> None:
    body = bytes(range(256)) * 512  # 128 KiB through a 64 KiB window
    r = relay(len(body))
    first = r.seat()
    first.position(0)
    await r.put(body[: 32 * KIB])
    assert bytes(await first.read(32 * KIB)) == body[: 32 * KIB]
    # Read by everyone there was, yet still held: a newcomer gets it all.
    late = r.seat()
    late.position(0)
    reading = asyncio.create_task(read_all(late, 0, len(body)))
    rest = asyncio.create_task(read_all(first, 32 * KIB, len(body)))
    await produce_from(r, body, 32 * KIB)
    assert await reading == body
    assert await rest == body[32 * KIB :]
    # Once the window is full, what everyone read goes; a newcomer then is behind.
    with pytest.raises(Detached) as left:
        r.seat().position(0)
    assert left.value.reason == "behind"
    assert r.held <= r.window


async def produce_from(r: Relay, body: bytes, start: int, chunk: int = 8 * KIB) -> None:
    for i in range(start, len(body), chunk):
        await r.put(body[i : i + chunk])
    r.finish(None)
