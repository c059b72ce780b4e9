"""Real sample media, made by ffmpeg from its own generators (``sine``, ``testsrc``).

Everything is small and short and uses x264's ``ultrafast`` preset, so the whole set
takes about a second on one core; the caller caches it by recipe.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from castedge.samples.layout import (
    BITRATE,
    EPISODES,
    HEIGHT,
    LESSON_DIR,
    LESSON_MP4,
    LESSON_PLAYLIST,
    LESSON_SECONDS,
    SEGMENT_SECONDS,
    WIDTH,
    captions_playlist,
    captions_vtt,
    master_playlist,
)

__all__ = ["CODECS", "FFmpegFailed", "encode_samples", "tool_versions"]

#: What the master playlist announces: H.264 Constrained Baseline level 3.0 (what
#: ``-profile:v baseline -level:v 3.0`` makes) and AAC-LC. Every browser with Media
#: Source Extensions plays it, Debian's Chromium included, and Safari natively.
CODECS = "avc1.42c01e,mp4a.40.2"
#: MPEG-TS timestamps tick at 90 kHz.
TICKS = 90_000


class FFmpegFailed(RuntimeError):
    """ffmpeg or ffprobe exited non-zero; carries the command's last lines of output."""


def _run(*args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line, no shell
            args, capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FFmpegFailed(f"{args[0]}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise FFmpegFailed(f"{args[0]} exited {done.returncode}: {tail}")
    return done.stdout


def tool_versions(ffmpeg: str, ffprobe: str) -> str:
    """The first line of each tool's ``-version``: part of what the cache is keyed on."""
    return "; ".join(_run(tool, "-version").splitlines()[0] for tool in (ffmpeg, ffprobe))


def encode_samples(ffmpeg: str, ffprobe: str, root: Path) -> list[tuple[str, str]]:
    """Make every sample under ``root`` (laid out by key); (key, content type) of each."""
    quiet = (ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y")
    files: list[tuple[str, str]] = []
    for episode in EPISODES:
        out = root / episode.key
        out.parent.mkdir(parents=True, exist_ok=True)
        tone = f"sine=frequency={episode.frequency}:duration={episode.seconds}:sample_rate=44100"
        _run(
            *quiet,
            "-f", "lavfi", "-i", tone,
            # A constant bitrate, so the frame headers (and the Info frame lame writes)
            # give the bitrate analytics counts downloads by.
            "-c:a", "libmp3lame", "-b:a", str(BITRATE),
            "-id3v2_version", "3",
            "-metadata", f"title={episode.title}",
            "-metadata", f"artist={episode.artist}",
            str(out),
        )  # fmt: skip
        files.append((episode.key, "audio/mpeg"))
    lesson = root / LESSON_DIR
    lesson.mkdir(parents=True, exist_ok=True)
    mp4 = root / LESSON_MP4
    frames = SEGMENT_SECONDS * 25
    _run(
        *quiet,
        "-f", "lavfi", "-i", f"testsrc=size={WIDTH}x{HEIGHT}:rate=25:duration={LESSON_SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=330:duration={LESSON_SECONDS}:sample_rate=44100",
        "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-level:v", "3.0",
        "-pix_fmt", "yuv420p",
        # A keyframe every segment and nowhere else, so each segment starts with one.
        "-g", str(frames), "-keyint_min", str(frames), "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "64k",
        # The moov box first: a player starts without a range request for the end.
        "-movflags", "+faststart",
        "-shortest",
        str(mp4),
    )  # fmt: skip
    files.append((LESSON_MP4, "video/mp4"))
    _run(
        *quiet,
        "-i", str(mp4),
        "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(lesson / "seg-%03d.ts"),
        str(lesson / "video.m3u8"),
    )  # fmt: skip
    segments = sorted(lesson.glob("seg-*.ts"))
    files += [(LESSON_DIR + "video.m3u8", "application/vnd.apple.mpegurl")]
    files += [(LESSON_DIR + segment.name, "video/mp2t") for segment in segments]
    probe = json.loads(
        _run(ffprobe, "-v", "error", "-show_entries", "format=start_time", "-of", "json",
             str(segments[0]))
    )  # fmt: skip
    first_pts = round(float(probe["format"]["start_time"]) * TICKS)
    (lesson / "captions.vtt").write_text(captions_vtt(first_pts))
    (lesson / "captions.m3u8").write_text(captions_playlist())
    (root / LESSON_PLAYLIST).write_text(master_playlist(CODECS))
    files += [
        (LESSON_DIR + "captions.m3u8", "application/vnd.apple.mpegurl"),
        (LESSON_DIR + "captions.vtt", "text/vtt"),
        (LESSON_PLAYLIST, "application/vnd.apple.mpegurl"),
    ]
    return files
