"""Choosing the Content-Type of an object from its key's extension.

A fixed table rather than the ``mimetypes`` module, whose answers depend on the host's
/etc/mime.types: the same object must get the same type from every node.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_MEDIA_TYPE", "MEDIA_TYPES", "content_type_for"]

# https://www.rfc-editor.org/rfc/rfc9110#section-8.3 (unknown content is octet-stream)
DEFAULT_MEDIA_TYPE = "application/octet-stream"

MEDIA_TYPES: Mapping[str, str] = MappingProxyType(
    {
        # audio: podcast episodes and audiobooks
        "mp3": "audio/mpeg",
        "m4a": "audio/mp4",
        "m4b": "audio/mp4",
        "aac": "audio/aac",
        "ogg": "audio/ogg",
        "oga": "audio/ogg",
        "opus": "audio/opus",
        "wav": "audio/wav",
        "flac": "audio/flac",
        # video files
        "mp4": "video/mp4",
        "m4v": "video/x-m4v",
        "mov": "video/quicktime",
        "webm": "video/webm",
        # streaming: HLS playlists and segments (RFC 8216), DASH manifests and segments
        "m3u8": "application/vnd.apple.mpegurl",
        "ts": "video/mp2t",
        "m4s": "video/iso.segment",
        "mpd": "application/dash+xml",
        # captions
        "vtt": "text/vtt",
        "srt": "application/x-subrip",
        # artwork
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "gif": "image/gif",
        # feeds and metadata
        "json": "application/json",
        "xml": "application/xml",
        "rss": "application/rss+xml",
        "txt": "text/plain; charset=utf-8",
        "html": "text/html; charset=utf-8",
    }
)


def content_type_for(key: str) -> str:
    """The Content-Type to serve ``key`` with, from its extension in any letter case."""
    # splitext looks only at the last segment and treats a leading dot (".mp3") as
    # part of a hidden file's name, not as an extension.
    extension = posixpath.splitext(key)[1]
    return MEDIA_TYPES.get(extension[1:].lower(), DEFAULT_MEDIA_TYPE)
