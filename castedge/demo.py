"""``castedge demo``: an origin against a local S3 server holding sample episodes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3
from config import Settings, settings_from_mapping

__all__ = ["run_demo", "sample_bytes", "sample_episode"]

BUCKET = "media"

# An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, stereo, no CRC. A frame is
# 144 × 128000 / 44100 = 417 bytes; its 32 bytes of side information, all zero, say
# "no audio data", so players play the frame as silence whatever follows.
_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0x00))
_FRAME = 417
_SIDE_INFO = 32


def sample_bytes(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes standing in for an episode (incompressible)."""
    # SHAKE gives any length from one seed, quickly.
    return hashlib.shake_256(seed.encode()).digest(size)


def sample_episode(seed: str, size: int) -> bytes:
    """A valid MP3 of ``size`` bytes: an ID3v2 tag, then silent 128 kbit/s frames.

    Real frame headers let ``castedge stats`` read the bitrate, so the demo's
    downloads are counted by the one-minute rule; the frames' filler is random, so
    the file stays as incompressible as a real episode.
    """
    title = f"castedge demo: {seed}".encode()
    frame = b"TIT2" + (len(title) + 1).to_bytes(4, "big") + b"\0\0" + b"\3" + title
    # The tag's padding makes the frames end exactly at the end of the file.
    frames = (size - 10 - len(frame)) // _FRAME
    tag_size = size - 10 - frames * _FRAME
    # ID3v2.4: the tag's size is "syncsafe", 7 bits a byte.
    syncsafe = bytes((tag_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    tag = b"ID3\4\0\0" + syncsafe + frame + bytes(tag_size - len(frame))
    body = bytearray(sample_bytes(seed, size))
    body[: len(tag)] = tag
    blank = _FRAME_HEADER + bytes(_SIDE_INFO)
    for at in range(len(tag), size, _FRAME):
        body[at : at + len(blank)] = blank
    return bytes(body)


def _upload_samples(s3: LocalS3, episodes: int, size: int) -> list[tuple[str, str]]:
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    keys = []
    for n in range(1, episodes + 1):
        key = f"podcast/episode-{n:03d}.mp3"
        body = sample_episode(key, size)
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="audio/mpeg")
        keys.append((key, hashlib.sha256(body).hexdigest()))
    return keys


async def run_demo(*, episodes: int = 3, size_mb: int = 30, port: int = 8080) -> None:
    """Start everything, print what to try, run until Ctrl-C, then remove it all."""
    from runtime.worker import run_worker

    # boto3 needs some credentials; the local server accepts any.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    workdir = Path(tempfile.mkdtemp(prefix="castedge-demo-"))
    s3 = LocalS3().start()
    try:
        loop = asyncio.get_running_loop()
        keys = await loop.run_in_executor(None, _upload_samples, s3, episodes, size_mb * 10**6)
        token = secrets.token_urlsafe(24)
        admin_port = port + 10
        settings = settings_from_mapping(
            {
                "storage": {"s3": {"bucket": BUCKET, "endpoint_url": s3.url}},
                "cache": {"dir": str(workdir / "cache"), "max_size": "2GB"},
                "origin": {"listen": f"127.0.0.1:{port}"},
                "admin": {"listen": f"127.0.0.1:{admin_port}", "token": token},
                "analytics": {"log": str(workdir / "downloads.log")},
            },
            source="<demo>",
        )
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        base = f"http://127.0.0.1:{port}"
        admin = f"http://127.0.0.1:{admin_port}"
        first = keys[0][0]
        print(
            f"\ncastedge demo: S3-compatible server at {s3.url} (bucket {BUCKET!r}),"
            f" cache in {workdir}\n\n"
            "Episodes (sha256 of each, to check what you download):\n"
            + "".join(f"  {base}/{key}  {digest}\n" for key, digest in keys)
            + "\nTry:\n"
            f"  curl -o /dev/null -w '%{{http_code}} %{{size_download}} bytes\\n' {base}/{first}"
            "     # a miss, then a hit\n"
            f"  curl -s -r 0-1 -D - -o /dev/null {base}/{first}     # Apple Podcasts' probe\n"
            f"  curl -sI {base}/{first}                             # what AntennaPod asks\n"
            f"  curl -s {admin}/healthz; curl -s {admin}/metrics | grep castedge_\n"
            f"  curl -X DELETE -H 'Authorization: Bearer {token}' {admin}/admin/cache/{first}\n"
            f"  castedge stats --since {today} {workdir / 'downloads.log'}"
            "   # downloads, IAB v2.2\n"
            f"  curl -s -H 'Authorization: Bearer {token}' '{admin}/admin/stats?since={today}'\n"
            "\nCtrl-C stops everything, prints today's downloads per episode, and removes "
            "the temporary files.\n",
            flush=True,
        )
        await run_worker(settings, ("origin",), admin=True)
        print(_downloads(settings, workdir, today), flush=True)
    finally:
        s3.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def _downloads(settings: Settings, workdir: Path, today: str) -> str:
    """Today's downloads per episode, as ``castedge stats`` prints them."""
    from analytics import AnalyticsError, Period, to_table
    from analytics.stats import Query, Stats, default_logs

    try:
        with Stats(settings, workdir / "analytics.db") as stats:
            stats.ingest(default_logs(settings))
            period = Period.parse(today, today, now=0)
            return "\n" + to_table(stats.report(Query(period)))
    except AnalyticsError as exc:
        return f"castedge demo: cannot count the downloads: {exc}"
