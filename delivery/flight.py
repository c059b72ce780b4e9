"""Single flight across worker processes for bodies the store cannot keep.

Workers that share a cache directory share a fill the store keeps through its file
(``claims``, ``fill``). A body the store cannot keep (too large, no room, the disk
failed, an origin streaming while it falls back) has no file: one worker reads it
into a ``relay.Relay`` in its memory, and without more every other worker would open
a GET of its own. So the worker about to open such a GET first claims the object's
*flight* for the whole node, and a worker that finds it claimed reads the body from
the worker holding it instead.

The claim and the channel are one thing: a unix stream socket in Linux's abstract
namespace (``unix(7)``), named after the cache directory and the key. Binding it is
the claim: atomic, exclusive, and released by the kernel the moment its process dies,
which also ends every follower's connection (EOF), so a crashed leader never leaves a
claim behind nor a follower waiting. It is a socket, not a spill file the followers
tail, because the paths it serves are the ones where the cache directory cannot take
a file: full, read-only, failing; the abstract namespace needs no file anywhere. Both
ends check the other's user (``SO_PEERCRED``): a socket some other user bound first is
never read from (the worker fetches by itself, as if alone), and nobody else is sent
a byte.

Each follower worker is one more reader (a ``Seat``) on the leader's relay, held to
the same window and grace as a client; it passes the bytes on to its own relay, where
its own clients read. The wire is frames of a type byte and a 4-byte length:

- ``M`` the object's metadata as JSON, and why it is not stored; the body follows;
- ``D`` the next bytes of the body;
- ``E`` the whole body arrived and checked out (the leader's relay holds the last
  byte back until then, so a follower's never passes for whole before that either);
- ``F`` not a stream: the leader stores it, follow its file;
- ``L`` let go (``behind``, ``slow``): fetch by yourself;
- ``X`` the fetch failed: its status hint and message, answered the same way.

A connection that ends without ``E`` or ``X`` (the leader was killed) fails the
follower's fill, and its clients are cut short like the leader's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from .errors import (
    DeliveryError,
    FillFailed,
    ObjectNotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .objectfile import ObjectMeta
from .relay import Detached, Seat

__all__ = ["Lead", "LetGo", "Peer", "claim", "flight_name", "serve_peer"]

_NAMESPACE = b"\0castedge-flight/"
_FRAME = struct.Struct(">cI")
#: The most one data frame carries.
FRAME_DATA = 512 * 1024
#: Followers a leader may have queued at once: one per other worker at most.
_BACKLOG = 64
_CRED = struct.Struct("3i")


class LetGo(Exception):
    """The leader let this follower go (``reason``: ``behind`` or ``slow``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"let go by the worker streaming it: {reason}")
        self.reason = reason


def flight_name(root: Path | str, key: str) -> bytes:
    """The abstract socket name of ``key``'s flight among the workers sharing ``root``."""
    digest = hashlib.sha256(f"{os.path.realpath(root)}\0{key}".encode()).hexdigest()
    return _NAMESPACE + digest[:40].encode()


def _ours(sock: socket.socket) -> bool:
    """Whether the process at the other end runs as our user."""
    try:
        _, uid, _ = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))
    except OSError:
        return False
    return bool(uid == os.getuid())


class Lead:
    """This worker's claim on a flight: followers connect here while it holds it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._accepting: asyncio.Task[None] | None = None

    def start(self, on_peer: Callable[[socket.socket], None]) -> None:
        """Hand every follower that connects from now on to ``on_peer``."""
        self._accepting = asyncio.create_task(self._accept(on_peer), name="flight accept")

    async def _accept(self, on_peer: Callable[[socket.socket], None]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            if _ours(conn):
                on_peer(conn)
            else:
                conn.close()

    async def close(self) -> None:
        """Give the claim up: no more followers (those connected keep their stream)."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        self._sock.close()


class Peer:
    """A follower's connection to the worker leading a flight."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def first(self, key: str, stall: float) -> tuple[ObjectMeta, str] | str | None:
        """The leader's first word: the metadata and why it is not stored, ``file``
        (it is stored: follow the file) or ``behind`` (fetch by yourself); None when
        the leader went away before saying anything. Raises the fetch's error."""
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)
        try:
            kind, payload = await _read_frame(self._reader, stall)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        except TimeoutError as exc:
            raise FillFailed(key, "the worker streaming it said nothing") from exc
        if kind == b"M":
            doc = json.loads(payload)
            uncached = str(doc.pop("uncached"))
            return ObjectMeta(**doc), uncached
        if kind == b"F":
            return "file"
        if kind == b"L":
            return "behind"
        if kind == b"X":
            raise _error(key, payload)
        raise FillFailed(key, f"unexpected frame {kind!r} from the worker streaming it")

    async def chunks(self, key: str, stall: float) -> AsyncIterator[bytes]:
        """The body, frame by frame, until the leader says it is whole.

        Raises LetGo when the leader let this worker go, the fetch's error when it
        failed, and FillFailed when the leader stopped without a word or went silent
        for ``stall`` seconds."""
        assert self._reader is not None, "first() first"
        while True:
            try:
                kind, payload = await _read_frame(self._reader, stall)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise FillFailed(key, "the worker streaming it stopped") from exc
            except TimeoutError as exc:
                raise FillFailed(key, "the worker streaming it stalled") from exc
            if kind == b"D":
                yield payload
            elif kind == b"E":
                return
            elif kind == b"L":
                raise LetGo(payload.decode())
            elif kind == b"X":
                raise _error(key, payload)
            else:
                raise FillFailed(key, f"unexpected frame {kind!r} from the worker streaming it")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()


