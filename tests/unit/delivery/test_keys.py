"""Request path to object key: decode once, refuse anything that could escape."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.errors import BadKey
from delivery.keys import MAX_KEY_BYTES, is_within, object_key

FAST = settings(max_examples=300, deadline=None)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("ep001.mp3", "ep001.mp3"),
        ("podcast/ep%20001.mp3", "podcast/ep 001.mp3"),
        ("courses/intro/master.m3u8", "courses/intro/master.m3u8"),
        ("caf%C3%A9.mp3", "café.mp3"),
        ("caf%c3%a9.mp3", "café.mp3"),  # hex digits in either case
        ("%25", "%"),
        ("100%25.mp3", "100%.mp3"),  # decoded once: "%25" is a literal percent
        ("a%252Fb", "a%2Fb"),  # ...so an encoded "%2F" stays text, not a slash
        ("a+b.mp3", "a+b.mp3"),  # "+" is not a space in a path
        ("...", "..."),
        ("..a/.b/c..", "..a/.b/c.."),
        ("a/b/c/d.ts", "a/b/c/d.ts"),
        ("~user/x", "~user/x"),
        ("é.mp3", "é.mp3"),  # already decoded non-ASCII is kept as is
        ("x" * MAX_KEY_BYTES, "x" * MAX_KEY_BYTES),
    ],
)
def test_good_paths_give_their_key(raw: str, key: str) -> None:
    assert object_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty key"),
        ("a\x00b", "control character in the path"),
        ("a\nb", "control character in the path"),
        ("a\x7fb", "control character in the path"),
        ("a%00b", "encoded control character in the path"),
        ("a%0Ab", "encoded control character in the path"),
        ("a%0d%0aSet-Cookie:x", "encoded control character in the path"),
        ("a%7Fb", "encoded control character in the path"),
        ("a\\b", "backslash in the path"),
        ("..\\etc\\passwd", "backslash in the path"),
        ("a%5Cb", "encoded backslash in the path"),
        ("..%5c..%5cetc", "encoded backslash in the path"),
        ("a%2Fb", "encoded slash (%2F) in the path"),
        ("a%2fb", "encoded slash (%2F) in the path"),
        ("..%2F..%2Fetc%2Fpasswd", "encoded slash (%2F) in the path"),
        ("a%", "'%' not followed by two hex digits"),
        ("a%2", "'%' not followed by two hex digits"),
        ("a%zzb", "'%' not followed by two hex digits"),
        ("a%%41", "'%' not followed by two hex digits"),
        ("%ff.mp3", "path is not UTF-8 once percent-decoded"),
        ("%C3", "path is not UTF-8 once percent-decoded"),
        ("%C0%AE%C0%AE/etc", "path is not UTF-8 once percent-decoded"),  # overlong "."
        ("%ED%A0%80", "path is not UTF-8 once percent-decoded"),  # encoded surrogate
        ("caf\udcc3", "path is not UTF-8 once percent-decoded"),  # lone surrogate
        ("/etc/passwd", "absolute path"),
        ("/", "absolute path"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("..", "'..' path segment"),
        ("../etc/passwd", "'..' path segment"),
        ("a/../../b", "'..' path segment"),
        ("%2e%2e/etc/passwd", "'..' path segment"),
        ("%2E%2E", "'..' path segment"),
        (".%2e/x", "'..' path segment"),
        ("%2e./x", "'..' path segment"),
        ("a/%2e%2e", "'..' path segment"),
        (".", "'.' path segment"),
        ("a/./b", "'.' path segment"),
        ("a/%2e/b", "'.' path segment"),
        ("x" * (MAX_KEY_BYTES + 1), f"key is 1025 bytes long, more than {MAX_KEY_BYTES}"),
        ("é" * 513, f"key is 1026 bytes long, more than {MAX_KEY_BYTES}"),
        ("%41" * (MAX_KEY_BYTES + 1), f"key is 1025 bytes long, more than {MAX_KEY_BYTES}"),
    ],
)
def test_bad_paths_raise_bad_key_with_their_reason(raw: str, reason: str) -> None:
    with pytest.raises(BadKey) as caught:
        object_key(raw)
    assert caught.value.reason == reason


_pathish = st.text(alphabet="ab./\\%25Ff0eE%Cc3A9\x00 +~é", max_size=30)


def _check_key(key: str) -> None:
    segments = key.split("/")
    assert "" not in segments
    assert "." not in segments
    assert ".." not in segments
    assert "\\" not in key
    assert "\x00" not in key
    assert not key.startswith("/")
    assert len(key.encode("utf-8")) <= MAX_KEY_BYTES
    assert object_key(quote(key)) == key


@FAST
@given(st.one_of(st.text(max_size=40), _pathish))
def test_any_key_that_comes_out_is_safe_and_round_trips(raw: str) -> None:
    try:
        key = object_key(raw)
    except BadKey:
        return
    _check_key(key)


@FAST
@given(st.text(min_size=1, max_size=40))
def test_encoding_text_decodes_to_it_or_is_refused(text: str) -> None:
    # Whatever a client percent-encodes comes back unchanged, or is refused whole.
    try:
        key = object_key(quote(text))
    except BadKey:
        return
    assert key == text
    _check_key(key)


@pytest.mark.parametrize(
    ("root", "candidate", "inside"),
    [
        ("/srv/media", "/srv/media/ep.mp3", True),
        ("/srv/media", "/srv/media/a/b/c", True),
        ("/srv/media", "/srv/media", True),
        ("/srv/media/", "/srv/media/ep.mp3", True),
        ("/", "/etc/passwd", True),
        ("/srv/media", "/srv/media2/ep.mp3", False),  # a shared prefix is not a parent
        ("/srv/media", "/srv/mediaX", False),
        ("/srv/media", "/srv", False),
        ("/srv/media", "/etc/passwd", False),
        ("/srv/media", "/srv/media/../secret", False),  # not resolved: refused
        ("/srv/../srv/media", "/srv/media/x", False),
        ("srv/media", "srv/media/x", False),  # relative paths are not resolved paths
        ("/srv/media", "srv/media/x", False),
        ("/srv/media", "", False),
    ],
)
def test_is_within(root: str, candidate: str, inside: bool) -> None:
    assert is_within(root, candidate) is inside
