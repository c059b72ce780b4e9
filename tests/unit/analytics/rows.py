"""Rows of a download log for the counting tests: one listener's requests, made briefly."""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from pathlib import Path

import analytics
from analytics import AgentList, Episode, Row

#: 2026-11-03 07:00:00 UTC.
MORNING = datetime.datetime(2026, 11, 3, 7, tzinfo=datetime.UTC).timestamp()
DAY = 86400.0

KEY = "podcast/ep215.mp3"
#: A 20-minute episode at 128 kbps behind a 400 KB tag.
TAG = 400_000
BITRATE = 128_000
MINUTE = BITRATE * 60 // 8
SIZE = TAG + 20 * MINUTE
EPISODE = Episode(KEY, SIZE, TAG, BITRATE, 1200.0, "cache")

APPLE = "Podcasts/1650.20 CFNetwork/1408.0.4 Darwin/22.5.0"
SPOTIFY = "Spotify/8.9.10 Android/34 (Pixel 8)"
ANTENNAPOD = "AntennaPod/3.4.0"
OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
POCKET_CASTS = "Pocket Casts"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
WATCH = "atc/1.0 watchOS/10.5 model/Watch6,1 hwp/t8301 build/21T576 (6; dt:228)"


def agents() -> AgentList:
    shipped = Path(analytics.__file__).parent / "data" / "user-agents.json"
    return AgentList.from_document(json.loads(shipped.read_text()))


def get(
    start: int = 0,
    end: int | None = None,
    *,
    sent: int | None = None,
    agent: str = APPLE,
    ip: str = "203.0.113.7",
    time: float = MORNING,
    key: str = KEY,
    size: int = SIZE,
    status: int | None = None,
    method: str = "GET",
) -> Row:
    """A GET of bytes ``start``-``end`` (both included; None: to the end), all sent."""
    last = size - 1 if end is None else end
    whole = start == 0 and end is None
    return Row(
        time=time,
        node="origin-1",
        method=method,
        status=status if status is not None else (200 if whole else 206),
        key=key,
        size=size,
        start=start,
        end=last,
        sent=last - start + 1 if sent is None else sent,
        ip=ip,
        net=None,
        agent=agent,
    )


def head(**kw: object) -> Row:
    return replace(get(**kw), method="HEAD", sent=0)  # type: ignore[arg-type]
