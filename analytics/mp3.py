"""An episode's bitrate and where its audio starts, read from the first bytes of an MP3 file.

IAB v2.2 counts a download once "the header information plus enough of the podcast
content to play for 1 minute" has been delivered (Step 2, "Apply File Threshold
Levels"), and asks for the size of one minute to be worked out per episode from its
bitrate, apart from the ID3 tag (which holds the artwork, often larger than a minute of
speech). So two numbers are needed: where the first audio frame starts, and the bitrate.

- The ID3v2 tag is a 10-byte header with a "syncsafe" size (7 bits a byte), and an
  optional 10-byte footer (https://id3.org/id3v2.4.0-structure, section 3.1).
- An MPEG audio frame starts with 11 set bits, then the version, layer, bitrate
  index, sample rate and padding (ISO/IEC 11172-3 section 2.4.1.3; the MPEG-2 and
  "2.5" extensions lower the sample rates). The first frame of a LAME or FFmpeg file
  is often a "Xing" (variable bitrate) or "Info" (constant) frame giving the number
  of frames, so the duration; Fraunhofer's encoder writes a "VBRI" frame instead.
- Constant bitrate: the frame header's bitrate. Variable: the audio's bytes over its
  duration. Without either header, the mean of the frames given.

Pure: bytes in, numbers out. The caller reads the first bytes of the file, calls
``id3v2_size`` on them, and passes the bytes from there to ``audio_info``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from .errors import NotAudio

__all__ = ["PROBE_BYTES", "AudioInfo", "FrameHeader", "audio_info", "frame_header", "id3v2_size"]

#: How many bytes from the start of the audio are read to find the bitrate: enough for
#: a Xing frame and a run of frames at any bitrate, small enough for one ranged GET.
PROBE_BYTES = 64 * 1024

#: Frames that must follow the first one, each where its predecessor says, before a
#: sync pattern is believed to start the audio (artwork can hold 0xFFE by chance).
CONFIRMING_FRAMES = 3

_VERSIONS = {0b00: "2.5", 0b10: "2", 0b11: "1"}
_LAYERS = {0b01: 3, 0b10: 2, 0b11: 1}
# kbit/s by bitrate index 1-14, ISO/IEC 11172-3 table 2.4.2.3 and ISO/IEC 13818-3.
_BITRATES = {
    ("1", 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    ("1", 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    ("1", 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    ("2", 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    ("2", 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    ("2", 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {
    "1": (44100, 48000, 32000),
    "2": (22050, 24000, 16000),
    "2.5": (11025, 12000, 8000),
}


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The parts of an MPEG audio frame header that size the frame."""

    version: str
    layer: int
    bitrate: int
    sample_rate: int
    mono: bool
    length: int
    samples: int


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """Where an episode's audio starts and how many bits a second it takes."""

    audio_start: int
    #: Bits per second; the mean over the whole file for variable bitrate.
    bitrate: int
    #: Seconds of audio, when a Xing/Info/VBRI frame or a constant bitrate tells it.
    duration: float | None
    #: How the bitrate was found: "cbr", "xing", "info", "vbri" or "frames".
    method: str

    @property
    def minute_bytes(self) -> int:
        """The bytes of one minute of audio, rounded up: the IAB download threshold."""
        return math.ceil(self.bitrate * 60 / 8)


