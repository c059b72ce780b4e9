"""An episode's first bytes, for its bitrate: from the cache, the storage, or the operator.

``castedge stats`` runs where the logs are, which may not be beside the cache. For each
episode it tries, in order, and records which one answered:

1. ``cache``: the origin's cached copy, when the settings name a cache that holds it;
2. ``storage``: the first 64 KiB from the settings' storage (a ranged GET on S3 with
   boto3, or the file under ``storage.dir``), and the 64 KiB after the ID3 tag when
   the artwork makes the tag longer than that;
3. ``given``: ``--bitrate KEY=KBPS`` from the command line, for episodes castedge
   cannot read (the tag is then unknown and counted as audio);
4. ``unknown``: only complete downloads count (IAB v2.2 Step 2 allows this).

What a file said is kept in the store, so each episode is read once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from config import Settings, role_cache
from delivery.cachedir import CacheDir
from delivery.errors import BadKey, CorruptObject
from delivery.keys import object_key
from delivery.objectfile import HEADER_ALIGN, decode_header

from .count import Episode
from .errors import NotAudio
from .mp3 import PROBE_BYTES, audio_info, id3v2_size
from .store import Store

__all__ = ["EpisodeSources"]

#: Reads ``length`` bytes at ``offset`` of an episode; returns (bytes, whole size).
Reader = Callable[[int, int], tuple[bytes, int]]


class EpisodeSources:
    """Finds each episode's tag size and bitrate, the first way that works."""

    def __init__(
        self,
        settings: Settings | None,
        store: Store,
        *,
        given: Mapping[str, float] | None = None,
        s3_client: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.given = dict(given or {})
        self._s3_client = s3_client
        self._s3: Any = None
        #: What went wrong on the way, one line each, for the command to print.
        self.notes: list[str] = []

    def episode(self, key: str, size: int) -> Episode:
        """What the threshold needs to know of ``key``, whose rows say it has ``size`` bytes."""
        stored = self.store.episode(key)
        if stored is not None and (size == 0 or stored.size == size):
            return stored
        for source, reader in (("cache", self._cache_reader), ("storage", self._storage_reader)):
            try:
                read = reader(key)
                if read is None:
                    continue
                found = _episode(key, read, source)
            except NotAudio as exc:
                self.notes.append(f"{key}: {exc}; only complete downloads count")
                break
            except OSError as exc:
                self.notes.append(f"{key}: cannot read it from the {source}: {exc}")
                continue
            self.store.save_episode(found)
            return found
        kbps = self.given.get(key)
        if kbps is not None:
            return Episode(key, size, 0, round(kbps * 1000), None, "given")
        return Episode(key, size)

    # -- where the bytes come from ----------------------------------------------------

    def _cache_reader(self, key: str) -> Reader | None:
        settings = self.settings
        if settings is None or settings.origin is None or settings.cache is None:
            return None
        path = CacheDir(role_cache(settings, "origin").dir).object_path(key)
        if not path.is_file():
            return None

        def read(offset: int, length: int) -> tuple[bytes, int]:
            with path.open("rb") as f:
                try:
                    meta, body = decode_header(f.read(HEADER_ALIGN))
                except CorruptObject as exc:
                    raise OSError(f"a cached file that is not castedge's: {exc}") from None
                if meta.key != key:
                    raise OSError(f"the cached file holds {meta.key!r}")
                f.seek(body + offset)
                return f.read(min(length, max(meta.size - offset, 0))), meta.size

        return read

    def _storage_reader(self, key: str) -> Reader | None:
        storage = self.settings.storage if self.settings is not None else None
        if storage is None:
            return None
        try:
            safe = object_key(key)
        except BadKey:
            return None
        if storage.dir is not None:
            return _file_reader(storage.dir / safe)
        assert storage.s3 is not None, "config guarantees one of s3 or dir"
        bucket = storage.s3.bucket
        client = self._client()

        def read(offset: int, length: int) -> tuple[bytes, int]:
            try:
                answer = client.get_object(
                    Bucket=bucket, Key=safe, Range=f"bytes={offset}-{offset + length - 1}"
                )
                data: bytes = answer["Body"].read()
            except Exception as exc:  # botocore raises many unrelated types
                raise OSError(_s3_reason(exc)) from None
            total = answer.get("ContentRange", "").rpartition("/")[2]
            return data, int(total) if total.isdigit() else int(answer["ContentLength"])

        return read

    def _client(self) -> Any:
        if self._s3 is None:
            if self._s3_client is not None:
                self._s3 = self._s3_client()
            else:
                self._s3 = _boto3_client(self.settings)
        return self._s3


def _episode(key: str, read: Reader, source: str) -> Episode:
    head, size = read(0, PROBE_BYTES)
    tag = id3v2_size(head[:10])
    after = head[tag:]
    if len(after) < PROBE_BYTES // 2 and tag + len(after) < size:
        # The artwork takes most of what was read: read on from the end of the tag.
        after = read(tag, PROBE_BYTES)[0]
    info = audio_info(after, offset=tag, size=size)
    return Episode.from_audio(key, size, info, source)


def _file_reader(path: Path) -> Reader | None:
    if not path.is_file():
        return None

    def read(offset: int, length: int) -> tuple[bytes, int]:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(length), os.fstat(f.fileno()).st_size

    return read


def _boto3_client(settings: Settings | None) -> Any:
    import boto3
    from botocore.config import Config

    assert settings is not None and settings.storage is not None and settings.storage.s3
    s3 = settings.storage.s3
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if s3.endpoint_url else "auto"},
        retries={"max_attempts": 2},
        connect_timeout=settings.upstream.connect_timeout,
        read_timeout=settings.upstream.read_timeout,
    )
    return boto3.client(
        "s3", region_name=s3.region, endpoint_url=s3.endpoint_url, config=config, verify=s3.verify
    )


def _s3_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"S3 answered {error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"S3 unreachable: {exc}"
