"""``castedge fallback`` and ``castedge maintenance``: flip a switch on one or many nodes."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any

from castedge.common import admin_token_from, admin_url, client_ssl, token_file_arg
from config import ConfigError, Settings, config_path_from, load_settings, parse_duration

__all__ = ["add_switch_commands"]

#: An operator at 3 a.m. wants an answer, not a hang: each node gets this long.
TIMEOUT = 5.0


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _nodes_and_token(args: argparse.Namespace) -> tuple[list[str], str, str, Settings | None]:
    """The nodes to ask, the admin token, where the token came from, and the settings."""
    nodes = list(args.node or [])
    try:
        token, where = admin_token_from(args.token_file, None)
    except OSError as exc:
        raise ValueError(
            f"cannot read --token-file {args.token_file}: {exc.strerror or exc}"
        ) from None
    # A file named by --config or $CASTEDGE_CONFIG is read even when --node and the
    # token are given: its ca_bundle is how an https node's certificate is checked.
    named = bool(args.config or os.environ.get("CASTEDGE_CONFIG"))
    settings: Settings | None = None
    if not nodes or token is None or named:
        try:
            settings = load_settings(config_path_from(args.config, os.environ))
        except ConfigError:
            if not nodes:
                raise
        else:
            if token is None:
                token, where = admin_token_from(None, settings)
            if not nodes:
                nodes = [admin_url(settings.admin)]
    return [n.rstrip("/") for n in nodes], token or "", where, settings


def _call(
    node: str,
    path: str,
    token: str,
    body: dict[str, Any] | None,
    context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    if not node.startswith(("http://", "https://")):
        raise RuntimeError("not an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        node + path,
        data=data,
        method="PUT" if body is not None else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        opened = urllib.request.urlopen(  # noqa: S310 - the scheme is checked above
            request, timeout=TIMEOUT, context=context
        )
        with opened as resp:
            doc: dict[str, Any] = json.loads(resp.read())
            return doc
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise RuntimeError("refused: missing or wrong admin token") from exc
        if exc.code == 404:  # every castedge node has an admin listener, not every switch
            raise RuntimeError(
                "HTTP 404: no such switch here (only a node running the origin has one;"
                " --node ORIGIN_ADMIN_URL)"
            ) from exc
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        raise RuntimeError(f"HTTP {exc.code} {detail}".strip()) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"unreachable: {reason}") from exc


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _run(args: argparse.Namespace, which: str) -> int:
    nodes, token, where, settings = _nodes_and_token(args)
    body: dict[str, Any] | None = None
    if args.action in ("on", "off"):
        body = {"mode": args.action, "by": _who()}
        if which == "maintenance":
            if args.message is not None:
                body["message"] = args.message
            if args.retry_after is not None:
                body["retry_after"] = max(1, round(parse_duration(args.retry_after)))
    rows = [["NODE", which.upper(), "SINCE", "BY"]]
    if which == "fallback":
        rows[0].append("AUTO")
    failed = refused = 0
    for node in nodes:
        try:
            doc = _call(node, f"/admin/{which}", token, body, client_ssl(settings, node))
        except RuntimeError as exc:
            failed += 1
            refused += str(exc).startswith("refused")
            rows.append([node, str(exc), "", ""] + ([""] if which == "fallback" else []))
            continue
        row = [node, "on" if doc["on"] else "off", doc.get("since") or "-", doc.get("by") or "-"]
        if which == "fallback":
            row.append("on" if doc.get("auto") else "off")
        rows.append(row)
    print(_table(rows))
    if refused:
        print(f"castedge {which}: refused; the admin token was {where}", file=sys.stderr)
    return 1 if failed else 0


def add_switch_commands(sub: Any, with_config: Any) -> None:
    """Register ``fallback`` and ``maintenance`` on the CLI's subparsers."""
    for which, help_text in (
        ("fallback", "redirect every media request to S3, or stop doing so"),
        ("maintenance", "show a maintenance page / redirect media to S3, or stop"),
    ):
        p = with_config(
            sub.add_parser(
                which,
                help=help_text,
                description=(
                    f"Turn the origin's {which} switch on or off, or show it, on each node "
                    "(--node, else admin.listen of the settings file); one row per node. "
                    "Exits 1 when a node did not answer or refused."
                ),
            )
        )
        p.add_argument("action", choices=["on", "off", "status"], help="what to do")
        p.add_argument(
            "--node",
            action="append",
            metavar="URL",
            help="a node's admin URL (repeat for many; default: admin.listen of the config)",
        )
        token_file_arg(p)
        if which == "maintenance":
            p.add_argument("--message", help="the text shown on the maintenance page")
            p.add_argument("--retry-after", metavar="DURATION", help="e.g. 10s (default 10s)")

        def run(args: argparse.Namespace, which: str = which) -> int:
            try:
                return _run(args, which)
            except ValueError as exc:
                print(f"castedge {which}: {exc}", file=sys.stderr)
                return 2

        p.set_defaults(func=run)
