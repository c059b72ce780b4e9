"""Podcast episodes made with ffmpeg: a known duration and bitrate behind an ID3v2 tag with artwork.

What the tests expect is worked out from these files independently of castedge's own
MP3 reader: the tag's size from its header, the bitrate from ffprobe.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MadeEpisode:
    """An MP3 file ffmpeg made, and what ffprobe and the tag's header say about it."""

    path: Path
    seconds: int
    #: Bits per second of the audio stream, as ffprobe reports it.
    bitrate: int
    #: Bytes of the ID3v2 tag (the artwork is in it), from the tag's own header.
    tag: int
    size: int

    @property
    def minute(self) -> int:
        """Bytes of one minute of audio: what IAB v2.2 asks a listener to receive."""
        return math.ceil(self.bitrate * 60 / 8)

    def read(self) -> bytes:
        return self.path.read_bytes()


def make_episode(path: Path, *, seconds: int, kbps: int, artwork: int = 700) -> MadeEpisode:
    """An episode of ``seconds`` of a tone at ``kbps`` (CBR), with ``artwork``-pixel cover art."""
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            # One frame of noise: artwork as large as a podcast's, in the ID3 tag.
            "-f", "lavfi", "-i", f"color=c=blue:s={artwork}x{artwork}:d=0.04,noise=alls=40:allf=t",
            "-map", "0:a", "-map", "1:v", "-frames:v", "1",
            "-c:a", "libmp3lame", "-b:a", f"{kbps}k",
            "-c:v", "mjpeg", "-q:v", "4", "-disposition:v", "attached_pic",
            "-id3v2_version", "3", "-metadata", f"title={path.stem}",
            str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=bit_rate", "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    bitrate = int(json.loads(probe.stdout)["streams"][0]["bit_rate"])
    head = path.read_bytes()[:10]
    assert head[:3] == b"ID3", "ffmpeg wrote an ID3v2 tag"
    syncsafe = 0
    for byte in head[6:10]:
        syncsafe = (syncsafe << 7) | byte
    return MadeEpisode(path, seconds, bitrate, 10 + syncsafe, path.stat().st_size)
