"""MPEG audio frames and ID3v2 tags built by hand, for the MP3 reader's tests."""

from __future__ import annotations

import struct

_VERSION_BITS = {"1": 0b11, "2": 0b10, "2.5": 0b00}
_LAYER_BITS = {1: 0b11, 2: 0b10, 3: 0b01}
_L3_V1 = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_L3_V2 = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}


def frame(
    kbps: int = 128,
    *,
    sample_rate: int = 44100,
    version: str = "1",
    mono: bool = False,
    padding: int = 0,
    body: bytes = b"",
) -> bytes:
    """One Layer III frame: a header, then ``body``, then zeros to the frame's length."""
    table = _L3_V1 if version == "1" else _L3_V2
    word = (
        (0x7FF << 21)
        | (_VERSION_BITS[version] << 19)
        | (_LAYER_BITS[3] << 17)
        | (1 << 16)
        | ((table.index(kbps) + 1) << 12)
        | (_RATES[version].index(sample_rate) << 10)
        | (padding << 9)
        | ((0b11 if mono else 0b00) << 6)
    )
    samples = 1152 if version == "1" else 576
    length = samples // 8 * kbps * 1000 // sample_rate + padding
    head = struct.pack(">I", word) + body
    return head + b"\0" * (length - len(head))


def side_info(version: str = "1", mono: bool = False) -> int:
    if version == "1":
        return 17 if mono else 32
    return 9 if mono else 17


def tagged_frame(
    tag: bytes, frames: int, size: int | None = None, *, kbps: int = 128, **kw: object
) -> bytes:
    """A Xing or Info frame (LAME, FFmpeg) naming the frame count and, maybe, the bytes."""
    flags = 0x1 | (0x2 if size is not None else 0)
    fields = struct.pack(">I", frames) + (struct.pack(">I", size) if size is not None else b"")
    version = str(kw.get("version", "1"))
    mono = bool(kw.get("mono", False))
    body = b"\0" * side_info(version, mono) + tag + struct.pack(">I", flags) + fields
    return frame(kbps, body=body, **kw)  # type: ignore[arg-type]


def vbri_frame(frames: int, size: int, *, kbps: int = 128) -> bytes:
    """Fraunhofer's VBRI frame: 32 bytes after the header, whatever the mode."""
    body = b"\0" * 32 + b"VBRI" + struct.pack(">HHH", 1, 0, 75) + struct.pack(">II", size, frames)
    return frame(kbps, body=body)


def id3(size: int, *, footer: bool = False, major: int = 4) -> bytes:
    """An ID3v2 tag of ``size`` bytes of frames (zeros, as padding is)."""
    syncsafe = bytes(((size >> shift) & 0x7F) for shift in (21, 14, 7, 0))
    flags = 0x10 if footer else 0
    tag = b"ID3" + bytes([major, 0, flags]) + syncsafe + b"\0" * size
    return tag + (b"3DI" + bytes([major, 0, flags]) + syncsafe if footer else b"")
