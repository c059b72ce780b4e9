"""What ``castedge demo`` prints and writes once its fleet is up: a table, commands, a manifest.

Pure: strings and a JSON-ready dict from a `Story`, the plain values the running demo
collected. Every command is printed as it is to be pasted, whole lines, so that what
the README's tour and the end-to-end test run is exactly what a reader sees.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PODCATCHER", "Service", "Story", "commands", "manifest", "service_table"]

#: The User-Agent the tour's downloads send, as AntennaPod's does.
PODCATCHER = "AntennaPod/3.4.0"


@dataclass(frozen=True)
class Service:
    """One row of the table: a service, its region, where it listens, its process."""

    name: str
    region: str
    url: str
    admin_url: str
    pid: int | None


@dataclass(frozen=True)
class Story:
    """Everything the demo's printed commands and its manifest are made from."""

    services: Sequence[Service]
    s3_url: str
    bucket: str
    edges: Mapping[str, Service]
    origin: Service
    locator: Service
    sync: Service
    player_url: str | None
    token_variable: str
    token: str
    operator_file: Path
    #: (key, sha256) of each episode.
    episodes: Sequence[tuple[str, str]]
    #: (playlist, mp4) keys of the lesson, when the samples have one.
    lesson: tuple[str, str] | None
    cities: Mapping[str, str]
    #: The city whose player the commands show ("Sydney" when the database has it).
    city: str
    #: The locator URL a player in ``city`` opens (its grant in the query).
    play_url: str
    #: Where the locator sent that player when the demo asked it.
    play_region: str
    grant: str
    #: A URL signed at each region's edge for the lesson's playlist.
    edge_urls: Mapping[str, str]
    #: How the commands call castedge: "castedge" when the shell finds this one by name.
    castedge: str
    publish_file: Path
    publish_prefix: str
    downloads_log: Path
    today: str
    ca: Path | None
    data_dir: Path
    kept: bool
    skipped: str | None = None


def service_table(services: Sequence[Service]) -> str:
    """Every service: name, region, URL, admin URL, process id."""
    rows = [["SERVICE", "REGION", "URL", "ADMIN", "PID"]]
    rows += [[s.name, s.region, s.url, s.admin_url, str(s.pid or "-")] for s in services]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _curl(story: Story) -> str:
    return f"curl --cacert {shlex.quote(str(story.ca))}" if story.ca is not None else "curl"


