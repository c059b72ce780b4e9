"""``castedge install-units``: put the node's units, settings and secrets files in place."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_install_commands"]

_NOTES = {
    ("castedge.yaml", "installed"): "the example: keep the sections of the roles this node runs",
    ("castedge.env", "installed"): "mode 0600: fill in the secrets",
    ("castedge.yaml", "kept"): "yours, left as it is",
    ("castedge.env", "kept"): "yours, left as it is",
}


def _this_command() -> str:
    """The castedge command running now, for the units to run: where pip put it."""
    from castedge.install_units import UNIT_COMMAND

    running = Path(sys.argv[0])
    if running.name == "castedge" and running.is_file():
        return str(running.absolute())
    beside = Path(sys.executable).with_name("castedge")
    return str(beside) if beside.is_file() else UNIT_COMMAND


#: What castedge.service cannot see: ProtectHome= hides the first three, PrivateTmp= the rest.
_HIDDEN = ("/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/")  # noqa: S108 - compared, not used


def cmd_install_units(args: argparse.Namespace) -> int:
    from castedge.install_units import install

    command = _this_command()
    prefix = Path(args.prefix)
    try:
        done = install(prefix, command=command, dry_run=args.dry_run)
    except OSError as exc:
        hint = " (run it as root)" if isinstance(exc, PermissionError) else ""
        print(
            f"castedge install-units: cannot write {exc.filename}: {exc.strerror}{hint}",
            file=sys.stderr,
        )
        return 1
    for placement, path, outcome in done:
        verb = outcome.verb(dry_run=args.dry_run)
        note = _NOTES.get((placement.source, outcome.value[0]))
        print(f"{verb} {path}" + (f" ({note})" if note else ""))
    print(f"the units run {command}")
    if command.startswith(_HIDDEN):
        print(
            f"castedge install-units: warning: castedge.service cannot see {command} "
            "(ProtectHome=, PrivateTmp=): install castedge under /opt or /usr/local instead",
            file=sys.stderr,
        )
    print()
    etc = prefix / "etc/castedge"
    print(f"next: edit {etc / 'castedge.yaml'} and {etc / 'castedge.env'}, then")
    if prefix != Path("/"):
        print("on the machine that runs from it:")
    print("  castedge check-config /etc/castedge/castedge.yaml")
    print("  sysctl --system")
    print("  systemctl daemon-reload && systemctl enable --now castedge")
    print("  castedge status")
    print("and on a node with a locator, once /etc/GeoIP.conf holds your MaxMind account:")
    print("  systemctl enable --now geoipupdate.timer")
    return 0


def add_install_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``castedge install-units`` to the ``castedge`` parser."""
    p = sub.add_parser(
        "install-units",
        help="install the systemd units, logrotate and sysctl files, and a settings file",
        description=(
            "Copy castedge.service, geoipupdate.service and .timer, the logrotate and sysctl "
            "files into place, and /etc/castedge/castedge.yaml (the example) and "
            "castedge.env (mode 0600, for the secrets) unless they exist. Units and "
            "snippets are replaced by this version's; the two files in /etc/castedge "
            "are never overwritten. The units run this castedge command."
        ),
    )
    p.add_argument(
        "--prefix",
        "--root",
        default="/",
        metavar="DIR",
        help="install under DIR instead of / (a chroot, an image being built)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be done, and write nothing"
    )
    p.set_defaults(func=cmd_install_units)
