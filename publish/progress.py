"""The line a file's upload shows on the terminal: while it goes, and once it is done.

Plain strings from plain numbers; drawing them on stderr, and when, is the caller's.
"""

from __future__ import annotations

from . import human

__all__ = ["bar_line", "done_line", "fit"]

#: The bar is never narrower than this; a narrow terminal drops the bar first.
MIN_BAR = 10
MAX_BAR = 30
#: Fewer characters of a key than this say nothing; below it the bar goes.
MIN_NAME = 12
#: Below this many seconds a rate says more about the clock than about the network.
MIN_RATE_TIME = 0.1


def fit(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters, cut at the start: keys differ at the end."""
    if len(name) <= width:
        return name
    if width < 1:
        return ""
    return "…" + name[len(name) - width + 1 :]


def bar_line(name: str, done: int, total: int, elapsed: float, width: int = 80) -> str:
    """``courses/x/a.mp4  [######------]  52%  6.3 MB of 12 MB  31 MB/s``, within ``width``."""
    fraction = 1.0 if total <= 0 else min(done / total, 1.0)
    figures = f"{int(fraction * 100):3d}%  {human.size(done)} of {human.size(total)}"
    speed = human.rate(done, elapsed)
    if speed:
        figures += f"  {speed}"
    # "name  [bar]  figures": six characters of brackets and spaces around the bar.
    room = width - len(figures) - 6
    if room < MIN_BAR + MIN_NAME:
        return fit(f"{name}  {figures}", width)
    shown = fit(name, room - MIN_BAR)
    bar_room = min(MAX_BAR, room - len(shown))
    filled = int(fraction * bar_room)
    bar = "#" * filled + "-" * (bar_room - filled)
    return f"{shown}  [{bar}]  {figures}"


def done_line(name: str, total: int, elapsed: float) -> str:
    """``courses/x/a.mp4: 12 MB in 0.4 s (31 MB/s)``; no rate for what took a moment."""
    speed = human.rate(total, elapsed) if elapsed >= MIN_RATE_TIME else ""
    tail = f" ({speed})" if speed else ""
    return f"{name}: {human.size(total)} in {human.duration(elapsed)}{tail}"
