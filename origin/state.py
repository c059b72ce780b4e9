"""The operator's switches for one origin: S3 fallback and maintenance mode.

The state lives in ``<cache dir>/state.json``, written atomically, so it survives a
restart and every worker process sharing the directory sees a change within
``POLL_SECONDS``. ``NodeState`` and its JSON form are plain values; ``StateFile``
does the file work.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = ["POLL_SECONDS", "NodeState", "StateError", "StateFile"]

log = logging.getLogger("castedge.state")

#: How often a worker looks for a change made by another (the issue asks for < 1 s).
POLL_SECONDS = 0.5
#: A maintenance message is shown on a page: a paragraph, not a document.
MAX_MESSAGE = 500


class StateError(ValueError):
    """A state change request or a state file that does not make sense."""


@dataclass(frozen=True)
class NodeState:
    """Whether the node redirects everything to S3, or is down for maintenance."""

    fallback: bool = False
    fallback_since: float | None = None
    fallback_by: str | None = None
    maintenance: bool = False
    maintenance_since: float | None = None
    maintenance_by: str | None = None
    maintenance_message: str = "We are upgrading. This page will reload by itself."
    maintenance_retry_after: int = 10

    def with_fallback(self, on: bool, *, now: float, by: str) -> NodeState:
        if on == self.fallback:
            return self
        return replace(self, fallback=on, fallback_since=now, fallback_by=by)

    def with_maintenance(
        self,
        on: bool,
        *,
        now: float,
        by: str,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> NodeState:
        changes: dict[str, object] = {}
        if on != self.maintenance:
            changes.update(maintenance=on, maintenance_since=now, maintenance_by=by)
        if message is not None:
            changes["maintenance_message"] = _check_message(message)
        if retry_after is not None:
            if not 1 <= retry_after <= 3600:
                raise StateError(f"retry_after must be 1 to 3600 seconds, got {retry_after}")
            changes["maintenance_retry_after"] = retry_after
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NodeState:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
            known = {f for f in cls.__dataclass_fields__}
            state = cls(**{k: v for k, v in doc.items() if k in known})
        except (ValueError, TypeError) as exc:
            raise StateError(f"unreadable state: {exc}") from exc
        if not isinstance(state.fallback, bool) or not isinstance(state.maintenance, bool):
            raise StateError("fallback and maintenance must be true or false")
        return state


def _check_message(message: str) -> str:
    if len(message) > MAX_MESSAGE:
        raise StateError(f"message longer than {MAX_MESSAGE} characters")
    if any(not c.isprintable() for c in message):
        raise StateError("message must be one line of printable text")
    return message


class StateFile:
    """``state.json`` beside the cache: read, polled for changes, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = NodeState()
        self._seen: tuple[int, int] | None = None

    def load(self) -> NodeState:
        """Read the file if it changed since the last look (blocking, cheap)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen = None
            return self.state
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self._seen:
            return self.state
        try:
            self.state = NodeState.from_json(self.path.read_text())
        except (OSError, StateError) as exc:
            log.error("ignoring %s (keeping the switches as they were): %s", self.path, exc)
        self._seen = stamp
        return self.state

    def save(self, state: NodeState) -> None:
        """Write the state atomically and fsync it (blocking)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w") as f:
                f.write(state.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.state = state
        st = os.stat(self.path)
        self._seen = (st.st_mtime_ns, st.st_ino)
