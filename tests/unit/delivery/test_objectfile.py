"""The on-disk object format: round trip, alignment, and corruption caught."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.errors import CorruptObject
from delivery.objectfile import HEADER_ALIGN, MAGIC, ObjectMeta, decode_header, encode_header
from delivery.upstream import backoff_delay, md5_of_etag

keys = st.text(min_size=1, max_size=300).filter(lambda k: "\x00" not in k)


@given(
    key=keys,
    size=st.integers(0, 10**13),
    etag=st.text(max_size=80),
    last_modified=st.integers(0, 2**40),
)
def test_header_round_trips_and_body_starts_page_aligned(key, size, etag, last_modified):
    meta = ObjectMeta(key, size, f'"{etag}"', last_modified, "audio/mpeg")
    header = encode_header(meta)
    assert len(header) % HEADER_ALIGN == 0
    assert decode_header(header + b"body") == (meta, len(header))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"short",
        b"NOTMAGIC" + b"\x00\x00\x00\x05hello",
        MAGIC + b"\x00\x00\xff\xff{}",
        MAGIC + b"\x00\x00\x00\x02{}" + b"\0" * 100,
        MAGIC + b"\x00\x00\x00\x05[1,2]",
        MAGIC
        + b'\x00\x00\x00\x4b{"key":"a","size":-1,"etag":"x","last_modified":0,"content_type":"b"}',
    ],
)
def test_corrupt_headers_are_refused(raw: bytes) -> None:
    with pytest.raises(CorruptObject):
        decode_header(raw)


@given(st.integers(0, 30), st.floats(0.001, 5), st.floats(0, 0.999999))
def test_backoff_stays_within_its_cap(attempt: int, base: float, rand: float) -> None:
    delay = backoff_delay(attempt, base, cap=10.0, rand=rand)
    assert 0 <= delay <= min(10.0, base * 2**attempt)


@pytest.mark.parametrize(
    ("etag", "md5"),
    [
        ('"9bb58f26192e4ba00f01e2e7b136bbd8"', "9bb58f26192e4ba00f01e2e7b136bbd8"),
        ('"9bb58f26192e4ba00f01e2e7b136bbd8-12"', None),  # multipart upload
        ('W/"9bb58f26192e4ba00f01e2e7b136bbd8"', None),
        ('"abc"', None),
        ("9bb58f26192e4ba00f01e2e7b136bbd8", None),
    ],
)
def test_only_plain_md5_etags_are_checked(etag: str, md5: str | None) -> None:
    assert md5_of_etag(etag) == md5
