"""``castedge publish``: upload media to the main bucket, check it, and tell the sync daemon."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from castedge.common import load_from_args
from config import parse_size

__all__ = ["add_publish_commands"]

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


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

    uploader = Uploader(s3, part_size=args.part_size or DEFAULT_PART_SIZE)
    mismatched = 0
    published = 0
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
                f"castedge publish: stopped; {published} of {len(sources)} files published",
                file=sys.stderr,
            )
            return 1
        published += 1
        print(f"published {source.key} ({source.content_type}), ETag {stored.etag} checked")
    total = sum(source.size for source in sources)
    print(
        f"published {published} of {len(sources)} files ({human.size(total)}) "
        f"to s3://{s3.bucket}/{prefix}"
    )
    if mismatched:
        print(
            f"castedge publish: {mismatched} of {len(sources)} files are not what S3 stored; "
            "publish them again",
            file=sys.stderr,
        )
        return 1
    return 0


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
                "check that S3's ETag is the one the file's bytes give."
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
    p.set_defaults(func=cmd_publish)
