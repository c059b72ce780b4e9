"""Downloads and listeners from the rows of a period, by the IAB v2.2 rules.

1. Filter each request (``filters.request_reason``; Step 1).
2. Add up what each listener — an address (IPv4, or the /64 of IPv6) and a
   User-Agent — was sent of each episode on each UTC day, counting every byte once
   however the ranges overlap (Step 3, "Identify and aggregate uniques"; the window
   is the UTC day, see ``period``).
3. That is one download when it holds at least one minute of audio after the ID3 tag,
   at the episode's bitrate (Step 2, "Apply File Threshold Levels"). When the bitrate
   is unknown or the episode is shorter than a minute, only the complete file counts,
   as Step 2 allows. Anything less is ``short``.
4. An address with more downloads of one episode in a day than ``address_limit`` is
   flagged, and none of its downloads that day count (Step 1.2, item 1).
5. An episode's downloads are its listener-days that qualified; its listeners, the
   distinct listeners among them; its bytes, what those downloads were sent.

Pure: rows in, a Report out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .agents import AgentList
from .filters import Reason, request_reason
from .intervals import Span, covered
from .mp3 import AudioInfo
from .period import Period, utc_day
from .privacy import listener_address, locating_address
from .report import Flag, Report, Threshold, Totals
from .row import Row

__all__ = ["UNKNOWN", "Episode", "Group", "count"]

#: The group of a listener whose app or country is not known.
UNKNOWN = "unknown"


class Group(StrEnum):
    """What ``--by`` breaks an episode's totals down by."""

    APP = "app"
    COUNTRY = "country"
    DAY = "day"


@dataclass(frozen=True)
class Episode:
    """What the download threshold needs to know about one episode."""

    key: str
    size: int
    audio_start: int = 0
    #: Bits per second; None: unknown, so only complete downloads count.
    bitrate: int | None = None
    duration: float | None = None
    #: Where the bitrate came from: "cache", "storage", "given", "unknown".
    source: str = "unknown"

    @classmethod
    def from_audio(cls, key: str, size: int, info: AudioInfo, source: str) -> Episode:
        return cls(key, size, info.audio_start, info.bitrate, info.duration, source)

    @property
    def threshold(self) -> Threshold:
        """A minute of audio after the tag, or, when that cannot be used, the whole file."""
        if self.bitrate:
            minute = math.ceil(self.bitrate * 60 / 8)
            short = self.duration is not None and self.duration < 60
            if not short and minute <= self.size - self.audio_start:
                return Threshold("one minute", self.bitrate, self.audio_start, minute, self.source)
        return Threshold("complete file", self.bitrate, 0, self.size, self.source)

    def qualifies(self, spans: Iterable[Span]) -> bool:
        """Whether a listener sent these spans of the file has made a download."""
        threshold = self.threshold
        if threshold.rule == "one minute":
            return covered(spans, self.audio_start, self.size) >= threshold.needed
        return self.size > 0 and covered(spans, 0, self.size) >= self.size


@dataclass
class _Listening:
    """One listener's requests for one episode on one day."""

    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    sent: int = 0
    group: str = UNKNOWN


@dataclass
class _Sum:
    downloads: int = 0
    listeners: set[tuple[str, str]] = field(default_factory=set)
    bytes: int = 0

    def add(self, listener: tuple[str, str], sent: int) -> None:
        self.downloads += 1
        self.listeners.add(listener)
        self.bytes += sent

    def totals(self) -> Totals:
        return Totals(self.downloads, len(self.listeners), self.bytes)


# (episode, day, listener address, user agent)
_Key = tuple[str, str, str, str]


def count(
    rows: Iterable[Row],
    episodes: Mapping[str, Episode],
    agents: AgentList,
    *,
    period: Period,
    address_limit: int,
    group: Group | None = None,
    countries: Mapping[str, str] | None = None,
) -> Report:
    """Count the downloads in ``rows`` that fall in ``period``.

    ``episodes`` gives each key's bitrate and tag size (a key it lacks is counted by
    the complete-file rule); ``countries`` maps a row's locating address
    (``privacy.locating_address``) to a country code, for ``group`` COUNTRY.
    """
    first, last = period.first, period.last
    filtered: Counter[str] = Counter()
    listenings: dict[_Key, _Listening] = {}
    sizes: dict[str, int] = {}
    for row in rows:
        day = utc_day(row.time)
        if not first <= day <= last:
            continue
        reason = request_reason(row, agents)
        if reason is not None:
            filtered[reason] += 1
            continue
        if row.size is not None:
            sizes[row.key] = max(sizes.get(row.key, 0), row.size)
        which = (row.key, day, listener_address(row.ip), row.agent)
        listening = listenings.get(which)
        if listening is None:
            named = _group(row, day, group, agents, countries)
            listening = listenings[which] = _Listening(group=named)
        listening.requests += 1
        if row.sent > 0:
            start = row.start or 0
            listening.spans.append((start, start + row.sent))
            listening.sent += row.sent
    known = {
        key: episodes.get(key) or Episode(key, sizes.get(key, 0))
        for key in {k[0] for k in listenings}
    }
    downloads: dict[_Key, _Listening] = {}
    for which, listening in listenings.items():
        if known[which[0]].qualifies(listening.spans):
            downloads[which] = listening
        else:
            filtered[Reason.SHORT] += listening.requests
    flagged = _flag(downloads, address_limit)
    for flag in flagged:
        filtered[Reason.ANOMALOUS_ADDRESS] += flag.requests
    sums: dict[str, _Sum] = {key: _Sum() for key in known}
    groups: dict[str, dict[str, _Sum]] = defaultdict(lambda: defaultdict(_Sum))
    for (episode, _day, address, agent), listening in downloads.items():
        sums[episode].add((address, agent), listening.sent)
        if group is not None:
            groups[episode][listening.group].add((address, agent), listening.sent)
    return Report(
        period=period,
        episodes={key: total.totals() for key, total in sums.items()},
        filtered={str(reason): number for reason, number in filtered.items()},
        flagged=flagged,
        thresholds={key: episode.threshold for key, episode in known.items()},
        group=None if group is None else str(group),
        groups={
            key: {name: total.totals() for name, total in named.items()}
            for key, named in groups.items()
        },
    )


def _flag(downloads: dict[_Key, _Listening], limit: int) -> tuple[Flag, ...]:
    """Take out, and report, the downloads of addresses that made more than ``limit``."""
    by_address: dict[tuple[str, str, str], list[_Key]] = defaultdict(list)
    for key in downloads:
        by_address[key[:3]].append(key)
    flags = []
    for (episode, day, address), keys in sorted(by_address.items()):
        if len(keys) <= limit:
            continue
        requests = sum(downloads.pop(key).requests for key in keys)
        flags.append(Flag(episode, day, address, len(keys), requests))
    return tuple(flags)


def _group(
    row: Row,
    day: str,
    group: Group | None,
    agents: AgentList,
    countries: Mapping[str, str] | None,
) -> str:
    if group is Group.DAY:
        return day
    if group is Group.APP:
        agent = agents.classify(row.agent)
        return agent.app if agent is not None and agent.app else UNKNOWN
    if group is Group.COUNTRY:
        where = locating_address(row.ip, row.net)
        return (countries or {}).get(where, UNKNOWN) if where is not None else UNKNOWN
    return UNKNOWN
