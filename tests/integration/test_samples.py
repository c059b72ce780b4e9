"""The demo's sample media, checked with ffprobe: real with ffmpeg, valid without it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from analytics.mp3 import PROBE_BYTES, audio_info, id3v2_size
from castedge.samples import (
    EPISODES,
    LESSON_DIR,
    LESSON_MP4,
    LESSON_PLAYLIST,
    LESSON_SECONDS,
    make_samples,
)
from castedge.samples.layout import CAPTIONS

FFPROBE = shutil.which("ffprobe")
needs_ffmpeg = pytest.mark.skipif(
    FFPROBE is None or shutil.which("ffmpeg") is None,
    reason="ffmpeg is not installed (Debian package 'ffmpeg'; scripts/install-sysdeps.sh test)",
)


def probe(path: Path) -> dict[str, Any]:
    assert FFPROBE is not None
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def codecs(doc: dict[str, Any]) -> dict[str, str]:
    return {s["codec_type"]: s["codec_name"] for s in doc["streams"]}


def bitrate_as_counted(path: Path) -> int:
    """The bitrate ``castedge stats`` counts the episode's downloads by."""
    data = path.read_bytes()
    start = id3v2_size(data[:10])
    return audio_info(data[start : start + PROBE_BYTES], offset=start, size=len(data)).bitrate


def top_level_boxes(path: Path) -> list[str]:
    data, at, boxes = path.read_bytes(), 0, []
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        boxes.append(kind.decode())
        at += size
    return boxes


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory):
    return make_samples(tmp_path_factory.mktemp("samples"))


@needs_ffmpeg
def test_episodes_are_tagged_constant_bitrate_mp3s(samples) -> None:
    assert samples.skipped is None
    assert samples.episodes == tuple(e.key for e in EPISODES)
    for episode in EPISODES:
        path = samples.path(episode.key)
        doc = probe(path)
        assert codecs(doc) == {"audio": "mp3"}
        assert float(doc["format"]["duration"]) == pytest.approx(episode.seconds, abs=0.2)
        assert doc["format"]["tags"]["title"] == episode.title
        assert doc["format"]["tags"]["artist"] == "castedge demo"
        assert path.read_bytes()[:3] == b"ID3"
        assert bitrate_as_counted(path) == 128_000


@needs_ffmpeg
def test_the_lesson_is_a_faststart_mp4_and_an_hls_rendition_with_captions(samples) -> None:
    assert samples.video == LESSON_MP4
    mp4 = probe(samples.path(LESSON_MP4))
    assert codecs(mp4) == {"video": "h264", "audio": "aac"}
    assert float(mp4["format"]["duration"]) == pytest.approx(LESSON_SECONDS, abs=0.1)
    boxes = top_level_boxes(samples.path(LESSON_MP4))
    assert boxes.index("moov") < boxes.index("mdat"), boxes

    hls = probe(samples.path(LESSON_PLAYLIST))
    assert codecs(hls) == {"video": "h264", "audio": "aac"}
    assert float(hls["format"]["duration"]) == pytest.approx(LESSON_SECONDS, abs=0.1)
    segments = [s for s in samples if s.key.endswith(".ts")]
    assert len(segments) == LESSON_SECONDS // 2
    assert {s.content_type for s in segments} == {"video/mp2t"}
    for segment in segments:
        assert float(probe(segment.path)["format"]["duration"]) == pytest.approx(2, abs=0.1)

    master = samples.path(LESSON_PLAYLIST).read_text()
    assert 'TYPE=SUBTITLES,GROUP-ID="subs"' in master
    assert 'SUBTITLES="subs"' in master
    captions = probe(samples.path(LESSON_DIR + "captions.vtt"))
    assert codecs(captions) == {"subtitle": "webvtt"}
    # The cues are timed against the segments' first timestamp, so they show on time.
    first = float(probe(segments[0].path)["format"]["start_time"])
    text = samples.path(LESSON_DIR + "captions.vtt").read_text()
    assert f"MPEGTS:{round(first * 90_000)}," in text
    assert all(caption in text for _, _, caption in CAPTIONS)


@needs_ffmpeg
def test_a_second_run_reuses_the_set(samples) -> None:
    # <dest>/samples-media-<recipe>/courses/intro/lesson1/index.m3u8
    root = samples.path(LESSON_PLAYLIST).parents[3]
    before = {s.key: s.path.stat().st_mtime_ns for s in samples}
    again = make_samples(root.parent)
    assert again == samples
    assert {s.key: s.path.stat().st_mtime_ns for s in again} == before
    assert [p.name for p in root.parent.iterdir()] == [root.name], "a scratch folder was left"


def test_without_ffmpeg_the_files_are_synthetic_and_valid(tmp_path, monkeypatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    samples = make_samples(tmp_path / "data")
    assert samples.skipped is not None and "no ffmpeg" in samples.skipped
    assert samples.video is None
    assert LESSON_MP4 not in {s.key for s in samples}
    for episode in EPISODES:
        path = samples.path(episode.key)
        assert path.read_bytes()[:3] == b"ID3"
        assert bitrate_as_counted(path) == 128_000
    if FFPROBE is None:
        return
    for episode in EPISODES:
        doc = probe(samples.path(episode.key))
        assert codecs(doc) == {"audio": "mp3"}
        assert doc["format"]["tags"]["title"] == episode.title
        assert float(doc["format"]["duration"]) == pytest.approx(episode.seconds, abs=0.5)
    assert codecs(probe(samples.path(LESSON_DIR + "captions.vtt"))) == {"subtitle": "webvtt"}


def test_without_ffmpeg_the_segments_are_mpeg_ts_stuffing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    samples = make_samples(tmp_path / "data")
    segments = [s for s in samples if s.key.endswith(".ts")]
    assert len(segments) == LESSON_SECONDS // 2
    for segment in segments:
        data = segment.path.read_bytes()
        # 188-byte packets, each a sync byte and PID 0x1FFF (ISO/IEC 13818-1 §2.4.3.3);
        # ffprobe finds no stream in them to report, so they are checked here.
        assert data and len(data) % 188 == 0
        assert {data[at : at + 3] for at in range(0, len(data), 188)} == {b"\x47\x1f\xff"}
    playlist = samples.path(LESSON_DIR + "video.m3u8").read_text()
    assert [line for line in playlist.splitlines() if line.endswith(".ts")] == [
        s.key.removeprefix(LESSON_DIR) for s in segments
    ]
    assert codecs(probe(samples.path(LESSON_DIR + "captions.vtt"))) == {"subtitle": "webvtt"}


def test_a_failing_ffmpeg_leaves_the_synthetic_set_and_says_why(tmp_path, monkeypatch) -> None:
    # An ffmpeg that cannot encode (a broken install, a missing codec) must not stop
    # the demo: it gets the synthetic set and the reason.
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("ffmpeg", "ffprobe"):
        script = tools / name
        script.write_text("#!/bin/sh\necho 'Unknown encoder libmp3lame' >&2\nexit 1\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    samples = make_samples(tmp_path / "data")
    assert samples.skipped is not None
    assert samples.skipped.startswith("ffmpeg failed (")
    assert "Unknown encoder libmp3lame" in samples.skipped
    assert samples.video is None
    assert all(samples.path(key).read_bytes()[:3] == b"ID3" for key in samples.episodes)
