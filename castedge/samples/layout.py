"""Where the sample media go in the bucket, and the parts of them that are text.

Episodes go under ``podcast/``, the folder the origin serves. The lesson's layout is
what the locator and the edges expect of a course: every file of the
lesson in one folder, named from the master playlist by relative URLs, so the one
folder-scoped token the locator mints for ``index.m3u8`` covers the media playlist,
its segments, the captions and the mp4 beside them (docs/signed-urls.md).

    courses/intro/lesson1/index.m3u8      master: one variant, a SUBTITLES group
    courses/intro/lesson1/video.m3u8      media playlist of 2-second MPEG-TS segments
    courses/intro/lesson1/seg-000.ts …
    courses/intro/lesson1/captions.m3u8   subtitles playlist: one WebVTT file
    courses/intro/lesson1/captions.vtt
    courses/intro/lesson1/lesson1.mp4     the same lesson as one progressive file
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "CAPTIONS",
    "EPISODES",
    "Episode",
    "LESSON_DIR",
    "LESSON_MP4",
    "LESSON_PLAYLIST",
    "LESSON_SECONDS",
    "SEGMENT_SECONDS",
    "captions_playlist",
    "captions_vtt",
    "master_playlist",
    "media_playlist",
    "segment_name",
]

ARTIST = "castedge demo"


class Episode(NamedTuple):
    """One sample episode: its key, its ID3 title, its tone and its length."""

    key: str
    title: str
    frequency: int
    seconds: int

    @property
    def artist(self) -> str:
        return ARTIST


#: Each longer than a minute, so a whole download counts under IAB's one-minute rule
#: (``castedge stats``); short enough that all three encode in about a second.
EPISODES = (
    Episode("podcast/episode-001.mp3", "Episode 1: A byte's journey", 440, 75),
    Episode("podcast/episode-002.mp3", "Episode 2: Caching at the edge", 523, 90),
    Episode("podcast/episode-003.mp3", "Episode 3: Eight regions", 659, 105),
)
#: MP3 at a constant bitrate: a pod catcher's download counts by it (analytics.mp3).
BITRATE = 128_000

LESSON_DIR = "courses/intro/lesson1/"
LESSON_PLAYLIST = LESSON_DIR + "index.m3u8"
LESSON_MP4 = LESSON_DIR + "lesson1.mp4"
#: Long enough to seek in and watch past the seek point, short enough to encode in
#: well under a second at the demo's small size.
LESSON_SECONDS = 12
#: Apple's recommended target duration is 6 s; 2 s gives a short lesson several
#: segments, so a seek lands in a segment the player has not loaded yet.
SEGMENT_SECONDS = 2
WIDTH, HEIGHT = 480, 270

#: (start, end, text) of each caption, in seconds.
CAPTIONS = (
    (0, 4, "castedge demo: lesson 1"),
    (4, 8, "served by the edge nearest to you"),
    (8, 12, "through one signed folder URL"),
)


def master_playlist(codecs: str | None) -> str:
    """The master playlist: the one variant, with its captions as a SUBTITLES group.

    hls.js offers a subtitle track only when the variant names a SUBTITLES group
    (https://datatracker.ietf.org/doc/html/rfc8216#section-4.3.4.1.1).
    """
    codec = f',CODECS="{codecs}"' if codecs else ""
    return (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
        'DEFAULT=YES,AUTOSELECT=YES,URI="captions.m3u8"\n'
        f'#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION={WIDTH}x{HEIGHT}{codec},SUBTITLES="subs"\n'
        "video.m3u8\n"
    )


def media_playlist(segments: int) -> str:
    """A VOD media playlist of ``segments`` segments of SEGMENT_SECONDS each."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for n in range(segments):
        lines += [f"#EXTINF:{SEGMENT_SECONDS:.6f},", segment_name(n)]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def segment_name(n: int) -> str:
    """The file name of segment ``n``, as ffmpeg's ``-hls_segment_filename seg-%03d.ts``."""
    return f"seg-{n:03d}.ts"


def captions_playlist() -> str:
    """The subtitles playlist: the whole lesson's captions in one WebVTT segment."""
    return (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{LESSON_SECONDS}\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{LESSON_SECONDS:.6f},\n"
        "captions.vtt\n"
        "#EXT-X-ENDLIST\n"
    )


def captions_vtt(first_pts: int) -> str:
    """The captions, timed against the video segments' first timestamp (90 kHz ticks).

    An HLS WebVTT file says which MPEG-TS timestamp its 00:00.000 is; without the
    mapping a player shows captions offset by wherever the muxer started its clock
    (https://datatracker.ietf.org/doc/html/rfc8216#section-3.5).
    """
    cues = "".join(
        f"{_clock(start)} --> {_clock(end)}\n{text}\n\n" for start, end, text in CAPTIONS
    )
    return f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{first_pts},LOCAL:00:00:00.000\n\n{cues}"


def _clock(seconds: int) -> str:
    return f"00:{seconds // 60:02d}:{seconds % 60:02d}.000"
