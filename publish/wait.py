"""Polling the sync daemon until the regions hold what was published, or time runs out.

The polls start quick and slow down (``FIRST_POLL`` × ``BACKOFF`` up to
``LAST_POLL``): a small file is in every region within a second or two, a season
of video takes minutes, and the holdings document grows with the bucket. A daemon
that does not answer may be restarting, so it is asked again until the deadline;
one that refuses the token, or is no sync daemon, is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .answers import Holdings, SyncStatus
from .arrivals import Event, Watch
from .errors import DaemonUnreachable

__all__ = ["NoAnswer", "Outcome", "Polled", "wait_for_regions"]

FIRST_POLL = 0.2
BACKOFF = 1.5
LAST_POLL = 5.0


class Polled(Protocol):
    """What the wait reads: ``daemon.SyncDaemon``, or a stand-in."""

    def status(self) -> SyncStatus: ...

    def holdings(self) -> Holdings: ...


@dataclass(frozen=True)
class NoAnswer:
    """The daemon did not answer a poll; reported once for each new reason."""

    reason: str


@dataclass(frozen=True)
class Outcome:
    """How the wait ended: ``done``, or what was missing and the daemon's last failure."""

    done: bool
    missing: dict[str, list[str]]
    trouble: str | None


def wait_for_regions(
    daemon: Polled,
    watch: Watch,
    *,
    timeout: float,
    report: Callable[[Event | NoAnswer], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll ``daemon`` into ``watch`` until it is done or ``timeout`` seconds pass.

    Raises DaemonRefused or BadAnswer at once: waiting would not mend a wrong token
    or a node that runs no sync daemon.
    """
    deadline = clock() + timeout
    interval = FIRST_POLL
    trouble: str | None = None
    while True:
        try:
            status = daemon.status()
            holdings = daemon.holdings()
        except DaemonUnreachable as exc:
            if str(exc) != trouble:
                trouble = str(exc)
                report(NoAnswer(trouble))
        else:
            trouble = None
            for event in watch.observe(status, holdings, clock()):
                report(event)
            if watch.done:
                return Outcome(True, {}, None)
        left = deadline - clock()
        if left <= 0:
            return Outcome(False, watch.missing(), trouble)
        sleep(min(interval, left))
        interval = min(interval * BACKOFF, LAST_POLL)
