"""How long a fetch may still wait on storage: ``upstream.fill_deadline`` less what it lost.

Retries alone bound a stall badly: a silent S3 costs ``read_timeout`` per attempt, so
with the defaults (30 s, 4 retries) the waiters of a fill were released after about
150 s. A ``Patience`` is one fetch's budget for all its attempts together, in the
manner of nginx's ``proxy_next_upstream_timeout``: the time spent asking storage for
an answer (every attempt, backoff included) and the time a body spent stalled before it
broke off are charged to it; bytes arriving are not. When it runs out the fetch fails
with ``UpstreamTimeout``, whatever retries are left.

It bounds waiting, not transferring: a 100 MB episode coming in steadily over a slow
link, or a shared stream paced by its slowest client, takes as long as it takes.

Pure: the caller says how long it waited; nothing here reads a clock.
"""

from __future__ import annotations

__all__ = ["Patience"]


class Patience:
    """One fetch's budget, in seconds, for waiting on storage across all its attempts."""

    __slots__ = ("limit", "lost")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        #: Seconds charged so far.
        self.lost = 0.0

    def left(self, waiting: float = 0.0) -> float:
        """Seconds still allowed, for a wait that has already lasted ``waiting``."""
        return self.limit - self.lost - waiting

    def lose(self, seconds: float) -> None:
        """Charge a wait that is over (one attempt, a backoff, a stall that broke a body)."""
        self.lost += max(0.0, seconds)

    def exhaust(self) -> None:
        """Charge whatever is left: a wait that the budget itself cut off."""
        self.lost = max(self.lost, self.limit)

    @property
    def exhausted(self) -> bool:
        return self.left() <= 0

    def __repr__(self) -> str:
        return f"Patience({self.lost:.3f} of {self.limit:g} s)"
