"""The ETag computed from a file is the one S3 gives its upload, and a differing one is caught."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from s3transfer.utils import ChunksizeAdjuster

from publish.etag import MIN_PART_SIZE, ETagHasher, etag_problem, part_size_for

MiB = 1024**2


def md5(data: bytes) -> hashlib._Hash:
    return hashlib.md5(data, usedforsecurity=False)


def etag_of(body: bytes, *, part_size: int = MIN_PART_SIZE, slices: int = 1) -> str:
    hasher = ETagHasher(len(body), part_size=part_size, threshold=part_size)
    step = max(1, len(body) // slices)
    for start in range(0, len(body), step):
        hasher.update(body[start : start + step])
    return hasher.etag()


def test_a_body_below_the_threshold_is_its_md5() -> None:
    body = b"episode" * 1000
    assert etag_of(body) == f'"{md5(body).hexdigest()}"'


def test_an_empty_file_is_the_md5_of_nothing() -> None:
    assert etag_of(b"") == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_a_multipart_body_is_the_md5_of_its_part_md5s_and_the_count() -> None:
    body = bytes(range(256)) * (11 * MiB // 256)
    parts = [body[i : i + 5 * MiB] for i in range(0, len(body), 5 * MiB)]
    expected = md5(b"".join(md5(p).digest() for p in parts)).hexdigest()
    assert len(parts) == 3
    assert etag_of(body) == f'"{expected}-3"'


def test_a_body_of_exactly_one_part_is_multipart_with_one_part() -> None:
    body = b"\x01" * MIN_PART_SIZE
    inner = md5(body).digest()
    assert etag_of(body) == f'"{md5(inner).hexdigest()}-1"'


def test_a_body_ending_on_a_part_boundary_has_no_empty_last_part() -> None:
    assert etag_of(b"\x02" * (2 * MIN_PART_SIZE)).endswith('-2"')


@given(
    size=st.integers(min_value=0, max_value=3 * 64),
    slices=st.integers(min_value=1, max_value=20),
)
def test_how_the_bytes_are_sliced_does_not_change_the_etag(size: int, slices: int) -> None:
    # Tiny parts (by building the hasher directly) keep the property fast.
    body = hashlib.shake_256(str(size).encode()).digest(size)

    def etag(step: int) -> str:
        hasher = ETagHasher(size, part_size=64, threshold=64)
        hasher.part_size = 64
        for start in range(0, size, step):
            hasher.update(body[start : start + step])
        return hasher.etag()

    assert etag(max(1, size // slices)) == etag(max(1, size))


def test_the_etag_is_refused_before_every_byte_is_fed() -> None:
    hasher = ETagHasher(10, part_size=MIN_PART_SIZE, threshold=MIN_PART_SIZE)
    hasher.update(b"12345")
    with pytest.raises(ValueError, match="fed 5 bytes of a 10-byte file"):
        hasher.etag()


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (100 * MiB, 8 * MiB),
        (100 * MiB, 1 * MiB),  # below S3's minimum: raised to 5 MiB
        (60 * 1024**3, 5 * MiB),  # 12,288 parts would be too many: doubled once
        (900 * 1024**3, 16 * MiB),  # doubled three times
        (5 * 1024**4, 5 * MiB),  # the largest object S3 takes
        (0, 16 * MiB),
    ],
)
def test_the_part_size_is_the_one_boto3_uses(size: int, part_size: int) -> None:
    assert part_size_for(size, part_size) == ChunksizeAdjuster().adjust_chunksize(part_size, size)


COMPUTED = '"0cc175b9c0f1b6a831c399e269772661"'


@pytest.mark.parametrize(
    "stored",
    [
        '"0cc175b9c0f1b6a831c399e269772661"',
        '"0CC175B9C0F1B6A831C399E269772661"',  # some S3-compatible servers shout
        "0cc175b9c0f1b6a831c399e269772661",  # and some drop the quotes
        'W/"0cc175b9c0f1b6a831c399e269772661"',
    ],
)
def test_the_same_etag_in_any_spelling_matches(stored: str) -> None:
    assert etag_problem(stored, COMPUTED) is None


@pytest.mark.parametrize(
    ("stored", "computed", "message"),
    [
        (
            '"92eb5ffee6ae2fec3ad71c777531578f"',
            COMPUTED,
            'S3 has ETag "92eb5ffee6ae2fec3ad71c777531578f" but the file gives '
            f"{COMPUTED}: the bytes differ",
        ),
        (
            '"7f4a7f7c3a5e0d3c2c5f2b6f0c9d1e8a-4"',
            '"7f4a7f7c3a5e0d3c2c5f2b6f0c9d1e8a-3"',
            "(4 parts) but the file gives",
        ),
        ('"7f4a7f7c3a5e0d3c2c5f2b6f0c9d1e8a-1"', COMPUTED, "(1 part) but the file gives"),
        (
            COMPUTED,
            '"7f4a7f7c3a5e0d3c2c5f2b6f0c9d1e8a-2"',
            f"{COMPUTED} (one part) but the file gives",
        ),
        ('"kms:abc"', COMPUTED, "is no MD5 of the body, so the upload cannot be checked"),
        ("", COMPUTED, "is no MD5 of the body"),
    ],
)
def test_a_different_etag_is_a_problem_that_says_what_differs(
    stored: str, computed: str, message: str
) -> None:
    problem = etag_problem(stored, computed)
    assert problem is not None
    assert message in problem
