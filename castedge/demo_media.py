"""The demo's media and City database, and its bucket kept between runs.

The sample set comes from ``castedge.samples`` (episodes with ID3 tags, a lesson in
HLS and mp4 with captions, made with ffmpeg when it is present); the bucket is seeded
from it on a first run. With ``--data`` the bucket's objects are mirrored into the data
directory when the demo stops, and a later run seeds the bucket from that mirror
instead, so whatever was published during a run is there in the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delivery.mediatypes import content_type_for

__all__ = ["Media", "Seeded", "prepare_media", "publish_sample", "save_bucket", "seed_bucket"]

_INDEX = ".index.json"


@dataclass(frozen=True)
class Media:
    """What to put in the bucket, and the City database placing the sample addresses."""

    #: (key, file) of every object.
    files: Sequence[tuple[str, Path]]
    episodes: Sequence[str]
    #: (playlist, mp4) keys; the mp4 None when it could not be made.
    lesson: tuple[str, str | None] | None
    skipped: str | None
    database: Path
    cities: Mapping[str, str]


@dataclass(frozen=True)
class Seeded:
    """The bucket once seeded: every key and a local copy of it."""

    files: Mapping[str, Path]

    def sha256(self, key: str) -> str:
        return hashlib.sha256(self.files[key].read_bytes()).hexdigest()


def prepare_media(root: Path) -> Media:
    """The sample set and City database under ``root`` (made now, or kept from before)."""
    from castedge.samples import geo_database, make_samples

    samples = make_samples(root / "samples")
    database, cities = geo_database(root / "geo")
    return Media(
        files=[(sample.key, sample.path) for sample in samples],
        episodes=list(samples.episodes),
        lesson=(samples.lesson, samples.video),
        skipped=samples.skipped,
        database=database,
        cities=cities,
    )


def publish_sample(root: Path, media: Media) -> Path:
    """A file for the tour's ``castedge publish``: a copy of the lesson's mp4, or filler."""
    path = root / "publish" / "welcome.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        source = (
            dict(media.files).get(media.lesson[1]) if media.lesson and media.lesson[1] else None
        )
        body = source.read_bytes() if source is not None else hashlib.shake_256(b"w").digest(65536)
        _write_atomically(path, body)
    return path


def seed_bucket(client: Any, bucket: str, media: Media, mirror: Path | None) -> Seeded:
    """Create the bucket and fill it: from the mirror of an earlier run, else the samples."""
    client.create_bucket(Bucket=bucket)
    files: dict[str, Path] = {}
    index = _index(mirror)
    if mirror is not None and index:
        files = {key: mirror / key for key in index if (mirror / key).is_file()}
    if not files:
        files = dict(media.files)
    for key, path in files.items():
        client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type_for(key)})
    return Seeded(files)


def save_bucket(client: Any, bucket: str, mirror: Path) -> None:
    """Mirror the bucket into ``mirror``: new and changed objects fetched, deleted ones removed."""
    index = _index(mirror)
    listed: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            listed[item["Key"]] = item["ETag"]
    for key, etag in listed.items():
        path = mirror / key
        if index.get(key) != etag or not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            _write_atomically(path, body)
    for key in set(index) - set(listed):
        (mirror / key).unlink(missing_ok=True)
    mirror.mkdir(parents=True, exist_ok=True)
    _write_atomically(mirror / _INDEX, json.dumps(listed, indent=1).encode())


def _index(mirror: Path | None) -> dict[str, str]:
    if mirror is None:
        return {}
    try:
        doc = json.loads((mirror / _INDEX).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


def _write_atomically(path: Path, body: bytes) -> None:
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