def claim(name: bytes) -> Lead | Peer | None:
    """Claim the flight ``name`` (Lead), or connect to the worker that holds it (Peer).

    None: no flight to share here (the name is held by another user's process, or the
    system refuses): fetch as if alone.
    """
    for _ in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(name)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                return None
        else:
            sock.listen(_BACKLOG)
            sock.setblocking(False)
            return Lead(sock)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        # A local connect completes at once unless the leader's backlog is full.
        conn.settimeout(1.0)
        try:
            conn.connect(name)
        except ConnectionRefusedError:
            # The leader let go between our bind and our connect: claim it again.
            conn.close()
            continue
        except OSError:
            conn.close()
            return None
        if not _ours(conn):
            conn.close()
            return None
        conn.setblocking(False)
        return Peer(conn)
    return None


async def serve_peer(
    conn: socket.socket,
    seat: Seat,
    meta: asyncio.Future[ObjectMeta],
    uncached: Callable[[], str | None],
) -> None:
    """Send one follower the body through ``seat`` on the leader's relay.

    ``meta`` resolves once the upstream answered; ``uncached`` then says why the body
    goes through the relay (None: it goes to a file instead, and the follower is told
    to follow that). Closes ``seat`` and ``conn`` when done.
    """
    _, writer = await asyncio.open_unix_connection(sock=conn)
    try:
        try:
            found = await asyncio.shield(meta)
        except DeliveryError as exc:
            _send(writer, b"X", _error_doc(exc))
            return
        reason = uncached()
        if reason is None:
            _send(writer, b"F")
            return
        try:
            seat.position(0)
        except Detached as exc:
            _send(writer, b"L", exc.reason.encode())
            return
        doc: dict[str, Any] = {
            "key": found.key,
            "size": found.size,
            "etag": found.etag,
            "last_modified": found.last_modified,
            "content_type": found.content_type,
            "uncached": reason,
        }
        _send(writer, b"M", json.dumps(doc).encode())
        pos = 0
        try:
            while pos < found.size:
                data = await seat.read(FRAME_DATA)
                pos += len(data)
                _send(writer, b"D", data)
                await writer.drain()
        except Detached as exc:
            _send(writer, b"L", exc.reason.encode())
            return
        except DeliveryError as exc:
            _send(writer, b"X", _error_doc(exc))
            return
        except EOFError:
            _send(writer, b"X", _error_doc(FillFailed(found.key, "the stream ended short")))
            return
        _send(writer, b"E")
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the follower went away; its seat closes below
    finally:
        seat.close()
        writer.close()


def _send(writer: asyncio.StreamWriter, kind: bytes, payload: bytes | memoryview = b"") -> None:
    writer.write(_FRAME.pack(kind, len(payload)))
    if payload:
        writer.write(payload)


async def _read_frame(reader: asyncio.StreamReader, stall: float) -> tuple[bytes, bytes]:
    async with asyncio.timeout(stall):
        kind, length = _FRAME.unpack(await reader.readexactly(_FRAME.size))
        return kind, await reader.readexactly(length) if length else b""


def _error_doc(exc: DeliveryError) -> bytes:
    doc: dict[str, Any] = {"status": exc.status_hint, "message": str(exc)}
    if isinstance(exc, UpstreamUnavailable):
        doc.update(detail=exc.detail, retry_after=exc.retry_after)
    if isinstance(exc, UpstreamTimeout):
        doc.update(detail=exc.what, seconds=exc.seconds)
    return json.dumps(doc).encode()


def _error(key: str, payload: bytes) -> DeliveryError:
    """The leader's error, as the follower's own clients are to be answered."""
    doc = json.loads(payload)
    status, message = int(doc["status"]), str(doc["message"])
    if status == 404:
        return ObjectNotFound(key)
    if status == 504 and "seconds" in doc:
        return UpstreamTimeout(
            str(doc["detail"]), seconds=float(doc["seconds"]), retry_after=int(doc["retry_after"])
        )
    if status == 503 and "detail" in doc:
        return UpstreamUnavailable(str(doc["detail"]), retry_after=int(doc["retry_after"]))
    return FillFailed(key, message)
