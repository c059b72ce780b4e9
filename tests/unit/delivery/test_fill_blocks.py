"""How a fill cuts the upstream's chunks into writes (``delivery.fill._blocks``).

Past the first 2 MiB boundary of the file, writes cover whole aligned blocks, so the
page cache keeps the object in large folios; a pause of the upstream releases what is
held, so waiters are never kept behind a block that is slow to fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.fill import WRITE_BLOCK, _blocks
from delivery.objectfile import HEADER_ALIGN

#: Long enough that no pause of a loaded machine counts as the upstream's.
NEVER = 3600.0


async def chunks_of(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        if pos >= len(data):
            return
        yield data[pos : pos + size]
        pos += size
    if pos < len(data):
        yield data[pos:]


async def pieces_of(data: bytes, sizes: list[int], offset: int) -> list[bytes]:
    return [
        b"".join(bytes(part) for part in piece)
        async for piece in _blocks(chunks_of(data, sizes), offset, NEVER)
    ]


@settings(max_examples=30, deadline=None)
@given(
    total=st.integers(1, 3 * WRITE_BLOCK + 12345),
    sizes=st.lists(st.integers(1, 900_000), min_size=1, max_size=40),
)
def test_past_the_first_boundary_every_write_is_whole_aligned_blocks(
    total: int, sizes: list[int]
) -> None:
    data = bytes(range(256)) * (total // 256) + bytes(total % 256)
    pieces = asyncio.run(pieces_of(data, sizes, HEADER_ALIGN))
    assert b"".join(pieces) == data
    offset = HEADER_ALIGN
    for i, piece in enumerate(pieces):
        end = offset + len(piece)
        if offset >= WRITE_BLOCK and i < len(pieces) - 1:
            assert offset % WRITE_BLOCK == 0 and end % WRITE_BLOCK == 0, (offset, end)
        if end < WRITE_BLOCK:
            assert len(piece) in sizes or i == len(pieces) - 1, "held before the boundary"
        offset = end


async def test_bytes_before_the_first_boundary_are_written_as_they_come() -> None:
    data = b"x" * (WRITE_BLOCK + 100)
    assert [len(p) for p in await pieces_of(data, [1000, 1000], HEADER_ALIGN)] == [
        1000,
        1000,
        WRITE_BLOCK - HEADER_ALIGN - 2000,
        HEADER_ALIGN + 100,
    ]


async def test_a_pause_of_the_upstream_releases_what_is_held() -> None:
    sent = asyncio.Event()
    resume = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * (WRITE_BLOCK - HEADER_ALIGN)  # up to the first boundary
        yield b"b" * 5000  # held for the rest of its block...
        sent.set()
        await resume.wait()  # ...which does not come until the first 5000 are out
        yield b"c" * 7000

    pieces = _blocks(slow(), HEADER_ALIGN, hold=0.01)
    assert len(b"".join(await anext(pieces))) == WRITE_BLOCK - HEADER_ALIGN
    held = asyncio.ensure_future(anext(pieces))
    await sent.wait()
    # Within the hold, give or take a busy machine; without it, never.
    got = await asyncio.wait_for(held, 10)
    assert b"".join(got) == b"b" * 5000
    resume.set()
    assert [b"".join(p) async for p in pieces] == [b"c" * 7000]
