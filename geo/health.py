"""Whether each region is fit to receive players, from a run of probe results.

Pure: probes (active /healthz checks) and passive failures (a redirect target that
refused a connection) are reported in; nothing here performs them or reads the clock.
The thresholds follow HAProxy's `rise` and `fall`: one bad probe does not take a
region out, and one good probe does not bring it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from geo.errors import InvalidSetting, UnknownRegion

# HAProxy's defaults for `rise` and `fall`
# (https://docs.haproxy.org/2.8/configuration.html#5.2-rise).
DEFAULT_RISE = 2
DEFAULT_FALL = 3


@dataclass(slots=True)
class HealthState:
    """One region's health: up or down, and the streak that may flip it.

    A region starts healthy. The locator has no probe results when it starts, and
    starting every region unhealthy would send all players to the default region
    (or nowhere) until `rise` probes had passed everywhere; starting healthy costs at
    most `fall` probe intervals of misdirected players for a region that really is
    down, and passive failures shorten that.
    """

    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    healthy: bool = True
    successes: int = 0
    """Consecutive successful probes ending with the latest report."""
    failures: int = 0
    """Consecutive failures (probes or passive) ending with the latest report."""

    def __post_init__(self) -> None:
        for name, value in (("rise", self.rise), ("fall", self.fall)):
            if value < 1:
                raise InvalidSetting(name, value, "a whole number of checks, 1 or more")

    def record(self, ok: bool) -> bool:
        """Take one probe result; answer True when it flipped the region up or down."""
        if ok:
            self.failures = 0
            self.successes += 1
            if not self.healthy and self.successes >= self.rise:
                self.healthy = True
                return True
        else:
            self.successes = 0
            self.failures += 1
            if self.healthy and self.failures >= self.fall:
                self.healthy = False
                return True
        return False

    def mark_failed(self) -> bool:
        """Count a failure seen in passing (a connection refused or reset); as `record(False)`."""
        return self.record(False)


class HealthBoard:
    """The health of every region in a catalogue, by region name."""

    def __init__(
        self, names: Iterable[str], *, rise: int = DEFAULT_RISE, fall: int = DEFAULT_FALL
    ) -> None:
        self._states = {name: HealthState(rise=rise, fall=fall) for name in names}

    def record(self, name: str, ok: bool) -> bool:
        """Take a probe result for one region; answer True when it flipped."""
        return self.state(name).record(ok)

    def mark_failed(self, name: str) -> bool:
        """Count a passive failure against one region; answer True when it flipped."""
        return self.state(name).mark_failed()

    def state(self, name: str) -> HealthState:
        """One region's state, for status tables."""
        try:
            return self._states[name]
        except KeyError:
            raise UnknownRegion(name) from None

    def states(self) -> Mapping[str, HealthState]:
        """Every region's state by name, in the order the board was built with."""
        return dict(self._states)

    def healthy_names(self) -> frozenset[str]:
        """The names of the regions currently fit to receive players."""
        return frozenset(name for name, state in self._states.items() if state.healthy)
