"""``castedge demo``: an origin against a local S3 server holding sample episodes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from castedge.locals3 import ACCESS_KEY, SECRET_KEY, LocalS3
from config import settings_from_mapping

__all__ = ["run_demo", "sample_bytes"]

BUCKET = "media"


def sample_bytes(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes standing in for an episode (incompressible)."""
    # SHAKE gives any length from one seed, quickly.
    return hashlib.shake_256(seed.encode()).digest(size)


def _upload_samples(s3: LocalS3, episodes: int, size: int) -> list[tuple[str, str]]:
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    keys = []
    for n in range(1, episodes + 1):
        key = f"podcast/episode-{n:03d}.mp3"
        body = sample_bytes(key, size)
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
            },
            source="<demo>",
        )
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
            "\nCtrl-C stops everything and removes the temporary files.\n",
            flush=True,
        )
        await run_worker(settings, ("origin",), admin=True)
    finally:
        s3.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
