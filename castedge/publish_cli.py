"""``castedge publish``: upload media to the main bucket, check it, and tell the sync daemon."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from castedge.common import (
    TOKEN_VARIABLE,
    admin_token_from,
    admin_url,
    duration_arg,
    load_from_args,
    sync_daemon,
)
from config import Settings, parse_size

if TYPE_CHECKING:
    from publish.arrivals import Event, Published
    from publish.daemon import SyncDaemon
    from publish.wait import NoAnswer

__all__ = ["add_publish_commands"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]

#: How long --wait waits unless --timeout says otherwise.
DEFAULT_TIMEOUT = 600.0


def _sync_url(given: str | None, settings: Settings) -> str | None:
    """--sync, else the node's own admin listener when the file configures a sync daemon."""
    if given:
        return given
    # Read without naming the type: the sync section is newer than this command.
    if getattr(settings, "sync", None) is not None:
        return admin_url(settings.admin)
    return None


def _part_size(text: str) -> int:
    from publish.etag import MAX_PART_SIZE, MIN_PART_SIZE

    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
        raise argparse.ArgumentTypeError(
            f"expected 5MiB to 5GiB (S3's limits for a part), got {text!r}"
        )
    return size


def cmd_publish(args: argparse.Namespace) -> int:
    from publish import (
        DEFAULT_PART_SIZE,
        ChecksumMismatch,
        DaemonError,
        DaemonRefused,
        ProgressLine,
        PublishError,
        Uploader,
        UploadFailed,
        check_prefix,
        collect,
        file_etag,
        human,
        verify,
    )
    from publish.arrivals import Published

    settings = load_from_args(args)
    s3 = settings.storage.s3 if settings.storage is not None else None
    if s3 is None:
        print(
            f"castedge publish: {settings.source} has no storage.s3: "
            "publish uploads to the main bucket",
            file=sys.stderr,
        )
        return 2
    try:
        prefix = check_prefix(args.prefix)
        sources = collect(args.paths, prefix)
    except PublishError as exc:
        print(f"castedge publish: {exc}", file=sys.stderr)
        return 2

    url = _sync_url(args.sync, settings)
    if url is None and args.wait:
        print(
            "castedge publish: --wait needs a sync daemon: give --sync URL, "
            f"or a sync section in {settings.source}",
            file=sys.stderr,
        )
        return 2
    daemon = None
    if url is not None:
        try:
            daemon = sync_daemon(url, args.token_file, settings)
        except ValueError as exc:
            print(f"castedge publish: {exc}", file=sys.stderr)
            return 2

    uploader = Uploader(s3, part_size=args.part_size or DEFAULT_PART_SIZE)
    mismatched = 0
    published: dict[str, Published] = {}
    for source in sources:
        try:
            with ProgressLine(sys.stderr, source.key, source.size) as line:
                stored = uploader.upload(source, line.advance)
            computed = file_etag(source, part_size=uploader.part_size, threshold=uploader.threshold)
            verify(source, stored, computed)
        except ChecksumMismatch as exc:
            print(f"castedge publish: {exc}", file=sys.stderr)
            mismatched += 1
            continue
        except UploadFailed as exc:
            print(f"castedge publish: {exc}", file=sys.stderr)
            print(
                f"castedge publish: stopped; {len(published)} of {len(sources)} files published",
                file=sys.stderr,
            )
            return 1
        published[source.key] = Published(stored.etag, time.monotonic())
        print(f"published {source.key} ({source.content_type}), ETag {stored.etag} checked")
    total = sum(source.size for source in sources)
    print(
        f"published {len(published)} of {len(sources)} files ({human.size(total)}) "
        f"to s3://{s3.bucket}/{prefix}",
        flush=True,
    )
    if mismatched:
        print(
            f"castedge publish: {mismatched} of {len(sources)} files are not what S3 stored; "
            "publish them again (the sync daemon was not told)",
            file=sys.stderr,
        )
        return 1
    if daemon is None:
        return 0
    try:
        number = daemon.nudge()
    except DaemonError as exc:
        print(
            f"castedge publish: warning: the sync daemon was not nudged: {exc}; "
            "its next listing of the bucket will find the new objects",
            file=sys.stderr,
        )
        if isinstance(exc, DaemonRefused):
            where = admin_token_from(args.token_file, settings)[1]
            print(f"castedge publish: the admin token was {where}", file=sys.stderr)
    else:
        print(f"nudged the sync daemon at {daemon.url}: listing pass {number}", flush=True)
    if not args.wait:
        return 0
    return _wait(daemon, published, args.timeout)


