"""Content-Type from the key's extension: a fixed table, the same on every host."""

from __future__ import annotations

import pytest

from delivery.mediatypes import DEFAULT_MEDIA_TYPE, MEDIA_TYPES, content_type_for

EXPECTED = {
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "m4b": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "m4v": "video/x-m4v",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",
    "mpd": "application/dash+xml",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "json": "application/json",
    "xml": "application/xml",
    "rss": "application/rss+xml",
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def test_the_table_is_exactly_the_expected_one() -> None:
    assert dict(MEDIA_TYPES) == EXPECTED


@pytest.mark.parametrize(("extension", "media_type"), sorted(EXPECTED.items()))
def test_each_extension_in_any_case(extension: str, media_type: str) -> None:
    assert content_type_for(f"show/ep1.{extension}") == media_type
    assert content_type_for(f"EP1.{extension.upper()}") == media_type
    assert content_type_for(f"a.b.{extension.capitalize()}") == media_type


@pytest.mark.parametrize(
    "key",
    [
        "ep1",
        "ep1.exe",
        "ep1.mp3.part",
        "ep1.",
        ".mp3",  # a hidden file's name, not an extension
        "album.mp3/cover",  # the extension is the last segment's
        "ep1.mp 3",
    ],
)
def test_anything_else_is_octet_stream(key: str) -> None:
    assert content_type_for(key) == DEFAULT_MEDIA_TYPE == "application/octet-stream"
