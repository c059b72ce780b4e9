"""``castedge demo``: the whole eight-region fleet on loopback, from one command.

moto's S3 server (in this process) holds the sample media; the origin, one edge per
default region, the sync daemon and the locator are each ``castedge <role> --config
FILE``, a child process with its own file, ports and cache (``castedge.demo_fleet``).
Once every one answers its ``/healthz``, the demo prints a table of them and the
commands to try (``castedge.demo_story``), and runs until Ctrl-C or SIGTERM, which stop
every child. ``--data DIR`` keeps the bucket, caches, files and secrets for next time;
by default all of it is in a temporary directory removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from castedge.common import TOKEN_VARIABLE
from castedge.demo_certs import DemoFiles, certificates_in
from castedge.demo_configs import (
    EDGE_PREFIX,
    Layout,
    Secrets,
    edge_document,
    locator_document,
    operator_document,
    origin_document,
    region_entries,
    sync_document,
)
from castedge.demo_fleet import Child, ChildFailed, stop_all, wait_healthy, write_settings
from castedge.demo_media import prepare_media, publish_sample, save_bucket, seed_bucket
from castedge.demo_story import Service, Story, commands, manifest, service_table
from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3
from geo import DEFAULT_REGIONS
from runtime.launch import OWNER_ENV

__all__ = ["ChildFailed", "run_demo"]

BUCKET = "media"
#: Where ``castedge publish`` in the printed commands puts the new file.
PUBLISH_PREFIX = EDGE_PREFIX + "demo/"
#: The grant in the printed play URL: as long as a grant may live (``Signer.max_ttl``).
GRANT_TTL = 86400.0


@dataclass
class Fleet:
    """The running demo's parts, so that whatever was started can be stopped."""

    root: Path
    s3: LocalS3 | None = None
    children: list[Child] = field(default_factory=list)
    player: Any = None


def _secrets(root: Path) -> Secrets:
    """The fleet's admin token and signing key: kept in ``secrets.json`` (0600) under root."""
    path = root / "secrets.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        doc = json.loads(path.read_text())
        return Secrets(doc["admin_token"], doc["key_id"], doc["signing_key"])
    made = Secrets(secrets.token_urlsafe(24), "demo", secrets.token_urlsafe(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(made.__dict__, f)
    return made


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The children are not systemd's units, and read only the file they are given.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "CASTEDGE_CONFIG"):
        env.pop(name, None)
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    # Killed outright (SIGKILL, an OOM kill), the demo cannot stop them: they stop
    # themselves when it goes.
    env[OWNER_ENV] = str(os.getpid())
    return env


async def _start_fleet(
    fleet: Fleet, layout: Layout, keys: Secrets, tls: DemoFiles | None
) -> dict[str, Child]:
    """Start every service in the order each needs the last's URLs; wait for their health."""
    env = _child_env()
    client = ssl.create_default_context(cafile=str(tls.ca)) if tls is not None else None

    def child(name: str, role: str, document: Mapping[str, Any], region: str = "-") -> Child:
        made = Child(name, role, layout.config(name), layout.log(name), region=region)
        made.write_config(document)
        fleet.children.append(made)
        return made

    origin = child("origin", "origin", origin_document(layout, keys))
    edges = {
        region.name: child(
            f"edge-{region.name}", "edge", edge_document(layout, keys, region.name), region.name
        )
        for region in DEFAULT_REGIONS
    }
    # Nine interpreters import at once: start them together, wait for them together.
    for started in [origin, *edges.values()]:
        await started.launch(env)
    await asyncio.gather(*(c.listening() for c in [origin, *edges.values()]))
    regions = region_entries({n: (e.urls["edge"], e.admin_url) for n, e in edges.items()}, keys)
    sync = child("sync", "sync", sync_document(layout, keys, regions))
    sync.expects = ("admin",)
    await sync.launch(env)
    await sync.listening()
    holdings = sync.admin_url + "/admin/sync/holdings"
    locator = child("locator", "locator", locator_document(layout, keys, regions, holdings))
    await locator.launch(env)
    await locator.listening()
    await wait_healthy(fleet.children, client)
    admin_port = int(sync.admin_url.rsplit(":", 1)[1])
    operator = operator_document(layout, keys, regions, admin_port, holdings)
    write_settings(layout.root / "castedge.yaml", operator)
    return {"origin": origin, "sync": sync, "locator": locator} | {
        f"edge-{name}": edge for name, edge in edges.items()
    }


async def _ask_locator(
    locator: Child, address: str, path: str, grant: str, client: ssl.SSLContext | None
) -> str:
    """The region the running locator sends a player at ``address`` to, for ``path``."""
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=client if client is not None else False)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(
            f"{locator.url}/api/v1/locate",
            params={"path": path, "grant": grant},
            headers={"X-Forwarded-For": address},
        ) as response,
    ):
        body = await response.json()
    return str(body.get("region") or "S3")