def _wait(daemon: SyncDaemon, published: dict[str, Published], timeout: float) -> int:
    from publish import human
    from publish.arrivals import Arrival, RegionBack, RegionDown, Watch
    from publish.errors import DaemonError
    from publish.wait import wait_for_regions

    def report(event: Event | NoAnswer) -> None:
        if isinstance(event, Arrival):
            print(f"{event.region} holds {event.key} ({human.duration(event.seconds)})", flush=True)
        elif isinstance(event, RegionDown):
            why = f" ({event.last_error})" if event.last_error else ""
            print(f"{event.region} is unhealthy{why}: not waiting for it", flush=True)
        elif isinstance(event, RegionBack):
            print(f"{event.region} is healthy again: waiting for it too", flush=True)
        else:
            print(f"castedge publish: warning: {event.reason}; asking again", file=sys.stderr)

    watch = Watch(published)
    try:
        outcome = wait_for_regions(daemon, watch, timeout=timeout, report=report)
    except DaemonError as exc:
        print(f"castedge publish: {exc}", file=sys.stderr)
        return 1
    if outcome.done:
        if not watch.healthy:
            print(
                "castedge publish: warning: the sync daemon reports no healthy region; "
                "players are sent to S3 until one is back",
                file=sys.stderr,
            )
            return 0
        count = len(published)
        files = "the published file" if count == 1 else f"all {count} published files"
        print(f"every healthy region holds {files}: {', '.join(watch.healthy)}")
        return 0
    waited = f"castedge publish: gave up after {human.duration(timeout)}"
    if not outcome.missing:
        print(f"{waited}: the sync daemon never answered: {outcome.trouble}", file=sys.stderr)
        return 1
    gaps = "; ".join(f"{region} ({_few(keys)})" for region, keys in outcome.missing.items())
    print(f"{waited}; still missing: {gaps}", file=sys.stderr)
    return 1


def _few(keys: list[str], shown: int = 3) -> str:
    if len(keys) <= shown:
        return ", ".join(keys)
    return ", ".join(keys[:shown]) + f" and {len(keys) - shown} more"


def add_publish_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Adds ``castedge publish`` to the ``castedge`` parser."""
    p = with_config(
        sub.add_parser(
            "publish",
            help="upload media to the main bucket, check it, and tell the sync daemon",
            description=(
                "Upload each file (a directory's files, recursively, hidden names left out) "
                "to storage.s3 under --prefix, with the Content-Type of its extension, and "
                "check that S3's ETag is the one the file's bytes give. Then nudge the sync "
                "daemon, if one is known, to list the bucket now; with --wait, follow each "
                "file until every healthy region holds it."
            ),
            epilog=(
                "Exit status: 0 when every file is published (and, with --wait, held by "
                "every healthy region); 1 when an upload fails, S3 holds other bytes than "
                "a file, or --timeout runs out; 2 for a mistake in the arguments or the "
                "settings file."
            ),
        )
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE_OR_DIR", help="a file, or a directory to publish"
    )
    p.add_argument(
        "--prefix",
        required=True,
        help="the folder of the bucket to publish into, ending in '/', e.g. courses/x/",
    )
    p.add_argument(
        "--part-size",
        type=_part_size,
        metavar="SIZE",
        help="files this large or larger go up in parts of this size (default 16MiB; "
        "at least 5MiB, S3's minimum)",
    )
    p.add_argument(
        "--sync",
        metavar="URL",
        help="the sync daemon's admin listener, to nudge (default: admin.listen when the "
        "file has a sync section)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait until every healthy region holds every published file",
    )
    p.add_argument(
        "--timeout",
        type=duration_arg,
        default=DEFAULT_TIMEOUT,
        metavar="DURATION",
        help="how long --wait waits, e.g. 30s or 1h (default 10m)",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"a file holding the admin token (default: ${TOKEN_VARIABLE}, then admin.token)",
    )
    p.set_defaults(func=cmd_publish)
