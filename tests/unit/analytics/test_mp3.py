"""Where an episode's audio starts and its bitrate, from the first bytes of the file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import NotAudio, audio_info, frame_header, id3v2_size

from .mp3data import frame, id3, tagged_frame, vbri_frame


def read(data: bytes) -> object:
    """What castedge stats does with the first bytes of a file."""
    start = id3v2_size(data[:10])
    return audio_info(data[start:], offset=start, size=len(data))


@pytest.mark.parametrize(
    ("tag", "size"),
    [
        (b"", 0),
        (id3(0), 10),
        (id3(1_389_758), 1_389_768),  # artwork larger than a minute of speech
        (id3(300, footer=True), 320),
        (id3(500, major=3), 510),
    ],
)
def test_the_id3v2_tag_size_counts_its_header_and_footer(tag: bytes, size: int) -> None:
    assert id3v2_size(tag + frame()) == size


def test_a_size_that_is_not_syncsafe_is_not_an_id3_tag() -> None:
    with pytest.raises(NotAudio):
        id3v2_size(b"ID3\x04\x00\x00\x00\x00\x80\x00")


@pytest.mark.parametrize(
    ("kbps", "rate", "version", "length"),
    [
        (128, 44100, "1", 417),
        (320, 48000, "1", 960),
        (64, 22050, "2", 208),
        (32, 8000, "2.5", 288),
    ],
)
def test_frame_lengths_follow_the_standard(kbps: int, rate: int, version: str, length: int) -> None:
    header = frame_header(frame(kbps, sample_rate=rate, version=version))
    assert header is not None
    assert (header.bitrate, header.sample_rate, header.length) == (kbps * 1000, rate, length)


def test_constant_bitrate_without_a_tag_frame() -> None:
    tag = id3(5000)
    data = tag + frame(128) * 200
    info = read(data)
    assert info.audio_start == len(tag)
    assert info.bitrate == 128_000
    assert info.method == "cbr"
    assert info.minute_bytes == 960_000


def test_an_info_frame_gives_the_duration_of_constant_bitrate() -> None:
    frames = 10_000
    data = id3(100) + tagged_frame(b"Info", frames, kbps=192) + frame(192) * 50
    info = read(data)
    assert info.method == "info"
    assert info.bitrate == 192_000
    assert info.duration == pytest.approx(frames * 1152 / 44100)


def test_variable_bitrate_is_the_tagged_bytes_over_the_duration() -> None:
    frames = 38_281  # 1000.0 s at 44.1 kHz
    audio = 12_000_000
    data = id3(2000) + tagged_frame(b"Xing", frames, audio) + (frame(96) + frame(160)) * 40
    info = read(data)
    seconds = frames * 1152 / 44100
    assert info.method == "xing"
    assert info.duration == pytest.approx(seconds)
    assert info.bitrate == round(audio * 8 / seconds)


def test_a_xing_frame_without_bytes_uses_the_file_size() -> None:
    frames = 3000
    head = id3(10) + tagged_frame(b"Xing", frames) + frame(128) * 20
    size = 5_000_000
    info = audio_info(head[20:], offset=20, size=size)
    seconds = frames * 1152 / 44100
    assert info.bitrate == round((size - 20) * 8 / seconds)


def test_fraunhofers_vbri_frame() -> None:
    data = vbri_frame(frames=5000, size=8_000_000) + frame(128) * 20
    info = read(data)
    assert info.method == "vbri"
    assert info.bitrate == round(8_000_000 * 8 / (5000 * 1152 / 44100))


def test_mono_mpeg2_xing_sits_after_its_shorter_side_information() -> None:
    kw = {"version": "2", "sample_rate": 22050, "mono": True}
    data = tagged_frame(b"Xing", 2000, 1_000_000, kbps=64, **kw) + frame(64, **kw) * 20
    info = read(data)
    assert info.method == "xing"
    assert info.duration == pytest.approx(2000 * 576 / 22050)


def test_variable_frames_without_a_tag_average_what_was_given() -> None:
    pair = frame(64) + frame(192)
    info = read(pair * 30)
    assert info.method == "frames"
    # Unpadded frames are a little short of their nominal bitrate.
    assert info.bitrate == round(len(pair) * 8 / (2 * 1152 / 44100))
    assert info.bitrate == pytest.approx(128_000, rel=0.01)


def test_a_false_sync_in_the_artwork_is_passed_over() -> None:
    # Bytes after an ID3 tag that look like a frame header for one frame only.
    junk = frame(128)[:4] + b"\x11" * 1000
    data = id3(100) + junk + frame(128) * 20
    info = read(data)
    assert info.audio_start == 110 + len(junk)


def test_bytes_without_frames_are_not_audio() -> None:
    with pytest.raises(NotAudio, match="no run of MPEG audio frames"):
        read(id3(100) + b"\x00\x01" * 4000)


@given(st.binary(max_size=3000))
def test_any_bytes_either_give_a_bitrate_or_raise_not_audio(data: bytes) -> None:
    try:
        info = audio_info(data, offset=0, size=len(data))
    except NotAudio:
        return
    assert info.bitrate > 0 and 0 <= info.audio_start < len(data)
