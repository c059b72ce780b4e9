"""Access logs in the combined log format, so GoAccess and AWStats read them as they are.

``%b`` must be the body bytes really sent: aiohttp's own count misses what went out
through ``os.sendfile``, so ``MediaResponse.sent`` is used where there is one.
A request refused before it could be read, or for an over-long target, is logged
with ``-`` for its request line, as Apache logs a 408: the log must not carry what a
hostile client chose to send, at whatever length it chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import time
from logging.handlers import WatchedFileHandler
from time import time as wall_clock

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .limits import Refusal
from .serve import MediaResponse, SmallMediaResponse

__all__ = ["AccessFile", "CombinedLogFormat", "access_logger"]

log = logging.getLogger("castedge.serve")

#: The access logger's name ("-"); a file's logger is a child of it.
ACCESS = "castedge.access"
#: Seconds between two reports of an access log that cannot be written.
UNWRITABLE_EVERY = 60.0


class CombinedLogFormat(AbstractAccessLogger):
    """``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`` (Apache's combined).

    Written for a line per request at tens of thousands of requests a second: the
    timestamp is formatted once a second, only text that needs escaping is escaped
    character by character, and the record skips ``Logger.info``'s walk up the stack
    for a caller's file and line, which an access line never shows.
    """

    _second = -1
    _stamp = ""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        sent = (
            response.sent
            if isinstance(response, (MediaResponse, SmallMediaResponse))
            else response.body_length
        )
        if isinstance(response, Refusal) and (not response.parsed or response.status == 414):
            first = "-"
        else:
            first = self.request_line(request.method, request.rel_url.raw_path_qs, request.version)
        headers = request.headers
        self.write(
            request.remote,
            first,
            response.status,
            sent,
            headers.get("Referer", "-"),
            headers.get("User-Agent", "-"),
        )

    def write(
        self, remote: str | None, first: str, status: int, sent: int, referer: str, agent: str
    ) -> None:
        """Write one line; ``first`` is the request line as shown (already quoted)."""
        second = int(wall_clock())
        if second != self._second:
            now = datetime.datetime.fromtimestamp(second, datetime.UTC).astimezone()
            self._stamp = now.strftime("[%d/%b/%Y:%H:%M:%S %z]")
            self._second = second
        line = (
            f"{remote or '-'} - - {self._stamp} "
            f'"{first}" '
            f"{status} {sent if sent else '-'} "
            f'"{_quote(referer)}" '
            f'"{_quote(agent)}"'
        )
        logger = self.logger
        handlers = logger.handlers
        if len(handlers) == 1 and isinstance(handlers[0], AccessFile):
            # The file access_logger opened: no record, no formatter, no lock to take.
            handlers[0].write_line(line)
            return
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, line, (), None))

    def flush(self) -> None:
        """Write the lines held for the end of this turn of the loop now (``AccessFile``)."""
        for handler in self.logger.handlers:
            if isinstance(handler, AccessFile):
                handler.flush_lines()

    def request_line(self, method: str, raw_target: str, version: tuple[int, int]) -> str:
        """The request line as the log shows it, from the method and the raw target."""
        return f"{_quote(method)} {_quote(self.shown(raw_target))} HTTP/{version[0]}.{version[1]}"

    def shown(self, raw_target: str) -> str:
        """The request-target as written to the log; a service may hide part of it."""
        return raw_target


# Printable ASCII but for the quote and the backslash: what needs no escaping.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")


def _quote(text: str) -> str:
    # A quote or control character from a client must not forge fields or lines.
    if _PLAIN.fullmatch(text):
        return text
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in text)


class AccessFile(WatchedFileHandler):
    """An access log file, reopened after logrotate moves it (``WatchedFileHandler``).

    ``CombinedLogFormat`` hands it each line directly, without a log record. In an
    event loop the lines of one turn are held and written together when the turn's
    callbacks are done, in one ``write`` after one look at the path (``stat``), as
    nginx's ``access_log … buffer=`` does with a buffer that never waits past the turn:
    a line per request cost a ``stat`` and a ``write`` each, a fifth of a probe's server
    CPU. The fast path writes them before the turn's answers (``FastPath.flush``), so a
    client that has its answer finds its line in the file.

    A file that cannot be written (a full disk, a failed one, a directory the worker may
    no longer write after logrotate) costs its lines, never an answer: they are
    dropped, counted, and said in the service log at most once a minute
    (``UNWRITABLE_EVERY``), and the next turn tries the file afresh.
    """

    _held: list[str] | None = None
    #: The loop whose turn the held lines wait for.
    _held_loop: asyncio.AbstractEventLoop | None = None
    #: Lines that could not be written, and when that was last said.
    lost = 0
    _said = -UNWRITABLE_EVERY

    def write_line(self, line: str) -> None:
        """Append one line (without its newline): at the end of this turn, or now outside a loop."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        held = self._held
        if held is not None:
            if loop is self._held_loop:
                held.append(line)
                return
            # Held for a loop that stopped before its turn ended: they go first, now.
            self.flush_lines()
        if loop is None:
            self._append([line])
            return
        self._held = [line]
        self._held_loop = loop
        loop.call_soon(self.flush_lines)

    def flush_lines(self) -> None:
        """Write the lines held, if any."""
        held, self._held, self._held_loop = self._held, None, None
        if held:
            self._append(held)

    def _append(self, lines: list[str]) -> None:
        try:
            # Before every write, as WatchedFileHandler's emit: a moved file is noticed at once.
            self.reopenIfNeeded()
            stream = self.stream
            if stream is None:
                stream = self.stream = self._open()
                self._statstream()
            stream.write("\n".join(lines) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            self._unwritable(len(lines), exc)

    def _unwritable(self, count: int, exc: Exception) -> None:
        # What the stream still buffers would go out with a later turn's lines, after
        # them or torn: start the next turn on a fresh open instead.
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        self.lost += count
        now = time.monotonic()
        if now - self._said >= UNWRITABLE_EVERY:
            self._said = now
            log.error(
                "access log %s cannot be written (%s): %d line(s) dropped so far; "
                "answers go on. Free the disk or fix the file's permissions.",
                self.baseFilename, exc, self.lost,
            )  # fmt: skip

    def flush(self) -> None:
        self.flush_lines()
        super().flush()

    def close(self) -> None:
        self.flush_lines()
        super().close()


def access_logger(destination: str | None) -> logging.Logger:
    """The logger that writes access lines to ``destination`` ("-" = stderr, None = off).

    One logger per destination, so listeners of one worker that log to files of their
    own (an origin and a locator from one settings file) each write to theirs. Asking
    again for a destination opens its file afresh; None closes them all and turns the
    log off.
    """
    if destination is None:
        for each in (logging.getLogger(ACCESS), *_by_destination.values()):
            _close_handlers(each)
            each.disabled = True
        return logging.getLogger(ACCESS)
    logger = _by_destination.get(destination)
    if logger is None:
        name = ACCESS if destination == "-" else f"{ACCESS}.{len(_by_destination)}"
        logger = _by_destination[destination] = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    _close_handlers(logger)
    logger.disabled = False
    sink: logging.Handler = (
        logging.StreamHandler() if destination == "-" else AccessFile(destination)
    )
    sink.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(sink)
    return logger


#: The access loggers made so far, by destination (``access_logger``).
_by_destination: dict[str, logging.Logger] = {}


def _close_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
