"""Sample media written byte by byte, for machines without ffmpeg.

The episodes are valid MP3 files (an ID3v2.4 tag, then silent 128 kbit/s frames), so
pod catchers accept them and ``castedge stats`` reads their bitrate. The lesson's
playlists and captions are the real ones; its segments are valid MPEG-TS made of null
packets, which every tool parses and no player can show, and there is no mp4.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from castedge.samples.layout import (
    BITRATE,
    EPISODES,
    LESSON_DIR,
    LESSON_SECONDS,
    SEGMENT_SECONDS,
    captions_playlist,
    captions_vtt,
    master_playlist,
    media_playlist,
    segment_name,
)

__all__ = ["NULL_PACKET", "silent_mp3", "write_samples"]

# An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, stereo, no CRC. A frame is
# 144 × 128000 / 44100 = 417 bytes; its 32 bytes of side information, all zero, say
# "no audio data", so players play the frame as silence whatever follows.
_FRAME_HEADER = bytes((0xFF, 0xFB, 0x90, 0x00))
_FRAME = 417
_SIDE_INFO = 32

#: A null packet, PID 0x1FFF: "stuffing", which demuxers read and discard
#: (ISO/IEC 13818-1 §2.4.3.3). A segment of them is valid MPEG-TS with nothing in it.
NULL_PACKET = bytes((0x47, 0x1F, 0xFF, 0x10)) + b"\xff" * 184
#: Packets per synthetic segment: 64 KiB and a bit, about what a real one weighs.
_PACKETS = 360


def _text_frame(frame_id: bytes, text: str) -> bytes:
    # ID3v2.4 frame: id, syncsafe size, flags, then encoding 3 (UTF-8) and the text.
    body = b"\3" + text.encode()
    return frame_id + _syncsafe(len(body)) + b"\0\0" + body


def _syncsafe(n: int) -> bytes:
    # ID3v2.4 sizes are "syncsafe", 7 bits a byte.
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def silent_mp3(title: str, artist: str, seconds: int) -> bytes:
    """A valid MP3 of about ``seconds`` s: an ID3v2.4 tag (title, artist), silent frames.

    The frames' filler is pseudo-random (from the title), so the file is as
    incompressible as a real episode and each one has its own checksum.
    """
    frames = seconds * BITRATE // 8 // _FRAME
    tag_body = _text_frame(b"TIT2", title) + _text_frame(b"TPE1", artist)
    tag = b"ID3\4\0\0" + _syncsafe(len(tag_body)) + tag_body
    size = len(tag) + frames * _FRAME
    body = bytearray(hashlib.shake_256(title.encode()).digest(size))
    body[: len(tag)] = tag
    blank = _FRAME_HEADER + bytes(_SIDE_INFO)
    for at in range(len(tag), size, _FRAME):
        body[at : at + len(blank)] = blank
    return bytes(body)


def write_samples(root: Path) -> list[tuple[str, str]]:
    """Write the synthetic samples under ``root``; (key, content type) of each."""
    files: list[tuple[str, str]] = []
    for episode in EPISODES:
        out = root / episode.key
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(silent_mp3(episode.title, episode.artist, episode.seconds))
        files.append((episode.key, "audio/mpeg"))
    lesson = root / LESSON_DIR
    lesson.mkdir(parents=True, exist_ok=True)
    segments = LESSON_SECONDS // SEGMENT_SECONDS
    for n in range(segments):
        (lesson / segment_name(n)).write_bytes(NULL_PACKET * _PACKETS)
        files.append((LESSON_DIR + segment_name(n), "video/mp2t"))
    texts = {
        "video.m3u8": media_playlist(segments),
        "captions.m3u8": captions_playlist(),
        "captions.vtt": captions_vtt(0),
        "index.m3u8": master_playlist(None),
    }
    for name, text in texts.items():
        (lesson / name).write_text(text)
        kind = "text/vtt" if name.endswith(".vtt") else "application/vnd.apple.mpegurl"
        files.append((LESSON_DIR + name, kind))
    return files
