"""Sizes, rates and durations as an operator reads them in a table or a progress line.

Sizes are decimal (kB, MB, GB: what ``200GB`` means in the settings file) and carry
two significant digits at most past the first: a table column, not an audit.
"""

from __future__ import annotations

__all__ = ["age", "duration", "rate", "size"]

_SIZE_UNITS = (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000))


def size(count: int | float) -> str:
    """``532 B``, ``1.2 kB``, ``12 MB``, ``1.2 GB``, ``120 TB``."""
    for unit, scale in _SIZE_UNITS:
        if count >= scale:
            value = count / scale
            # 9.96 rounds to "10.0"; show it as the next column would, "10".
            return f"{value:.1f} {unit}" if round(value, 1) < 10 else f"{value:.0f} {unit}"
    return f"{int(count)} B"


def rate(count: int | float, seconds: float) -> str:
    """``31 MB/s``; empty when no time has passed to divide by."""
    if seconds <= 0:
        return ""
    return f"{size(count / seconds)}/s"


def duration(seconds: float) -> str:
    """``0.4 s``, ``2.1 s``, ``42 s``, ``3 min 20 s``, ``5 h 12 min``, ``3 d 4 h``."""
    seconds = max(seconds, 0.0)
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def age(seconds: float) -> str:
    """``3.0 s ago``; a moment a little in the future (clocks a little apart) is ``just now``."""
    if seconds < 0:
        return "just now"
    return f"{duration(seconds)} ago"
