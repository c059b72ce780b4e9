"""What the daemon remembers between runs: the last listing and which region holds what.

The state is a value (``SyncState``) with a JSON form; ``StateFile`` writes it the way
everything durable is written here — a temporary file beside it, fsync, rename — so
a ``kill -9`` leaves either the old state or the new one. A restart then repeats no
transfer (a region that got an object whose completion was not yet recorded says so
when asked to prefetch it again, without fetching it) and misses nothing (what was
not recorded is planned again).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import StateFileError
from .plan import Obj

__all__ = ["Listing", "StateFile", "SyncState", "read_listing"]

_VERSION = 1


@dataclass
class SyncState:
    """The last listing, when each key's current version (or absence) was first seen,
    and the version of each key each region holds."""

    listing: dict[str, Obj] = field(default_factory=dict)
    listed_at: float | None = None
    #: The folders the listing covers (``sync.prefixes``; ``("",)`` is the whole bucket).
    prefixes: tuple[str, ...] = ()
    #: key -> unix time its listed version (or its deletion) was first noticed.
    changed_at: dict[str, float] = field(default_factory=dict)
    #: region -> key -> ETag held there.
    holdings: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The ETag of the revocation list last pushed to the regions.
    revocations_etag: str | None = None

    def to_json(self) -> str:
        doc = {
            "version": _VERSION,
            "listed_at": self.listed_at,
            "prefixes": list(self.prefixes),
            "listing": {key: [obj.etag, obj.size] for key, obj in sorted(self.listing.items())},
            "changed_at": dict(sorted(self.changed_at.items())),
            "holdings": {r: dict(sorted(h.items())) for r, h in sorted(self.holdings.items())},
            "revocations_etag": self.revocations_etag,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SyncState:
        doc: Any = json.loads(text)
        if not isinstance(doc, dict) or doc.get("version") != _VERSION:
            raise ValueError(f"not a version {_VERSION} sync state")
        return cls(
            listing={key: Obj(str(e), int(s)) for key, (e, s) in doc["listing"].items()},
            listed_at=doc["listed_at"],
            prefixes=tuple(str(p) for p in doc.get("prefixes", ())),
            changed_at={key: float(t) for key, t in doc["changed_at"].items()},
            holdings={r: {k: str(e) for k, e in h.items()} for r, h in doc["holdings"].items()},
            revocations_etag=doc.get("revocations_etag"),
        )


@dataclass(frozen=True)
class Listing:
    """The bucket's keys as the daemon last listed them: what a node on the same host
    reads instead of listing the bucket itself (``storage.listing_file``)."""

    keys: frozenset[str]
    #: Unix time of the listing; None before the daemon's first.
    listed_at: float | None
    #: The folders it covers: nothing is known of a key outside them. A file written
    #: before the daemon recorded them covers none.
    prefixes: tuple[str, ...]


def read_listing(text: str) -> Listing:
    """The listing part of a state file's JSON text; raises ValueError when it is not one."""
    state = SyncState.from_json(text)
    return Listing(frozenset(state.listing), state.listed_at, state.prefixes)


class StateFile:
    """The state on disk at ``path`` (``sync.state_file``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lock(self) -> IO[bytes] | None:
        """The exclusive lock on ``<state file>.lock``, or None while another holds it.

        Close the file to release it; the kernel releases it when the process dies, so a
        crash never leaves it held.
        """
        path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = open(path, "ab")  # noqa: SIM115 - held for the daemon's life
        except OSError as exc:
            raise StateFileError(f"{path}: cannot open: {exc.strerror}") from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return None
        return file

    def load(self) -> SyncState:
        """The saved state, or an empty one when there is none yet (blocking)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return SyncState()
        except OSError as exc:
            raise StateFileError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            return SyncState.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateFileError(
                f"{self.path}: not a sync state file ({exc}); move it away to start afresh"
            ) from None

    def save(self, state: SyncState) -> None:
        """Replace the file with ``state``, atomically (blocking)."""
        self.write(state.to_json())

    def write(self, text: str) -> None:
        """Replace the file with a state's JSON text, atomically (blocking).

        The daemon serialises in its event loop, where the state changes, and writes
        in a thread.
        """
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise StateFileError(f"{self.path}: cannot write: {exc.strerror}") from None
