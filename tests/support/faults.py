"""Misbehaving S3 answers for tests, served by the local S3 server's ``intercept`` hook."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Start = Callable[..., Any]


def truncating(key_path: str, body: bytes, *, keep: int) -> Callable[..., Iterable[bytes] | None]:
    """Answer GETs of ``key_path`` with the full length promised but only ``keep`` bytes sent."""

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        start_response("200 OK", _headers(body, len(body)))
        return [body[:keep]]

    return intercept


def pausing(
    key_path: str, body: bytes, *, at: int, release: threading.Event, limit: float = 20.0
) -> Callable[..., Iterable[bytes] | None]:
    """Send ``at`` bytes of a GET, wait for ``release`` (at most ``limit`` s), send the rest."""

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        rng = environ.get("HTTP_RANGE")
        if rng:  # a resume or a ranged read: answer it plainly
            first, _, last = rng.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last or len(body) - 1)
            start_response(
                "206 Partial Content",
                _headers(body, end - start + 1)
                + [("Content-Range", f"bytes {start}-{end}/{len(body)}")],
            )
            return [body[start : end + 1]]
        start_response("200 OK", _headers(body, len(body)))

        def stream() -> Iterator[bytes]:
            yield body[:at]
            release.wait(limit)
            yield body[at:]

        return stream()

    return intercept


def stalling(key_path: str, body: bytes, *, at: int, seconds: float) -> Callable[..., Any]:
    """Send ``at`` bytes of every GET, then go silent for ``seconds`` and hang up."""

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        start_response("200 OK", _headers(body, len(body)))

        def stream() -> Iterator[bytes]:
            yield body[:at]
            time.sleep(seconds)

        return stream()

    return intercept


def silent(
    key_path: str, body: bytes, *, where: str, hold: threading.Event, at: int = 65536
) -> Callable[..., Iterable[bytes] | None]:
    """Answer GETs of ``key_path`` as far as ``where``, then say nothing until ``hold`` is set.

    ``where="headers"``: not even the status line (S3 accepted the connection and went
    quiet). ``where="body"``: headers and the first ``at`` bytes of the span asked for,
    ranged resumes included, so every attempt stalls the same way.
    """

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        if where == "headers":
            hold.wait()
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        first, end = 0, len(body) - 1
        rng = environ.get("HTTP_RANGE")
        extra = []
        if rng:
            a, _, b = rng.removeprefix("bytes=").partition("-")
            first, end = int(a), int(b or end)
            extra.append(("Content-Range", f"bytes {first}-{end}/{len(body)}"))
        start_response(
            "206 Partial Content" if rng else "200 OK", _headers(body, end - first + 1) + extra
        )

        def stream() -> Iterator[bytes]:
            yield body[first : first + at]
            hold.wait()

        return stream()

    return intercept


def replaced_while_resuming(
    key_path: str, body: bytes, *, keep: int, replace: Callable[[], None]
) -> Callable[..., Iterable[bytes] | None]:
    """Cut the first full GET after ``keep`` bytes, calling ``replace`` (a new upload) first;
    everything after goes to the real S3 server, which now holds the new version."""
    done = threading.Event()

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        if done.is_set() or environ.get("HTTP_RANGE"):
            return None
        done.set()
        replace()
        start_response("200 OK", _headers(body, len(body)))
        return [body[:keep]]

    return intercept


def _headers(body: bytes, length: int) -> list[tuple[str, str]]:
    return [
        ("Content-Length", str(length)),
        ("ETag", f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'),
        ("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT"),
        ("Content-Type", "audio/mpeg"),
    ]


def first_attempts_fail(
    key_path: str, body: bytes, *, slow_down: int = 0, truncate: int = 0
) -> Callable[..., Iterable[bytes] | None]:
    """Answer the first ``slow_down`` GETs with 503 SlowDown, then cut the next ``truncate``
    short; later GETs (including ranged resumes) go to the real S3 server."""
    remaining = {"slow": slow_down, "cut": truncate}
    lock = threading.Lock()

    def intercept(environ: dict[str, Any], start_response: Start) -> Iterable[bytes] | None:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] != key_path:
            return None
        with lock:
            if remaining["slow"]:
                remaining["slow"] -= 1
                start_response("503 Slow Down", [("Content-Type", "application/xml")])
                return [b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"]
            if remaining["cut"] and not environ.get("HTTP_RANGE"):
                remaining["cut"] -= 1
                start_response("200 OK", _headers(body, len(body)))
                return [body[: len(body) // 3]]
        return None

    return intercept
