"""Drawing a file's upload on a stream: one line redrawn in place on a terminal, else one line.

boto3 reports progress from its transfer threads, so counting takes a lock; the
line is redrawn at most ``REDRAW`` times a second, as a terminal cannot show more.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from .progress import bar_line, done_line

__all__ = ["ProgressLine"]

#: Redraws a second, at most.
REDRAW = 10
# Carriage return, then erase to the end of the line (ECMA-48 "EL").
_REDRAW = "\r\x1b[K"


class ProgressLine:
    """The progress of one upload on ``stream``; use as a context manager around it."""

    def __init__(
        self,
        stream: TextIO,
        name: str,
        total: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
    ) -> None:
        self.stream = stream
        self.name = name
        self.total = total
        self.clock = clock
        self.live = stream.isatty() if live is None else live
        self.done = 0
        self.started = clock()
        self.elapsed = 0.0
        self._drawn = float("-inf")
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        """Count ``count`` more bytes sent (boto3's ``Callback``; negative on a retried part)."""
        with self._lock:
            self.done = max(0, self.done + count)
            now = self.clock()
            if self.live and now - self._drawn >= 1 / REDRAW:
                self._drawn = now
                width = shutil.get_terminal_size().columns - 1
                line = bar_line(self.name, self.done, self.total, now - self.started, width)
                self.stream.write(_REDRAW + line)
                self.stream.flush()

    def __enter__(self) -> ProgressLine:
        self.advance(0)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed = self.clock() - self.started
        start = _REDRAW if self.live else ""
        if exc is None:
            self.stream.write(start + done_line(self.name, self.total, self.elapsed) + "\n")
        elif self.live:
            self.stream.write(_REDRAW)
        self.stream.flush()
