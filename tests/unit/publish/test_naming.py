"""Which key each published file gets, and which prefixes are refused."""

from __future__ import annotations

import re

import pytest

from publish.errors import BadPrefix, BadSource
from publish.naming import check_prefix, is_hidden, key_for, unique_keys


@pytest.mark.parametrize("prefix", ["", "courses/x/", "podcast/", "a/b/c/"])
def test_a_folder_prefix_is_taken_as_given(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("courses/x", "must name a folder and end in '/' (did you mean 'courses/x/'?)"),
        ("/courses/x/", "starts with '/': keys are relative to the bucket"),
    ],
)
def test_a_prefix_that_is_not_a_folder_is_refused(prefix: str, message: str) -> None:
    with pytest.raises(BadPrefix, match=re.escape(message)):
        check_prefix(prefix)


@pytest.mark.parametrize(
    ("prefix", "parts", "key"),
    [
        ("courses/x/", ["a.mp4"], "courses/x/a.mp4"),
        ("courses/x/", ["seg", "000.ts"], "courses/x/seg/000.ts"),
        ("", ["ep1.mp3"], "ep1.mp3"),
    ],
)
def test_a_key_is_the_prefix_and_the_path_below_with_slashes(
    prefix: str, parts: list[str], key: str
) -> None:
    assert key_for(prefix, parts) == key


@pytest.mark.parametrize(
    ("name", "hidden"), [(".DS_Store", True), (".git", True), ("a.mp4", False)]
)
def test_dot_names_are_hidden(name: str, hidden: bool) -> None:
    assert is_hidden(name) is hidden


def test_two_files_for_one_key_are_refused_naming_both() -> None:
    pairs = [("a/intro.mp4", "c/intro.mp4"), ("b/intro.mp4", "c/intro.mp4")]
    message = "b/intro.mp4: would be published as 'c/intro.mp4', as a/intro.mp4 is"
    with pytest.raises(BadSource, match=re.escape(message)):
        unique_keys(pairs)


def test_distinct_keys_keep_their_order() -> None:
    pairs = [("b", "p/b"), ("a", "p/a")]
    assert unique_keys(pairs) == pairs
