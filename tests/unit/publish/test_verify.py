"""The check after an upload: S3's object must be the file, by size and by ETag."""

from __future__ import annotations

from pathlib import Path

import pytest

from publish.errors import ChecksumMismatch
from publish.sources import Source
from publish.upload import Stored
from publish.verify import verify

SOURCE = Source(Path("/srv/course/a.mp4"), "courses/x/a.mp4", 12_000_000, "video/mp4")
COMPUTED = '"6b1ed3d2b4c1a8f2a5b3a1f9e0d4c7b2-3"'


def stored(etag: str, size: int = SOURCE.size) -> Stored:
    return Stored(SOURCE.key, etag, size, "video/mp4")


def test_the_same_size_and_etag_pass() -> None:
    verify(SOURCE, stored(COMPUTED), COMPUTED)


@pytest.mark.parametrize(
    ("held", "message"),
    [
        (
            stored('"00000000000000000000000000000000-3"'),
            'courses/x/a.mp4: S3 has ETag "00000000000000000000000000000000-3" but the file '
            f"gives {COMPUTED}: the bytes differ",
        ),
        (stored('"6b1ed3d2b4c1a8f2a5b3a1f9e0d4c7b2-2"'), "(2 parts) but the file gives"),
        (stored('"6b1ed3d2b4c1a8f2a5b3a1f9e0d4c7b2"'), "(one part) but the file gives"),
        (stored(COMPUTED, size=11_999_999), "S3 holds 11999999 bytes but the file has 12000000"),
        (stored('"mkms-5f1c"'), 'S3\'s ETag "mkms-5f1c" is no MD5 of the body'),
    ],
)
def test_another_object_under_the_key_is_a_mismatch_that_says_how(
    held: Stored, message: str
) -> None:
    with pytest.raises(ChecksumMismatch) as caught:
        verify(SOURCE, held, COMPUTED)
    assert message in str(caught.value)
    assert caught.value.key == SOURCE.key