def id3v2_size(head: bytes) -> int:
    """The bytes an ID3v2 tag takes at the start of the file: 0 when there is none.

    ``head`` is the first bytes of the file (10 are enough).
    """
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes) or head[3] == 0xFF or head[4] == 0xFF:
        raise NotAudio("an ID3v2 header with a size that is not syncsafe")
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def frame_header(data: bytes, at: int = 0) -> FrameHeader | None:
    """The MPEG audio frame header at ``data[at:]``, or None when there is none there."""
    if at + 4 > len(data):
        return None
    (word,) = struct.unpack_from(">I", data, at)
    if word >> 21 != 0x7FF:
        return None
    version = _VERSIONS.get((word >> 19) & 0b11)
    layer = _LAYERS.get((word >> 17) & 0b11)
    index = (word >> 12) & 0xF
    rate_index = (word >> 10) & 0b11
    if version is None or layer is None or index in (0, 15) or rate_index == 3:
        # Reserved values, and "free format", whose bitrate no header states.
        return None
    table = _BITRATES[("1" if version == "1" else "2", layer)]
    bitrate = table[index - 1] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (word >> 9) & 1
    mono = (word >> 6) & 0b11 == 0b11
    if layer == 1:
        samples = 384
        length = (12 * bitrate // sample_rate + padding) * 4
    else:
        samples = 1152 if layer == 2 or version == "1" else 576
        length = samples // 8 * bitrate // sample_rate + padding
    return FrameHeader(version, layer, bitrate, sample_rate, mono, length, samples)


def audio_info(data: bytes, *, offset: int, size: int) -> AudioInfo:
    """Read the bitrate from ``data``, the file's bytes from ``offset`` (the end of its ID3 tag).

    ``size`` is the whole file's size. Raises NotAudio when no run of frames starts
    in ``data``.
    """
    start, first = _first_frame(data)
    audio_start = offset + start
    audio_bytes = max(size - audio_start, 0)
    if first.layer == 3:
        tagged = _xing(data, start, first) or _vbri(data, start, first)
        if tagged is not None:
            method, frames, tagged_bytes = tagged
            duration = frames * first.samples / first.sample_rate
            if method == "info":
                return AudioInfo(audio_start, first.bitrate, duration, "info")
            counted = tagged_bytes or audio_bytes
            if duration > 0 and counted > 0:
                return AudioInfo(audio_start, round(counted * 8 / duration), duration, method)
    bitrates, seconds, length = _run(data, start)
    if len(set(bitrates)) == 1:
        duration = audio_bytes * 8 / first.bitrate
        return AudioInfo(audio_start, first.bitrate, duration, "cbr")
    return AudioInfo(audio_start, round(length * 8 / seconds), None, "frames")


def _first_frame(data: bytes) -> tuple[int, FrameHeader]:
    at = data.find(b"\xff")
    while at != -1:
        header = frame_header(data, at)
        if header is not None and _confirmed(data, at, header):
            return at, header
        at = data.find(b"\xff", at + 1)
    raise NotAudio(f"no run of MPEG audio frames in the {len(data)} bytes after the ID3 tag")


def _confirmed(data: bytes, at: int, header: FrameHeader) -> bool:
    position, current = at, header
    for _ in range(CONFIRMING_FRAMES):
        position += current.length
        if position + 4 > len(data):
            # The bytes given end here: believe what could be checked.
            return True
        following = frame_header(data, position)
        if following is None or (following.version, following.layer, following.sample_rate) != (
            header.version,
            header.layer,
            header.sample_rate,
        ):
            return False
        current = following
    return True


def _run(data: bytes, start: int) -> tuple[list[int], float, int]:
    """The bitrates, seconds and bytes of the whole frames in ``data`` from ``start``."""
    bitrates: list[int] = []
    seconds = 0.0
    length = 0
    at = start
    while (header := frame_header(data, at)) is not None and at + header.length <= len(data):
        bitrates.append(header.bitrate)
        seconds += header.samples / header.sample_rate
        length += header.length
        at += header.length
    if not bitrates:
        header = frame_header(data, start)
        assert header is not None, "the first frame was found there"
        return [header.bitrate], header.samples / header.sample_rate, header.length
    return bitrates, seconds, length


def _side_info(header: FrameHeader) -> int:
    # Layer III side information precedes a frame's data, and so the Xing tag.
    if header.version == "1":
        return 17 if header.mono else 32
    return 9 if header.mono else 17


def _xing(data: bytes, start: int, header: FrameHeader) -> tuple[str, int, int] | None:
    at = start + 4 + _side_info(header)
    tag = data[at : at + 4]
    if tag not in (b"Xing", b"Info") or at + 8 > len(data):
        return None
    (flags,) = struct.unpack_from(">I", data, at + 4)
    cursor = at + 8
    frames = tagged_bytes = 0
    if flags & 0x1:
        if cursor + 4 > len(data):
            return None
        (frames,) = struct.unpack_from(">I", data, cursor)
        cursor += 4
    if flags & 0x2 and cursor + 4 <= len(data):
        (tagged_bytes,) = struct.unpack_from(">I", data, cursor)
    if not frames:
        return None
    return ("info" if tag == b"Info" else "xing"), frames, tagged_bytes


def _vbri(data: bytes, start: int, header: FrameHeader) -> tuple[str, int, int] | None:
    # Fraunhofer's header sits 32 bytes after the frame header, whatever the mode.
    at = start + 4 + 32
    if data[at : at + 4] != b"VBRI" or at + 18 > len(data):
        return None
    tagged_bytes, frames = struct.unpack_from(">II", data, at + 10)
    if not frames:
        return None
    return "vbri", frames, tagged_bytes
