"""Turning a request path into an object key that cannot escape the store.

Keys name objects in S3 and files under a cache or upstream directory, so a key must
never be able to climb out of either (https://www.rfc-editor.org/rfc/rfc9110#section-17.3).
Rather than clean a doubtful path up, ``object_key`` refuses it: a legitimate client
never sends "..", "//", a backslash or an encoded slash, and a path that could mean two
things is a 400, not a guess.
"""

from __future__ import annotations

import functools
import os.path
import re
from urllib.parse import unquote_to_bytes

from .errors import BadKey

__all__ = ["MAX_KEY_BYTES", "RESERVED_PREFIX", "is_within", "object_key"]

# S3 object keys are at most 1024 bytes of UTF-8.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
MAX_KEY_BYTES = 1024
#: The fleet's own keys in the bucket (the revocation list names students): never media.
RESERVED_PREFIX = "_castedge/"

# C0 controls and DEL; NUL among them truncates paths in C and in some filesystems.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A "%" not followed by two hex digits.
# https://www.rfc-editor.org/rfc/rfc3986#section-2.1
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(r"%2[Ff]")


# A popular episode's path is checked once, not on every hit (errors are not kept).
@functools.lru_cache(maxsize=4096)
def object_key(raw_path: str) -> str:
    """Decode a request path (still percent-encoded, without the leading "/") into a key.

    Escapes are decoded exactly once, as UTF-8.  Raises ``BadKey`` for anything that
    could name something other than one object below the root.
    """
    if not raw_path:
        raise BadKey("empty key")
    if _CONTROL.search(raw_path):
        raise BadKey("control character in the path")
    if "\\" in raw_path:
        raise BadKey("backslash in the path")
    # "a%2Fb" is one segment to a URL parser but two to S3 and the filesystem.
    if _ENCODED_SLASH.search(raw_path):
        raise BadKey("encoded slash (%2F) in the path")
    if _BAD_ESCAPE.search(raw_path):
        raise BadKey("'%' not followed by two hex digits")
    try:
        # unquote_to_bytes encodes the unescaped characters as UTF-8 first, which a
        # lone surrogate (from a surrogateescape-decoded request line) cannot survive.
        key = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeError as exc:
        raise BadKey("path is not UTF-8 once percent-decoded") from exc

    if _CONTROL.search(key):
        raise BadKey("encoded control character in the path")
    if "\\" in key:
        raise BadKey("encoded backslash in the path")
    if key.startswith("/"):
        raise BadKey("absolute path")
    for segment in key.split("/"):
        if not segment:
            raise BadKey("empty path segment")
        if segment in (".", ".."):
            raise BadKey(f"{segment!r} path segment")
    length = len(key.encode("utf-8"))
    if length > MAX_KEY_BYTES:
        raise BadKey(f"key is {length} bytes long, more than {MAX_KEY_BYTES}")
    return key


def is_within(root: str, candidate: str) -> bool:
    """Tell whether ``candidate`` is ``root`` or lies below it, without touching the disk.

    Both must already be resolved absolute paths (``os.path.realpath``); anything
    else, including a leftover ".." component, is reported as outside.
    """
    if not (os.path.isabs(root) and os.path.isabs(candidate)):
        return False
    for path in (root, candidate):
        if ".." in path.split(os.sep):
            return False
    return os.path.commonpath([root, candidate]) == os.path.normpath(root)
