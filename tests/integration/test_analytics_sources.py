"""An episode's tag and bitrate: from the origin's cache, from S3 with ranged GETs, or given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analytics.sources import EpisodeSources
from analytics.store import Store
from config import Settings, settings_from_mapping
from delivery.cachedir import CacheDir
from delivery.objectfile import ObjectMeta, encode_header
from tests.conftest import Bucket, payload
from tests.support.episodes import MadeEpisode, make_episode

KEY = "podcast/ep1.mp3"


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> MadeEpisode:
    # 700-pixel artwork: a tag longer than the first 64 KiB, as real podcasts have.
    return make_episode(tmp_path_factory.mktemp("ep") / "ep1.mp3", seconds=90, kbps=128)


def settings(bucket: Bucket | None, cache: Path, **extra: Any) -> Settings:
    document: dict[str, Any] = {
        "cache": {"dir": str(cache), "max_size": "1GB"},
        "origin": {"cache_dir": str(cache)},
        **extra,
    }
    if bucket is not None:
        document["storage"] = {"s3": {"bucket": bucket.name, "endpoint_url": bucket.server.url}}
    return settings_from_mapping(document, source="test.yaml")


def gets(bucket: Bucket, key: str = KEY) -> list[str | None]:
    return [r.range for r in bucket.server.gets(f"/{bucket.name}/{key}")]


def test_from_the_cached_copy_without_asking_storage(
    bucket: Bucket, episode: MadeEpisode, tmp_path: Path
) -> None:
    bucket.put(KEY, episode.read())
    body = episode.read()
    meta = ObjectMeta(KEY, len(body), '"etag"', 1_700_000_000, "audio/mpeg")
    path = CacheDir(tmp_path / "cache").object_path(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(encode_header(meta) + body)
    with Store(tmp_path / "a.db") as store:
        found = EpisodeSources(settings(bucket, tmp_path / "cache"), store).episode(KEY, len(body))
    assert (found.source, found.audio_start, found.bitrate) == ("cache", episode.tag, 128_000)
    assert gets(bucket) == []


def test_from_s3_with_a_ranged_get_and_another_after_the_artwork(
    bucket: Bucket, episode: MadeEpisode, tmp_path: Path
) -> None:
    bucket.put(KEY, episode.read())
    with Store(tmp_path / "a.db") as store:
        sources = EpisodeSources(settings(bucket, tmp_path / "cache"), store)
        found = sources.episode(KEY, episode.size)
        assert (found.source, found.audio_start, found.bitrate) == (
            "storage",
            episode.tag,
            episode.bitrate,
        )
        assert found.size == episode.size
        assert gets(bucket) == ["bytes=0-65535", f"bytes={episode.tag}-{episode.tag + 65535}"]
        # Read once: the store remembers it.
        assert sources.episode(KEY, episode.size) == found
        assert len(gets(bucket)) == 2


def test_from_a_storage_directory(episode: MadeEpisode, tmp_path: Path) -> None:
    media = tmp_path / "media" / "podcast"
    media.mkdir(parents=True)
    (media / "ep1.mp3").write_bytes(episode.read())
    node = settings(None, tmp_path / "cache", storage={"dir": str(tmp_path / "media")})
    with Store(tmp_path / "a.db") as store:
        found = EpisodeSources(node, store).episode(KEY, episode.size)
    assert (found.source, found.audio_start) == ("storage", episode.tag)


def test_given_when_nothing_can_be_read_and_unknown_without(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        sources = EpisodeSources(None, store, given={KEY: 96})
        given = sources.episode(KEY, 5_000_000)
        unknown = sources.episode("podcast/ep2.mp3", 5_000_000)
    assert (given.source, given.bitrate, given.audio_start) == ("given", 96_000, 0)
    assert (unknown.source, unknown.bitrate) == ("unknown", None)
    assert unknown.threshold.rule == "complete file"


def test_a_file_that_is_not_mp3_is_said_and_counted_whole(bucket: Bucket, tmp_path: Path) -> None:
    bucket.put("podcast/ep.m4a", payload(200_000, seed="m4a"))
    with Store(tmp_path / "a.db") as store:
        sources = EpisodeSources(settings(bucket, tmp_path / "cache"), store)
        found = sources.episode("podcast/ep.m4a", 200_000)
    assert found.source == "unknown"
    assert sources.notes == [
        "podcast/ep.m4a: no run of MPEG audio frames in the 65536 bytes after the ID3 tag; "
        "only complete downloads count"
    ]


def test_storage_that_cannot_answer_is_said(bucket: Bucket, tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        sources = EpisodeSources(settings(bucket, tmp_path / "cache"), store)
        found = sources.episode("podcast/gone.mp3", 1000)
    assert found.source == "unknown"
    (note,) = sources.notes
    assert note.startswith(
        "podcast/gone.mp3: cannot read it from the storage: S3 answered NoSuchKey"
    )
