"""Putting a node's system files in place: its units, logrotate and sysctl files, settings, secrets.

The files ship inside the package, under ``castedge/data`` (links to ``systemd/`` and
``config/`` in a checkout, copies in a wheel), so ``pip install castedge`` brings
them. Units and the system snippets are the package's and are replaced on upgrade;
the settings file and the secrets file are the operator's and are never overwritten.
"""

from __future__ import annotations

import enum
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

__all__ = [
    "PLACEMENTS",
    "UNIT_COMMAND",
    "Outcome",
    "Placement",
    "decide",
    "install",
    "shipped",
]

#: The castedge command the shipped units run; replaced by the one installing them.
UNIT_COMMAND = "/usr/local/bin/castedge"


@dataclass(frozen=True)
class Placement:
    """One shipped file (``source`` under castedge/data) and where it goes on the machine."""

    source: str
    target: PurePosixPath
    mode: int
    #: The operator's file once it exists: never overwritten.
    keep: bool = False

    @property
    def unit(self) -> bool:
        return self.target.parent == PurePosixPath("/etc/systemd/system")


PLACEMENTS = (
    Placement("castedge.service", PurePosixPath("/etc/systemd/system/castedge.service"), 0o644),
    Placement(
        "geoipupdate.service", PurePosixPath("/etc/systemd/system/geoipupdate.service"), 0o644
    ),
    Placement("geoipupdate.timer", PurePosixPath("/etc/systemd/system/geoipupdate.timer"), 0o644),
    Placement("castedge.logrotate", PurePosixPath("/etc/logrotate.d/castedge"), 0o644),
    Placement("castedge-sysctl.conf", PurePosixPath("/etc/sysctl.d/60-castedge.conf"), 0o644),
    # Read by the service's own unprivileged user: world-readable, and free of secrets.
    Placement("castedge.yaml", PurePosixPath("/etc/castedge/castedge.yaml"), 0o644, keep=True),
    # Read by systemd itself (EnvironmentFile=) before it drops privileges: root's alone.
    Placement("castedge.env", PurePosixPath("/etc/castedge/castedge.env"), 0o600, keep=True),
)


class Outcome(enum.Enum):
    """What installing a file did, or (with a dry run) would do."""

    INSTALLED = ("installed", "would install")
    UPDATED = ("updated", "would update")
    UNCHANGED = ("unchanged", "unchanged")
    KEPT = ("kept", "would keep")

    def verb(self, *, dry_run: bool) -> str:
        return self.value[1] if dry_run else self.value[0]


def decide(placement: Placement, current: bytes | None, new: bytes) -> Outcome:
    """What to do with ``placement`` when the machine has ``current`` and the package ``new``."""
    if current is None:
        return Outcome.INSTALLED
    if placement.keep:
        return Outcome.KEPT
    if current == new:
        return Outcome.UNCHANGED
    return Outcome.UPDATED


def shipped(placement: Placement, command: str = UNIT_COMMAND) -> bytes:
    """The file as the package ships it; a unit runs ``command`` instead of UNIT_COMMAND."""
    data = (resources.files("castedge") / "data" / placement.source).read_bytes()
    if placement.unit and command != UNIT_COMMAND:
        data = data.replace(UNIT_COMMAND.encode(), command.encode())
    return data


def install(
    prefix: Path, *, command: str = UNIT_COMMAND, dry_run: bool = False
) -> list[tuple[Placement, Path, Outcome]]:
    """Place every file under ``prefix`` ("/" on a real machine); raises OSError naming a path."""
    done = []
    for placement in PLACEMENTS:
        path = prefix / placement.target.relative_to("/")
        new = shipped(placement, command)
        try:
            current: bytes | None = path.read_bytes()
        except FileNotFoundError:
            current = None
        outcome = decide(placement, current, new)
        if not dry_run and outcome in (Outcome.INSTALLED, Outcome.UPDATED):
            if placement.keep:
                outcome = _create(path, new, placement.mode)
            else:
                _replace(path, new, placement.mode)
        done.append((placement, path, outcome))
    return done


def _create(path: Path, data: bytes, mode: int) -> Outcome:
    """Write a file that must not exist yet, with ``mode`` from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return Outcome.KEPT
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)
        file.write(data)
    return Outcome.INSTALLED


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all: a unit read half-written would not start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
