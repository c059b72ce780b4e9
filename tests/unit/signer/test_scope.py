"""Normalising raw request paths and matching them against path-prefix scopes."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer import PathRejected, Reason, in_scope, normalise_path
from signer.scope import path_problem, scope_problem


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("courses/py/ch03/seg-00001.ts", "courses/py/ch03/seg-00001.ts"),
        ("courses/caf%C3%A9/intro.mp4", "courses/café/intro.mp4"),
        ("courses/caf%c3%a9/intro.mp4", "courses/café/intro.mp4"),
        ("a/lesson%201.mp4", "a/lesson 1.mp4"),
        ("a/100%25.mp4", "a/100%.mp4"),
        ("a/%22quoted%22.mp4", 'a/"quoted".mp4'),
        ("a/..b/c..", "a/..b/c.."),
        ("a/.hidden", "a/.hidden"),
        ("a/~user/b.ts", "a/~user/b.ts"),
    ],
)
def test_accepted_paths_decode_once(raw: str, path: str) -> None:
    assert normalise_path(raw) == path


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("..", "'..' segment"),
        ("a/../b.ts", "'..' segment"),
        ("a/..", "'..' segment"),
        (".", "'.' segment"),
        ("a/./b.ts", "'.' segment"),
        ("%2e%2e/etc/passwd", "'%2e'"),
        ("a/%2E%2E/b.ts", "'%2E'"),
        ("a/.%2e/b.ts", "'%2e'"),
        ("a/%2e/b.ts", "'%2e'"),
        ("a%2Fb.ts", "'%2F'"),
        ("a%2fb.ts", "'%2f'"),
        ("a//b.ts", "empty segment"),
        ("/a/b.ts", "empty segment"),
        ("a/b/", "empty segment"),
        ("", "is empty"),
        ("a\\b.ts", "forbidden character '\\\\'"),
        ("a%5cb.ts", "forbidden character '\\\\'"),
        ("a%5C..%5Cb.ts", "forbidden character '\\\\'"),
        ("a\x00b.ts", "'\\x00' at offset 1 before decoding"),
        ("a%00b.ts", "forbidden character '\\x00'"),
        ("a%0Ab.ts", "forbidden character '\\n'"),
        ("a%C2%85b.ts", "forbidden character '\\x85'"),
        ("a/%252e%252e/b.ts", "double encoding"),
        ("a/%252F/b.ts", "double encoding"),
        ("a/%25%32%65/b.ts", "double encoding"),
        ("a/%zz.ts", "'%' at offset 2"),
        ("a/b.ts%", "'%' at offset 6"),
        ("a/%C3.ts", "UTF-8"),
        ("a/%ED%A0%80.ts", "UTF-8"),
        ("a/b.ts?token=x", "'?'"),
        ("a/b.ts#t=10", "'#'"),
        ("a/b c.ts", "' '"),
        ("a/é.ts", "'é'"),
        ("a/b\t.ts", "'\\t'"),
        ("a/" * 513 + "b", "over the limit of 1024"),
    ],
)
def test_rejected_paths(raw: str, why: str) -> None:
    with pytest.raises(PathRejected) as caught:
        normalise_path(raw)
    assert caught.value.reason is Reason.OUT_OF_SCOPE
    assert caught.value.raw == raw
    assert why in caught.value.detail


def test_rejection_detail_is_cut_short() -> None:
    with pytest.raises(PathRejected) as caught:
        normalise_path("x" * 5000 + "/../y")
    assert len(caught.value.detail) < 200


@pytest.mark.parametrize(
    ("scope", "path", "inside"),
    [
        ("a/b/", "a/b/c.ts", True),
        ("a/b/", "a/b/c/d.ts", True),
        ("a/b/", "a/bc.ts", False),
        ("a/b/", "a/b", False),
        ("a/b/", "a/b/", False),
        ("a/b/", "a/c/d.ts", False),
        ("a/b.mp4", "a/b.mp4", True),
        ("a/b.mp4", "a/b.mp4x", False),
        ("a/b.mp4", "a/b.mp4/c", False),
        ("courses/py/ch03", "courses/py/ch03x/a.ts", False),
        ("courses/py/ch03", "courses/py/ch03/a.ts", False),
        ("courses/py/ch03/", "courses/py/ch03x/a.ts", False),
        ("courses/Py/", "courses/py/a.ts", False),
    ],
)
def test_scope_matching(scope: str, path: str, inside: bool) -> None:
    assert in_scope(scope, path) is inside


@pytest.mark.parametrize(
    ("scope", "problem"),
    [
        ("courses/py/", None),
        ("courses/py/intro.mp4", None),
        ("c/", None),
        ("/", "whole site"),
        ("", "is empty"),
        ("//", "empty segment"),
        ("/courses/", "empty segment"),
        ("courses//", "empty segment"),
        ("../courses/", "'..' segment"),
        ("courses/./", "'.' segment"),
    ],
)
def test_scope_problems(scope: str, problem: str | None) -> None:
    found = scope_problem(scope)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


SEGMENT_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters="/\\"),
    min_size=1,
    max_size=12,
)
VALID_PATHS = (
    st.lists(SEGMENT_TEXT, min_size=1, max_size=6)
    .map("/".join)
    .filter(lambda path: path_problem(path) is None)
)


@given(VALID_PATHS)
def test_quoting_then_normalising_round_trips(path: str) -> None:
    assert normalise_path(quote(path, safe="/")) == path


@given(st.text(max_size=60))
def test_every_raw_path_is_either_clean_or_rejected(raw: str) -> None:
    try:
        path = normalise_path(raw)
    except PathRejected as exc:
        assert exc.reason is Reason.OUT_OF_SCOPE
    else:
        assert path_problem(path) is None
        assert ".." not in path.split("/")


@given(st.text(alphabet="ab./%25eEfF\\", max_size=30))
def test_traversal_alphabet_never_escapes(raw: str) -> None:
    try:
        path = normalise_path(raw)
    except PathRejected:
        return
    segments = path.split("/")
    assert "" not in segments and "." not in segments and ".." not in segments
    assert "\\" not in path