def _signed(
    keys: Secrets, now: float, lesson: str, edges: Mapping[str, Child]
) -> tuple[str, dict[str, str]]:
    """A grant for the lesson's folder, and a URL for its playlist signed at each edge."""
    from signer import Purpose, Signer

    folder = lesson.rsplit("/", 1)[0] + "/"
    grant = Signer({keys.key_id: keys.signing_key}, keys.key_id, purpose=Purpose.GRANT).mint(
        folder, now=now, ttl=GRANT_TTL, subject="demo"
    )
    urls = Signer({keys.key_id: keys.signing_key}, keys.key_id)
    signed = {
        name.removeprefix("edge-"): urls.url(lesson, now=now, base=edge.url, scope=folder)
        for name, edge in edges.items()
    }
    return grant, signed


def _castedge_command() -> str:
    """``castedge`` when the shell finds this very one by that name, else its full path."""
    ours = Path(sys.executable).with_name("castedge")
    found = shutil.which("castedge")
    if found is not None and Path(found).resolve() == ours.resolve():
        return "castedge"
    return shlex.quote(str(ours))


def _print_story(story: Story) -> None:
    lines = [
        "",
        f"castedge demo: {len(story.services)} services on loopback; files in {story.data_dir}"
        + (" (kept: --data)" if story.kept else " (removed when it stops)"),
    ]
    if story.ca is not None:
        lines.append(f"HTTPS everywhere, from a CA made for the demo: trust {story.ca}")
    if story.skipped:
        lines.append(f"samples: {story.skipped}")
    lines += ["", service_table(story.services), "", "Try (each block pasted as it is):"]
    for what, pasted in commands(story):
        lines += ["", f"# {what}", *pasted]
    if story.player_url is not None:
        lines += ["", f"# Watch the lesson in a browser, from any city: {story.player_url}"]
    lines += ["", "Ctrl-C stops every service."]
    print("\n".join(lines), flush=True)


def _write_manifest(path: Path, doc: Mapping[str, Any]) -> None:
    """Write it whole or not at all: a script polling for the file never reads half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(partial, path)


async def _serve_player(
    fleet: Fleet,
    play_url: str,
    cities: Mapping[str, str],
    files: DemoFiles | None,
    client: ssl.SSLContext | None,
) -> str:
    """The player page on a port of its own: it asks the locator as each city's player."""
    from aiohttp import web

    from castedge.player import player_app

    runner = web.AppRunner(player_app(play_url, cities, ssl_context=client), access_log=None)
    await runner.setup()
    fleet.player = runner
    server_ssl = files.server_context() if files is not None else None
    # Bound here, so the port the page is announced on is the one it holds.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, ssl_context=server_ssl).start()
    port = sock.getsockname()[1]
    return f"{'https' if files is not None else 'http'}://127.0.0.1:{port}/"


