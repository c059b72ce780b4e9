"""Counting windows and reporting periods, in whole UTC days.

IAB v2.2 asks for unique downloads "within a 24 hour window" and for the window to be
disclosed. castedge uses fixed calendar days in UTC, as OP3 and Castopod do: a
listener's requests for an episode on one UTC day are one download at most, and the
next UTC day can count again. The daily salt of hashed addresses turns over at the
same moment, so a window never spans two salts. A period is a range of such days,
both ends included.

Pure: the caller passes times; nothing here reads the clock.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from .errors import BadPeriod

__all__ = ["Period", "parse_day", "utc_day"]

_DAY = datetime.timedelta(days=1)


def utc_day(time: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of a time in seconds since the epoch: its window."""
    return datetime.datetime.fromtimestamp(time, datetime.UTC).date().isoformat()


def parse_day(text: str, what: str = "day") -> datetime.date:
    """A day written ``YYYY-MM-DD``; BadPeriod naming ``what`` otherwise."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"{what}: expected a day such as 2026-11-01, got {text!r}") from None


@dataclass(frozen=True)
class Period:
    """The UTC days ``since`` to ``until``, both included."""

    since: datetime.date
    until: datetime.date

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise BadPeriod(f"until {self.until} is before since {self.since}")

    @classmethod
    def parse(cls, since: str, until: str | None, *, now: float) -> Period:
        """From ``--since``/``--until`` text; ``until`` None is the UTC day of ``now``."""
        last = parse_day(until, "until") if until else datetime.date.fromisoformat(utc_day(now))
        return cls(parse_day(since, "since"), last)

    @property
    def first(self) -> str:
        return self.since.isoformat()

    @property
    def last(self) -> str:
        return self.until.isoformat()

    def days(self) -> list[str]:
        """Every day of the period, in order."""
        count = (self.until - self.since).days + 1
        return [(self.since + n * _DAY).isoformat() for n in range(count)]
