"""Errors the analytics package raises, under one base so a command can report any in one line.

The tree::

    AnalyticsError
     ├── BadRow             a line of a download log that is not a row; .reason
     ├── BadAgentList       a user-agent list that cannot be used; .entry (its index) and .reason
     ├── NotAudio           bytes with no MPEG audio frame where an episode's audio should start
     ├── BadPeriod          a day that is not YYYY-MM-DD, or an --until before --since
     └── StoreUnusable      the SQLite store cannot be opened or is not castedge's

Counting itself never raises: a row the rules cannot use is filtered, with its reason.
"""

from __future__ import annotations

__all__ = ["AnalyticsError", "BadAgentList", "BadPeriod", "BadRow", "NotAudio", "StoreUnusable"]


class AnalyticsError(Exception):
    """Base of every error the analytics package raises."""


class BadRow(AnalyticsError, ValueError):
    """A line of a download log that does not parse as a row."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a download row: {reason}")
        self.reason = reason


class BadAgentList(AnalyticsError, ValueError):
    """A user-agent list (OPAWG's format) with an entry that cannot be used."""

    def __init__(self, reason: str, entry: int | None = None) -> None:
        where = f"entry {entry}: " if entry is not None else ""
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.entry = entry


class NotAudio(AnalyticsError, ValueError):
    """No MPEG audio frame was found in the bytes given, so no bitrate can be read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadPeriod(AnalyticsError, ValueError):
    """A reporting period that cannot be used."""


class StoreUnusable(AnalyticsError):
    """The analytics store (SQLite) cannot be opened, or holds something else."""