def commands(story: Story) -> list[tuple[str, list[str]]]:
    """The tour: (what it shows, the lines to paste), in the order to try them."""
    q = shlex.quote
    curl = _curl(story)
    castedge = story.castedge
    # A pod catcher's name: curl's own is on the user-agent list's bots, never counted.
    catcher = f"{curl} -A {PODCATCHER}"
    origin, origin_admin = story.origin.url, story.origin.admin_url
    episode, digest = story.episodes[0]
    address = story.cities[story.city]
    region = story.play_region
    play = (
        f"{curl} -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}\\n'"
        f" -H 'X-Forwarded-For: {address}' {q(story.play_url)}"
    )
    steps: list[tuple[str, list[str]]] = [
        (
            "For this shell: the settings file the commands read, the admin token, and the "
            "local S3 server's keys",
            [
                f"export CASTEDGE_CONFIG={q(str(story.operator_file))}"
                f" {story.token_variable}={q(story.token)}",
                "export AWS_ACCESS_KEY_ID=castedge-local"
                " AWS_SECRET_ACCESS_KEY=castedge-local-secret",
            ],
        ),
        (
            f"A pod catcher ({PODCATCHER.split('/')[0]}'s User-Agent): the size, the two-byte "
            f"probe Apple Podcasts starts with, then the whole episode (sha256 {digest})",
            [
                f"{catcher} -sI {origin}/{episode}",
                f"{catcher} -s -r 0-1 -D - -o /dev/null {origin}/{episode}",
                f"{catcher} -s {origin}/{episode} | sha256sum",
            ],
        ),
    ]
    if story.lesson is not None:
        lesson = story.lesson[0]
        steps.append(
            (
                f"A player in {story.city} ({address}, through this machine as a trusted "
                f"proxy) asks the locator for the lesson: a 302 to a signed URL at {region}",
                [
                    play,
                    f"ffprobe -v error -show_entries format=duration"
                    f" \"$({curl} -s -o /dev/null -w '%{{redirect_url}}'"
                    f" -H 'X-Forwarded-For: {address}' {q(story.play_url)})\"",
                ],
            )
        )
        steps.append(
            (
                f"Why {story.city} goes there: every region ranked, with distance, health "
                "and who holds the file",
                [f"{castedge} locate --locator {story.locator.admin_url} {address} {lesson}"],
            )
        )
    steps += [
        (
            "A new lesson file: upload it, and follow it into every region",
            [
                f"{castedge} publish {q(str(story.publish_file))} --prefix {story.publish_prefix}"
                " --wait --timeout 60s",
                f"{castedge} sync status",
            ],
        ),
        (
            "The operator's first look at a node: its roles, listeners, health and cache; "
            "the locator's node also shows how it sees every region",
            [
                f"{castedge} status --node {origin_admin}",
                f"{castedge} status --node {story.locator.admin_url}",
            ],
        ),
        (
            "The operator sends the podcast to S3 (the origin redirects), then takes it back",
            [
                f"{castedge} fallback on --node {origin_admin}",
                f"{curl} -sL -o /dev/null -w '%{{http_code}} from %{{url_effective}}\\n'"
                f" {origin}/{episode}",
                f"{castedge} fallback off --node {origin_admin}",
            ],
        ),
        (
            "Purge an episode from the origin's cache, with the exported token",
            [
                f'{curl} -s -X DELETE -H "Authorization: Bearer ${story.token_variable}"'
                f" {origin_admin}/admin/cache/{episode}",
            ],
        ),
        (
            "Downloads so far, by the IAB v2.2 rules, from the origin's download log "
            f"({story.downloads_log.name})",
            [f"{castedge} stats --since {story.today}"],
        ),
    ]
    return steps


def manifest(story: Story) -> dict[str, Any]:
    """Every service's URL and sample signed URLs, for scripts (``--manifest FILE``)."""
    doc: dict[str, Any] = {
        "s3": {"url": story.s3_url, "bucket": story.bucket},
        "origin": {
            "url": story.origin.url,
            "admin_url": story.origin.admin_url,
            "pid": story.origin.pid,
        },
        "edges": {
            region: {"url": edge.url, "admin_url": edge.admin_url, "pid": edge.pid}
            for region, edge in story.edges.items()
        },
        "locator": {
            "url": story.locator.url,
            "admin_url": story.locator.admin_url,
            "pid": story.locator.pid,
        },
        "sync": {
            "admin_url": story.sync.admin_url,
            "status_url": story.sync.admin_url + "/admin/sync/status",
            "pid": story.sync.pid,
        },
        "admin_token_env": {story.token_variable: story.token},
        "config": str(story.operator_file),
        "data_dir": str(story.data_dir),
        "kept": story.kept,
        "ca": str(story.ca) if story.ca is not None else None,
        "samples": {
            "episodes": [key for key, _ in story.episodes],
            "sha256": dict(story.episodes),
            "lesson": (
                {"playlist": story.lesson[0], "mp4": story.lesson[1]}
                if story.lesson is not None
                else None
            ),
            "skipped": story.skipped,
        },
        "signed": {
            "play": story.play_url,
            f"{story.city.lower()}_play": story.play_url,
            "play_region": story.play_region,
            "grant": story.grant,
            "forwarded_for": story.cities[story.city],
            "edges": dict(story.edge_urls),
        },
        "cities": dict(story.cities),
        "publish": {"file": str(story.publish_file), "prefix": story.publish_prefix},
        "downloads_log": str(story.downloads_log),
    }
    if story.player_url is not None:
        doc["player"] = {"url": story.player_url}
    return doc
