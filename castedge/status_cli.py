"""``castedge status``: one table of the running node, from its admin listener's /healthz.

The operator's first command at 3 a.m.: each role with its listener, its health, its
cache, the fallback and maintenance switches and how far replication is behind; then
a row per region for the locator's and the sync daemon's view of it. /healthz is open,
so no token is needed. Exits 0 when every role is healthy, 1 when one is not, 3 when
no node answers (the address tried is said).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from castedge.common import admin_url, client_ssl, load_from_args
from config import ROLES, Settings
from publish import human

__all__ = ["add_status_commands", "status_lines"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]

#: An answer or a clear "down" within this long, not a hang.
TIMEOUT = 5.0
#: Exit status when no node answers at the admin address.
DOWN = 3

HEADER = ["ROLE", "LISTEN", "HEALTH", "CACHE", "FALLBACK", "MAINTENANCE", "REPLICATION"]
REGION_HEADER = ["REGION", "LOCATOR", "SYNC", "HELD", "PENDING", "LAG", "LAST ERROR"]
#: A last error longer than this is cut: the journal has the rest.
MAX_ERROR = 60


def _listen(settings: Settings, role: str, part: dict[str, Any], tls: dict[str, Any]) -> str:
    section = getattr(settings, role, None)
    secured = getattr(section, "tls", None)
    # The node says where it listens; the settings file may say port 0, or be another
    # node's (--node).
    text = part.get("listen")
    if not isinstance(text, str):
        listen = getattr(section, "listen", None)
        if listen is None:
            return "-"
        text = f"{'https' if secured is not None else 'http'}://{listen}"
    cert = tls.get(role)
    if isinstance(cert, dict) and cert.get("expires_in_days") is not None:
        text += f" (certificate: {cert['expires_in_days']:.0f} days left)"
    redirect = getattr(secured, "redirect_http", None)
    if redirect is not None:
        text += f", http://{redirect} redirects"
    return text


def _health(part: dict[str, Any]) -> str:
    if part.get("healthy"):
        # A locator with no healthy region still serves (to S3): FALLBACK says so.
        return "ok" if part.get("status", "ok") in ("ok", "fallback") else str(part["status"])
    store = part.get("store")
    reason = store.get("reason") if isinstance(store, dict) else None
    return f"UNHEALTHY ({reason})" if reason else "UNHEALTHY"


def _cache(part: dict[str, Any]) -> str:
    store = part.get("store")
    if not isinstance(store, dict):
        return "-"
    objects = int(store.get("objects", 0))
    used, limit = int(store.get("bytes", 0)), int(store.get("max_bytes", 0))
    share = f" ({used / limit:.0%})" if limit else ""
    noun = "object" if objects == 1 else "objects"
    text = f"{objects} {noun}, {human.size(used)} of {human.size(limit)}{share}"
    if not store.get("healthy", True):
        text += " DEGRADED"
    return text


def _switch(state: Any, *, auto: bool = False) -> str:
    if not isinstance(state, dict):
        return "-"
    if state.get("on"):
        by = f" by {state['by']}" if state.get("by") else ""
        since = f" since {state['since']}" if state.get("since") else ""
        return f"ON{since}{by}"
    if auto and state.get("auto"):
        return "ON (automatic: the disk fails, misses go to S3)"
    return "off"


def _fallback(role: str, part: dict[str, Any]) -> str:
    if role == "locator":
        # No healthy region: players are sent to S3 (the locator's own fallback).
        if part.get("status") == "fallback":
            return "ON (no region healthy: to S3)"
        return "off"
    return _switch(part.get("fallback"), auto=True)


def _replication(role: str, part: dict[str, Any]) -> str:
    if role != "sync":
        return "-"
    regions = part.get("regions")
    if not isinstance(regions, dict) or not regions:
        return "no region"
    behind = {
        name: state
        for name, state in regions.items()
        if isinstance(state, dict) and state.get("objects_pending")
    }
    if not behind:
        return f"caught up ({len(regions)} regions)"
    worst = max(float(s.get("oldest_pending_seconds") or 0) for s in behind.values())
    return f"{len(behind)} of {len(regions)} regions behind, lag up to {human.duration(worst)}"


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


def _region_rows(roles: dict[str, Any]) -> list[list[str]]:
    locator = roles.get("locator", {}).get("regions") or {}
    sync = roles.get("sync", {}).get("regions") or {}
    rows = []
    for name in [*locator, *(n for n in sync if n not in locator)]:
        seen = locator.get(name)
        held = sync.get(name)
        row = [name, "-" if seen is None else ("up" if seen.get("healthy") else "DOWN")]
        if held is None:
            row += ["-", "-", "-", "-", "-"]
        else:
            lag = held.get("oldest_pending_seconds")
            row += [
                "ok" if held.get("healthy") else "FAILING",
                str(held.get("held", 0)),
                str(held.get("objects_pending", 0)),
                "0 s" if not lag else human.duration(float(lag)),
                _cut(held["last_error"]) if held.get("last_error") else "-",
            ]
        rows.append(row)
    return rows


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def status_lines(
    settings: Settings, url: str, health: dict[str, Any], *, own: bool = True
) -> list[str]:
    """The lines ``castedge status`` prints for the node's /healthz answer ``health``; pure.

    ``own``: the node is the settings file's own (not one named by ``--node``).
    """
    roles: dict[str, Any] = health.get("roles") or {}
    tls = (health.get("tls") or {}).get("listeners") or {}
    state = health.get("status", "unknown")
    unhealthy = health.get("unhealthy") or []
    verdict = "ok" if state == "ok" else f"UNHEALTHY: {', '.join(unhealthy) or state}"
    named = f" ({settings.source})" if own else ""
    lines = [f"node {url}{named}: {verdict}", ""]
    rows = [list(HEADER)]
    for role in [r for r in ROLES if r in roles] + [r for r in roles if r not in ROLES]:
        part = roles[role]
        rows.append(
            [
                role,
                _listen(settings, role, part, tls),
                _health(part),
                _cache(part),
                _fallback(role, part),
                _switch(part.get("maintenance")),
                _replication(role, part),
            ]
        )
    lines += _table(rows)
    regions = _region_rows(roles)
    if regions:
        lines += ["", *_table([list(REGION_HEADER), *regions])]
    return lines


def _healthz(url: str, context: ssl.SSLContext | None) -> dict[str, Any]:
    """The node's /healthz (200 or 503, both with the document); RuntimeError if none."""
    try:
        opened = urllib.request.urlopen(  # noqa: S310 - admin_url or --node, http(s) only
            f"{url}/healthz", timeout=TIMEOUT, context=context
        )
        with opened as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise RuntimeError(f"answered HTTP {exc.code}, not castedge's /healthz") from None
        body = exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(str(getattr(reason, "strerror", None) or reason)) from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise RuntimeError("answered something that is not castedge's /healthz") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("roles"), dict):
        raise RuntimeError("answered something that is not castedge's /healthz")
    return doc


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_from_args(args)
    url = (args.node or admin_url(settings.admin)).rstrip("/")
    if not url.startswith(("http://", "https://")):
        print(f"castedge status: --node {url} is not an http(s) URL", file=sys.stderr)
        return 2
    try:
        health = _healthz(url, client_ssl(settings, url))
    except RuntimeError as exc:
        source = "--node" if args.node else f"admin.listen of {settings.source}"
        print(
            f"castedge status: the node is DOWN: nothing answered at {url}/healthz ({exc})\n"
            f"  (the address is {source}); see `systemctl status castedge` and "
            "`journalctl -u castedge`",
            file=sys.stderr,
        )
        return DOWN
    for line in status_lines(settings, url, health, own=not args.node):
        print(line)
    return 0 if health.get("status") == "ok" else 1


def add_status_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds ``castedge status`` to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "status",
            help="one table of the running node: roles, listeners, health, cache, switches, lag",
            description=(
                "Ask the node's admin listener (admin.listen of the settings file) for its "
                "/healthz and print each role, its listener, health, cache use, the "
                "fallback and maintenance switches and replication lag, then each region. "
                "Exits 0 when healthy, 1 when a role is not, 3 when the node does not answer."
            ),
        )
    )
    p.add_argument(
        "--node", metavar="URL", help="the node's admin URL (default: from admin.listen)"
    )
    p.set_defaults(func=cmd_status)
