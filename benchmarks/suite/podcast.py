"""Podcast apps fetching a new episode the way the real ones do, and the storm they make.

When an episode is published every subscriber's app fetches it within minutes. The
sequences are those the origin's access logs show for the two largest apps:

* **Apple Podcasts** (AppleCoreMedia): some first send ``HEAD``; then ``Range:
  bytes=0-1`` to learn the size and that ranges work; then the file in large ranges
  (here two halves);
* **Spotify**: consecutive 10 MB ranges, ``bytes=0-9999999``, ``bytes=10000000-…``.

Each app is one aiohttp client session (its own connections, as separate phones have)
that starts at a random moment within ``spread`` seconds of the release. Every answer's
status and length is checked, and the first app of each kind checks every byte.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import aiohttp

SPOTIFY_RANGE = 10_000_000


@dataclass
class AppResult:
    """What one app saw: its requests' latencies and how its download went."""

    kind: str
    latencies_s: list[float] = field(default_factory=list)
    bytes: int = 0
    first_byte_s: float = 0.0
    done_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def apple_requests(size: int, head: bool) -> list[tuple[str, tuple[int, int] | None]]:
    half = size // 2
    steps: list[tuple[str, tuple[int, int] | None]] = [("HEAD", None)] if head else []
    return [*steps, ("GET", (0, 1)), ("GET", (0, half - 1)), ("GET", (half, size - 1))]


def spotify_requests(size: int) -> list[tuple[str, tuple[int, int] | None]]:
    return [
        ("GET", (start, min(start + SPOTIFY_RANGE, size) - 1))
        for start in range(0, size, SPOTIFY_RANGE)
    ]


async def _app(
    url: str,
    kind: str,
    steps: list[tuple[str, tuple[int, int] | None]],
    size: int,
    delay: float,
    expected: bytes | None,
    release: float,
) -> AppResult:
    result = AppResult(kind)
    await asyncio.sleep(delay)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        for method, byte_range in steps:
            headers = {"User-Agent": "AppleCoreMedia/1.0" if kind == "apple" else "Spotify/8.9"}
            if byte_range is not None:
                headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
            started = time.monotonic()
            try:
                async with session.request(method, url, headers=headers) as resp:
                    if not result.first_byte_s:
                        result.first_byte_s = time.monotonic() - release
                    got = 0
                    check = expected is not None and byte_range is not None
                    parts: list[bytes] = []
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        got += len(chunk)
                        if check:
                            parts.append(chunk)
                    want = 0 if method == "HEAD" else size
                    want_status = 200
                    if byte_range is not None:
                        want, want_status = byte_range[1] - byte_range[0] + 1, 206
                    if resp.status != want_status or got != want:
                        result.errors.append(
                            f"{method} {headers.get('Range')}: {resp.status}, {got} of {want} bytes"
                        )
                    elif (
                        check
                        and expected is not None
                        and byte_range is not None
                        and b"".join(parts) != expected[byte_range[0] : byte_range[1] + 1]
                    ):
                        result.errors.append(f"{method} {headers['Range']}: wrong bytes")
                    result.bytes += got
            except (TimeoutError, aiohttp.ClientError) as exc:
                result.errors.append(f"{method} {headers.get('Range')}: {type(exc).__name__}")
            result.latencies_s.append(time.monotonic() - started)
    result.done_s = time.monotonic() - release
    return result


async def storm(
    url: str,
    size: int,
    apps: int,
    *,
    expected: bytes,
    spotify_share: float = 0.3,
    head_share: float = 0.33,
    spread: float = 0.5,
    seed: int = 0,
) -> list[AppResult]:
    """``apps`` apps fetch ``url`` (``size`` bytes), starting within ``spread`` seconds."""
    rng = random.Random(seed)
    release = time.monotonic()
    tasks = []
    checked: set[str] = set()
    for _ in range(apps):
        kind = "spotify" if rng.random() < spotify_share else "apple"
        steps = (
            spotify_requests(size)
            if kind == "spotify"
            else apple_requests(size, rng.random() < head_share)
        )
        full_check = kind not in checked
        checked.add(kind)
        tasks.append(
            _app(
                url,
                kind,
                steps,
                size,
                rng.uniform(0, spread),
                expected if full_check else None,
                release,
            )
        )
    return list(await asyncio.gather(*tasks))
