"""The delivery error tree: one base, status hints, fields a handler can use."""

from __future__ import annotations

import pytest

from delivery.errors import BadKey, DeliveryError, MalformedRange, RangeNotSatisfiable


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MalformedRange("bytes=x", "garbage"), 200),
        (RangeNotSatisfiable(1000), 416),
        (BadKey("empty key"), 400),
    ],
)
def test_every_error_is_a_delivery_error_with_its_status_hint(
    error: DeliveryError, status: int
) -> None:
    assert isinstance(error, DeliveryError)
    assert error.status_hint == status


def test_range_not_satisfiable_carries_the_size_for_content_range() -> None:
    error = RangeNotSatisfiable(1234)
    assert error.size == 1234
    assert error.content_range == "bytes */1234"
    assert "1234" in str(error)


def test_malformed_range_names_the_header_and_reason_and_truncates_long_headers() -> None:
    error = MalformedRange("bytes=" + "9" * 500, "a position longer than 19 digits")
    assert error.reason == "a position longer than 19 digits"
    assert "19 digits" in str(error)
    assert len(str(error)) < 200


def test_bad_key_carries_its_reason() -> None:
    error = BadKey("'..' path segment")
    assert error.reason == "'..' path segment"
    assert "'..' path segment" in str(error)
