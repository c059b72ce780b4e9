"""``castedge sign`` and ``castedge revoke``: the signed-video commands."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable

from castedge.common import duration_arg, load_from_args
from edge.errors import EdgeError
from geo.grant import MANIFEST_SUFFIXES, proxy_scope
from signer import ClaimError

__all__ = ["add_edge_commands"]

#: Grants only have to reach the locator (docs/locator.md): five minutes to press play.
GRANT_TTL = 300.0

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def cmd_sign(args: argparse.Namespace) -> int:
    from edge.commands import signed_url

    settings = load_from_args(args)
    try:
        url = signed_url(
            settings,
            args.path,
            now=time.time(),
            ttl=args.ttl,
            scope=args.scope,
            ip=args.ip,
            subject=args.subject,
            region=args.region,
            base=args.base,
        )
    except (ClaimError, EdgeError) as exc:
        print(f"castedge sign: {exc}", file=sys.stderr)
        return 2
    if args.scope is None and args.path.endswith(MANIFEST_SUFFIXES):
        folder = proxy_scope(args.path.lstrip("/"))
        print(f"castedge sign: a playlist: the token grants its folder {folder}", file=sys.stderr)
    print(url)
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    from edge.commands import grant

    settings = load_from_args(args)
    try:
        minted = grant(
            settings, args.path, now=time.time(), subject=args.subject, ttl=args.ttl, ip=args.ip
        )
    except (ClaimError, EdgeError) as exc:
        print(f"castedge grant: {exc}", file=sys.stderr)
        return 2
    print(minted)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from edge.commands import revoke

    settings = load_from_args(args)
    try:
        done = revoke(settings, now=time.time(), subject=args.subject, token=args.token)
    except EdgeError as exc:
        print(f"castedge revoke: {exc}", file=sys.stderr)
        return 2
    until = datetime.datetime.fromtimestamp(done.until, datetime.UTC)
    interval = settings.signing.revocation_interval if settings.signing is not None else 0
    entries = len(done.revoked)
    print(
        f"revoked {done.what} until {until:%Y-%m-%d %H:%M:%S} UTC; "
        f"{done.file.path} holds {entries} {'entry' if entries == 1 else 'entries'}; "
        f"edges and locators re-read it within {interval:g} s"
    )
    if done.fleet is not None:
        print(f"the fleet's copy is {done.fleet}; the sync daemon carries it to every region")
    return 0


def add_edge_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds the signed-URL subcommands to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "sign",
            help="print a signed URL for a path",
            description="Mint a signed URL as the web app does, and print it.",
        )
    )
    p.add_argument("path", help="the object's path, e.g. courses/py/ch03/index.m3u8")
    p.add_argument(
        "--ttl", type=duration_arg, help="lifetime such as 2h or 15m (default: signing.default_ttl)"
    )
    p.add_argument(
        "--scope",
        metavar="DIR",
        help="what the token grants: a folder ending in '/' (for HLS) or a file (default: PATH)",
    )
    p.add_argument("--ip", metavar="CIDR", help="bind the token to an address or network")
    p.add_argument("--subject", metavar="S", help="the user id, for logs and revocation")
    p.add_argument(
        "--region", metavar="NAME", help="sign for this region's edge (from regions or edge)"
    )
    p.add_argument("--base", metavar="URL", help="the edge base URL (default: edge.public_url)")
    p.set_defaults(func=cmd_sign)

    p = with_config(
        sub.add_parser(
            "grant",
            help="print a grant for a student and a course, as the web app mints it",
            description=(
                "Mint a grant (purpose castedge.grant) for the locator: a player's "
                "/v/<path>?grant=GRANT is sent to the nearest region with a signed URL "
                "granting what this grant grants. A playlist gets its folder."
            ),
        )
    )
    p.add_argument(
        "path", help="what the student may watch: a folder ending in '/' (a course) or one file"
    )
    p.add_argument("--subject", metavar="S", required=True, help="the user id (for revocation)")
    p.add_argument(
        "--ttl",
        type=duration_arg,
        default=GRANT_TTL,
        help="how long the player has to reach the locator (default 5m)",
    )
    p.add_argument("--ip", metavar="CIDR", help="bind the grant to an address or network")
    p.set_defaults(func=cmd_grant)

    p = with_config(
        sub.add_parser(
            "revoke",
            help="refuse a student's or one token's URLs before they expire",
            description=(
                "Add an entry to signing.revocation_file; edges and locators re-read it "
                "by themselves."
            ),
        )
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--subject", metavar="USER", help="every token issued so far to USER")
    which.add_argument(
        "--token", metavar="TOKEN", help="one token, its signed URL, or its fingerprint from a log"
    )
    p.set_defaults(func=cmd_revoke)