async def _run(fleet: Fleet, *, tls: bool, kept: bool, manifest_path: Path | None) -> None:
    """Bring the fleet up, say what is where, and run until cancelled."""
    root = fleet.root
    loop = asyncio.get_running_loop()
    now = datetime.datetime.now(datetime.UTC)
    files = certificates_in(root / "tls", now) if tls else None
    media = await loop.run_in_executor(None, prepare_media, root)
    fleet.s3 = LocalS3(
        ssl_context=files.server_context() if files else None,
        ca_bundle=str(files.ca) if files else None,
    ).start()
    mirror = root / "bucket" if kept else None
    seeded = await loop.run_in_executor(None, seed_bucket, fleet.s3.client(), BUCKET, media, mirror)
    publish_file = publish_sample(root, media)
    layout = Layout(
        root,
        BUCKET,
        fleet.s3.url,
        media.database,
        (files.ca, files.cert, files.key) if files else None,
    )
    keys = _secrets(root)
    client = ssl.create_default_context(cafile=str(files.ca)) if files is not None else None
    children = await _start_fleet(fleet, layout, keys, files)
    edges = {name: c for name, c in children.items() if name.startswith("edge-")}
    locator = children["locator"]
    city = "Sydney" if "Sydney" in media.cities else next(iter(media.cities))
    lesson = media.lesson[0] if media.lesson is not None else f"{EDGE_PREFIX}none"
    grant, edge_urls = _signed(keys, time.time(), lesson, edges)
    play_url = f"{locator.url}/v/{lesson}?grant={grant}"
    player_url = await _serve_player(fleet, play_url, media.cities, files, client)
    region = await _ask_locator(locator, media.cities[city], lesson, grant, client)

    def service(child: Child) -> Service:
        return Service(child.name, child.region, child.url, child.admin_url, child.pid)

    s3 = Service("s3", "-", fleet.s3.url, "-", os.getpid())
    services = [s3, *(service(c) for c in children.values())]
    services.append(Service("player", "-", player_url, "-", os.getpid()))
    story = Story(
        services=services,
        s3_url=fleet.s3.url,
        bucket=BUCKET,
        edges={name.removeprefix("edge-"): service(c) for name, c in edges.items()},
        origin=service(children["origin"]),
        locator=service(locator),
        sync=service(children["sync"]),
        player_url=player_url,
        token_variable=TOKEN_VARIABLE,
        token=keys.admin_token,
        operator_file=root / "castedge.yaml",
        episodes=[(key, seeded.sha256(key)) for key in media.episodes if key in seeded.files],
        lesson=(lesson, media.lesson[1] or "") if media.lesson is not None else None,
        cities=media.cities,
        city=city,
        play_url=play_url,
        play_region=region,
        grant=grant,
        edge_urls=edge_urls,
        castedge=_castedge_command(),
        publish_file=publish_file,
        publish_prefix=PUBLISH_PREFIX,
        downloads_log=layout.log("downloads"),
        today=now.date().isoformat(),
        ca=files.ca if files is not None else None,
        data_dir=root,
        kept=kept,
        skipped=media.skipped,
    )
    _print_story(story)
    if manifest_path is not None:
        _write_manifest(manifest_path, manifest(story))
    await asyncio.Event().wait()


async def run_demo(
    *, data: Path | None = None, manifest_path: Path | None = None, tls: bool = False
) -> None:
    """Run the fleet until SIGINT or SIGTERM, then stop every child and leave nothing behind.

    ``data`` keeps the bucket, caches, settings files and secrets there for the next
    run; without it they live in a temporary directory removed at the end.
    ``manifest_path`` gets every URL as JSON once the fleet is healthy, and is removed
    when the demo stops, so a script never reads one of a fleet that is gone.
    """
    # boto3 needs some credentials; the local server accepts any.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    kept = data is not None
    fleet = Fleet(_data_dir(data))
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main.cancel)
    try:
        await _run(fleet, tls=tls, kept=kept, manifest_path=manifest_path)
    except asyncio.CancelledError:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await _stop(fleet, kept=kept, manifest_path=manifest_path)


def _data_dir(data: Path | None) -> Path:
    if data is None:
        return Path(tempfile.mkdtemp(prefix="castedge-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    return data.resolve()


async def _stop(fleet: Fleet, *, kept: bool, manifest_path: Path | None) -> None:
    if manifest_path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(manifest_path)
    await stop_all(fleet.children)
    if fleet.player is not None:
        await fleet.player.cleanup()
    loop = asyncio.get_running_loop()
    if fleet.s3 is not None:
        if kept:
            try:
                await loop.run_in_executor(
                    None, save_bucket, fleet.s3.client(), BUCKET, fleet.root / "bucket"
                )
            except Exception as exc:  # noqa: BLE001 - said, and the rest still stops
                print(f"castedge demo: cannot keep the bucket: {exc}", file=sys.stderr)
        fleet.s3.stop()
    if not kept:
        shutil.rmtree(fleet.root, ignore_errors=True)
    print("castedge demo: every service stopped", flush=True)
